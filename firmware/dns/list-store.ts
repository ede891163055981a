/**
 * The lists the policy names by URL: downloaded, kept in the data directory, and handed to
 * the compiler as text. A list that fails to download (timeout, HTTP error, too big, not
 * text) is taken from the last good copy on disk, so a failed fetch never empties the
 * filter (OPNsense's trap); the report says which lists are stale and why. Lists with inline
 * entries need nothing from here.
 *
 * A download replaces the kept copy only when it reads as a list (`listUnusable`, the rule
 * the compiler applies too): an error page served with "200 OK" never replaces a good copy.
 */
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import type { DnsList } from "../../policies/schema.ts";
import { listPath, storedListText } from "./list-file.ts";
import { checkListText, type ListText } from "./lists.ts";

export { listPath, readStoredLists, storedListText } from "./list-file.ts";

export type ListFetchOutcome =
  /** `changed`: the download differs from the kept copy (or there was none). */
  | { id: string; status: "fresh"; bytes: number; changed: boolean }
  | { id: string; status: "stale"; bytes: number; problem: string }
  | { id: string; status: "missing"; problem: string };

export type ListStoreOptions = {
  /** Where the last good copies live (the data directory's dns-lists/). */
  dir: string;
  /** Per list (ms). */
  timeoutMs?: number;
  /** Largest list accepted (bytes, after decompression). */
  maxBytes?: number;
  fetch?: typeof fetch;
  /** Aborts the downloads in progress (the firmware stopping). */
  signal?: AbortSignal;
};

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BYTES = 64 << 20;

/** Downloads one list: its text, or why not. `.gz` URLs are gunzipped. */
export async function downloadList(url: string, options: Pick<ListStoreOptions, "timeoutMs" | "maxBytes" | "fetch" | "signal"> = {}): Promise<{ ok: true; text: string } | { ok: false; problem: string }> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let res: Response;
  try {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    res = await (options.fetch ?? fetch)(url, { signal, redirect: "follow" });
  } catch (e) {
    return { ok: false, problem: `download failed: ${(e as Error).message}` };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return { ok: false, problem: `HTTP ${res.status}` };
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await res.body?.cancel();
    return { ok: false, problem: `too big (${declared} bytes, limit ${maxBytes})` };
  }
  if (!res.body) return { ok: false, problem: "empty response" };
  const body: ReadableStream<Uint8Array> = new URL(url).pathname.endsWith(".gz")
    ? res.body.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) as ReadableStream<Uint8Array>
    : res.body as ReadableStream<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > maxBytes) return { ok: false, problem: `too big (over ${maxBytes} bytes)` };
      chunks.push(chunk);
    }
  } catch (e) {
    return { ok: false, problem: `download failed: ${(e as Error).message}` };
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  try {
    return { ok: true, text: new TextDecoder("utf-8", { fatal: true }).decode(all) };
  } catch {
    return { ok: false, problem: "not UTF-8 text" };
  }
}

/**
 * Brings every URL list of the policy up to date: downloads it and, when it reads as a
 * list, keeps it (written beside and renamed, so a crash never leaves half a file);
 * otherwise the last good copy stays. Returns, for the compiler, each kept list as pieces
 * read from its file, and what happened to each list.
 */
export async function refreshLists(lists: readonly DnsList[], options: ListStoreOptions): Promise<{ texts: Map<string, ListText>; outcomes: ListFetchOutcome[] }> {
  await mkdir(options.dir, { recursive: true });
  const texts = new Map<string, ListText>();
  const outcomes: ListFetchOutcome[] = [];
  for (const list of lists) {
    if (list.url === undefined) continue;
    const path = listPath(options.dir, list.id);
    let got = await downloadList(list.url, options);
    if (got.ok) {
      const check = checkListText(got.text, list.format, list.match);
      if (!check.usable) {
        const first = check.report.firstRejected[0];
        got = { ok: false, problem: `not a ${list.format} list (${check.report.rules} rules, ${check.report.rejected} unreadable lines${first ? `; line ${first.line}: ${first.text}` : ""})` };
      }
    }
    if (got.ok) {
      const kept = await readFile(path, "utf8").catch(() => undefined);
      const changed = kept !== got.text;
      if (changed) {
        await writeFile(`${path}.new`, got.text);
        await rename(`${path}.new`, path);
      }
      texts.set(list.id, storedListText(path));
      outcomes.push({ id: list.id, status: "fresh", bytes: got.text.length, changed });
      continue;
    }
    const kept = await stat(path).catch(() => undefined);
    if (kept) {
      texts.set(list.id, storedListText(path));
      outcomes.push({ id: list.id, status: "stale", bytes: kept.size, problem: got.problem });
    } else {
      outcomes.push({ id: list.id, status: "missing", problem: got.problem });
    }
  }
  return { texts, outcomes };
}
