/**
 * Durability of the event writer, in a child process under Deno (the box's runtime):
 * SIGKILL loses at most one batch window of records; SIGTERM loses nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase } from "../../../firmware/store/database.ts";
import { waitFor } from "../../lab/wait-for.ts";
import { REPO_ROOT } from "./fixtures.ts";

const DENO = join(REPO_ROOT, "node_modules", ".bin", "deno");
const CHILD = join(import.meta.dirname ?? ".", "writer-child.ts");
const WINDOW_MS = 250;
const RATE = 10_000;

type Child = {
  proc: ChildProcess;
  base?: number;
  /** Highest committed sequence number, and the batch times reported. */
  committed: number;
  commits: number;
  batchMs: number[];
  /** [seq, acceptedAt] in order. */
  accepted: [number, number][];
  stopped?: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string;
};

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * The permissions the writer needs under Deno: the native libsql binding (ffi, its
 * node_modules; its loader calls process.report.getReport() to tell glibc from musl, which
 * reads cpus, network interfaces and the hostname; one env variable), the migrations
 * folder, the data dir.
 */
function startChild(dir: string): Child {
  const db = join(dir, "sekisho.db");
  const proc = spawn(DENO, [
    "run", "--quiet", "--config", join(REPO_ROOT, "deno.json"),
    `--allow-read=${join(REPO_ROOT, "node_modules")},${join(REPO_ROOT, "firmware", "events", "migrations")},${join(REPO_ROOT, "policies")},${dir}`,
    `--allow-write=${dir}`, "--allow-ffi", "--allow-sys=cpus,networkInterfaces,hostname", "--allow-env=LIBSQL_JS_DEV",
    CHILD, db, String(RATE), String(WINDOW_MS),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(proc);
  const child: Child = {
    proc, committed: -1, commits: 0, batchMs: [], accepted: [], stderr: "",
    exited: new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal }))),
  };
  let rest = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const [tag, a, b, c] = line.split(" ");
      if (tag === "base") child.base = Number(a);
      else if (tag === "acc") child.accepted.push([Number(a), Number(b)]);
      else if (tag === "com") { child.committed = Math.max(child.committed, Number(a)); child.commits++; child.batchMs.push(Number(c)); }
      else if (tag === "stopped") child.stopped = Number(a);
    }
  });
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => { child.stderr += chunk; });
  return child;
}

async function storedSeqs(path: string, base: number): Promise<{ count: number; min: number; max: number; distinct: number }> {
  const database = await openDatabase(path);
  try {
    const r = await database.client.execute({
      sql: "SELECT count(*), min(time), max(time), count(DISTINCT time) FROM events WHERE time >= ?", args: [base],
    });
    const row = r.rows[0]!;
    return { count: Number(row[0]), min: Number(row[1]) - base, max: Number(row[2]) - base, distinct: Number(row[3]) };
  } finally {
    closeDatabase(database);
  }
}

describe("event writer durability (child process under Deno)", () => {
  it("SIGKILL loses only records accepted within the last batch window", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-events-kill-"));
    dirs.push(dir);
    const child = startChild(dir);
    await waitFor("the child to commit for a while", () => child.proc.exitCode !== null || child.commits >= 8, { timeoutMs: 30_000 });
    expect(child.proc.exitCode, child.stderr).toBeNull();
    const killedAt = Date.now();
    child.proc.kill("SIGKILL");
    const exit = await child.exited;
    expect(exit.signal).toBe("SIGKILL");
    const base = child.base!;
    const s = await storedSeqs(join(dir, "sekisho.db"), base);
    // Transactions are atomic and records are taken in order: what is stored is exactly
    // records 0..max, with nothing missing and nothing twice.
    expect(s).toEqual({ count: s.max + 1, min: 0, max: s.max, distinct: s.max + 1 });
    // Everything the child reported committed before it died is there.
    expect(s.max).toBeGreaterThanOrEqual(child.committed);
    // What was lost was all accepted within one window before the kill, plus the batch being
    // committed and timer jitter on this shared 2-core machine (200 ms of slack).
    const lostFrom = child.accepted.find(([seq]) => seq > s.max);
    const maxBatchMs = Math.max(...child.batchMs);
    const bound = WINDOW_MS + maxBatchMs + 200;
    const lastAccepted = child.accepted.at(-1)![0];
    const lost = lastAccepted - s.max;
    if (lostFrom) expect(killedAt - lostFrom[1], `lost records accepted ${killedAt - lostFrom[1]} ms before the kill`).toBeLessThanOrEqual(bound);
    expect(lost).toBeLessThanOrEqual((RATE * bound) / 1000);
    console.log(`SIGKILL: ${s.max + 1} stored, ${Math.max(0, lost)} lost (accepted ≤ ${lostFrom ? killedAt - lostFrom[1] : 0} ms before the kill; window ${WINDOW_MS} ms, slowest batch ${maxBatchMs} ms)`);
  });

  it("SIGTERM stops gracefully and loses nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-events-term-"));
    dirs.push(dir);
    const child = startChild(dir);
    await waitFor("the child to commit for a while", () => child.proc.exitCode !== null || child.commits >= 4, { timeoutMs: 30_000 });
    expect(child.proc.exitCode, child.stderr).toBeNull();
    child.proc.kill("SIGTERM");
    const exit = await child.exited;
    expect(exit, child.stderr).toEqual({ code: 0, signal: null });
    expect(child.stopped).toBeDefined();
    const s = await storedSeqs(join(dir, "sekisho.db"), child.base!);
    expect(s).toEqual({ count: child.stopped! + 1, min: 0, max: child.stopped!, distinct: child.stopped! + 1 });
  });
});
