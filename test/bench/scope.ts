// Clean-up for the benches: everything a bench creates (network namespaces, temp dirs, labs,
// daemons) is registered in a Scope and removed in reverse order when the bench ends, when it
// fails, and on Ctrl-C / SIGTERM (the runner's signal handler closes every open scope before
// it exits). The host's own ruleset is never touched: nft only ever runs inside a namespace.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";

const run = promisify(execFile);
const open = new Set<Scope>();

/** A stack of clean-up steps, run last-in first-out by close(); each runs once. */
export class Scope {
  readonly #steps: { what: string; fn: () => Promise<void> | void }[] = [];
  #closing: Promise<void> | undefined;

  constructor() {
    open.add(this);
  }

  defer(what: string, fn: () => Promise<void> | void): void {
    this.#steps.push({ what, fn });
  }

  /** Runs every step (even after one fails); throws an AggregateError of the failures. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const errors: unknown[] = [];
      for (let s = this.#steps.pop(); s !== undefined; s = this.#steps.pop()) {
        try {
          await s.fn();
        } catch (e) {
          errors.push(new Error(`clean-up "${s.what}" failed: ${(e as Error).message}`, { cause: e }));
        }
      }
      open.delete(this);
      if (errors.length > 0) throw new AggregateError(errors, "bench clean-up failed");
    })();
    return this.#closing;
  }
}

/** Closes every open scope, then exits: Ctrl-C must not leave namespaces behind. */
export function closeScopesOnSignals(): void {
  let stopping = false;
  const onSignal = (signal: "SIGINT" | "SIGTERM") => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: cleaning up…`);
    Promise.allSettled([...open].map((s) => s.close())).then((results) => {
      for (const r of results) if (r.status === "rejected") console.error(r.reason);
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
}

/** A throwaway network namespace (loopback up), deleted when `scope` closes. */
export async function createNetns(scope: Scope, tag: string): Promise<{ name: string; exec: string[] }> {
  const name = `skbench-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await run("ip", ["netns", "add", name]);
  scope.defer(`delete netns ${name}`, async () => {
    await run("ip", ["netns", "delete", name]);
  });
  await run("ip", ["-n", name, "link", "set", "lo", "up"]);
  return { name, exec: ["ip", "netns", "exec", name] };
}

/** A temp directory, removed when `scope` closes. */
export async function createTempDir(scope: Scope, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `skbench-${tag}-`));
  scope.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs argv (no shell); throws with stderr unless it exits 0. Returns stdout. */
export async function runChecked(argv: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("empty argv");
  try {
    const { stdout } = await run(file, args, { maxBuffer: 512 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${argv.join(" ")}: ${(err.stderr || err.message).trim()}`, { cause: e });
  }
}
