/**
 * Reading the kept copies of URL lists (the read side of list-store.ts), for the DNS
 * filter's worker as well as the main thread. No `node:` import: under Deno this reads
 * through Deno's own file API, because importing node:fs would load Deno's Node
 * compatibility code into the worker's isolate (about 6 MB, README "Memory"); under Node
 * (the tests) it takes node:fs from the process.
 */
import type { DnsList } from "../../policies/schema.ts";
import type { ListText } from "./lists.ts";

/** Bytes read from a kept list per piece: a few milliseconds of the event loop, even from an SD card. */
const PIECE_BYTES = 256 << 10;

type SyncFile = {
  /** Reads into `buf` at `position` (or where the last read ended); 0 at the end. */
  read(buf: Uint8Array, position?: number): number;
  close(): void;
};
type FileApi = {
  /** The file's size, or undefined when it is not there (or cannot be read). */
  size(path: string): number | undefined;
  open(path: string): SyncFile;
};

type DenoFs = {
  statSync(path: string): { size: number; isFile: boolean };
  openSync(path: string, options: { read: true }): {
    readSync(buf: Uint8Array): number | null;
    seekSync(offset: number, whence: number): number;
    close(): void;
  };
};
type NodeFs = {
  statSync(path: string): { size: number; isFile(): boolean };
  openSync(path: string, flags: "r"): number;
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  closeSync(fd: number): void;
};

const SEEK_START = 0;

function denoFileApi(fs: DenoFs): FileApi {
  return {
    size(path) {
      try {
        const s = fs.statSync(path);
        return s.isFile ? s.size : undefined;
      } catch {
        return undefined;
      }
    },
    open(path) {
      const f = fs.openSync(path, { read: true });
      return {
        read(buf, position) {
          if (position !== undefined) f.seekSync(position, SEEK_START);
          return f.readSync(buf) ?? 0;
        },
        close: () => f.close(),
      };
    },
  };
}

function nodeFileApi(fs: NodeFs): FileApi {
  return {
    size(path) {
      try {
        const s = fs.statSync(path);
        return s.isFile() ? s.size : undefined;
      } catch {
        return undefined;
      }
    },
    open(path) {
      const fd = fs.openSync(path, "r");
      return {
        read: (buf, position) => fs.readSync(fd, buf, 0, buf.length, position ?? null),
        close: () => fs.closeSync(fd),
      };
    },
  };
}

let api: FileApi | undefined;

function files(): FileApi {
  if (api) return api;
  const deno = (globalThis as { Deno?: DenoFs }).Deno;
  if (typeof deno?.openSync === "function") return (api = denoFileApi(deno));
  const process = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
  const fs = process?.getBuiltinModule?.("node:fs") as NodeFs | undefined;
  if (!fs) throw new Error("no file API: neither Deno nor Node's process.getBuiltinModule");
  return (api = nodeFileApi(fs));
}

/** The file of a list's last good copy (list ids are safe file names: a-z, 0-9, "-"). */
export function listPath(dir: string, id: string): string {
  return `${dir.replace(/\/+$/, "")}/${id}.txt`;
}

/**
 * A kept list as pieces read from its file when iterated (each iteration reads the file
 * again), so the compiler never holds the whole list as one string.
 */
export function storedListText(path: string): ListText {
  return {
    /** File size over the bytes per line of its first piece: lists are uniform enough. */
    estimateLines(): number {
      const size = files().size(path) ?? 0;
      const f = files().open(path);
      try {
        const buf = new Uint8Array(Math.min(PIECE_BYTES, size));
        const n = buf.length === 0 ? 0 : f.read(buf, 0);
        let lines = 0;
        for (let i = 0; i < n; i++) if (buf[i] === 10) lines++;
        return n === 0 ? 0 : Math.ceil((size * Math.max(lines, 1)) / n);
      } finally {
        f.close();
      }
    },
    *[Symbol.iterator](): Generator<string> {
      const f = files().open(path);
      try {
        const buf = new Uint8Array(PIECE_BYTES);
        const decoder = new TextDecoder("utf-8");
        for (;;) {
          const n = f.read(buf);
          if (n === 0) break;
          yield decoder.decode(buf.subarray(0, n), { stream: true });
        }
        const tail = decoder.decode();
        if (tail) yield tail;
      } finally {
        f.close();
      }
    },
  };
}

/** The kept copies only, without downloading (boot, and the CLI's `dns query`); lists never downloaded are absent. */
export function readStoredLists(lists: readonly DnsList[], dir: string): Map<string, ListText> {
  const texts = new Map<string, ListText>();
  for (const list of lists) {
    if (list.url === undefined) continue;
    const path = listPath(dir, list.id);
    if (files().size(path) !== undefined) texts.set(list.id, storedListText(path));
  }
  return texts;
}
