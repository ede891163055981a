// The lab's process edge: run a command, start a daemon, find and stop processes by
// network namespace, and tell a live owner from a dead one. Argument arrays only.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { constants } from "node:os";
import { LabError, LabTimeoutError } from "./lab-error.ts";
import { waitFor } from "./wait-for.ts";

export interface CommandResult {
  /** Exit status; 128 + signal number when a signal ended it (as a shell reports it). */
  code: number;
  stdout: string;
  stderr: string;
  /** True when the lab killed it for running past `timeoutMs`. */
  timedOut: boolean;
}

export interface CommandOptions {
  /** Kill the command (SIGKILL) after this long; default 20 s. */
  timeoutMs?: number;
  /** Written to the command's stdin (stdin is empty otherwise). */
  input?: string;
}

function signalCode(signal: NodeJS.Signals | null): number {
  if (signal === null) return 1;
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

/** Runs `argv` to completion and reports its status and output; never throws for a status. */
export function runCommand(argv: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new LabError("runCommand: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 20_000);
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new LabError(`cannot run ${argv.join(" ")}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? signalCode(signal),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
      });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs `argv` and throws a LabError with its stderr unless it exits 0. */
export async function runChecked(argv: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const r = await runCommand(argv, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? "timed out" : `exit ${r.code}`;
    throw new LabError(`${argv.join(" ")}: ${why}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r;
}

/** A background process of the lab. */
export interface LabProcess {
  pid: number;
  name: string;
  /** stdout and stderr, appended. */
  logFile: string;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM), then SIGKILL if it has not exited within 3 s; resolves once it has. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a daemon detached from this process (its own session, output to `logFile`, its
 * pid in `pidFile`), so it outlives a CLI that exits and never holds the event loop open.
 */
export function startDaemon(opts: {
  name: string;
  argv: string[];
  logFile: string;
  pidFile: string;
  env?: Record<string, string>;
  cwd?: string;
}): LabProcess {
  const [file, ...args] = opts.argv;
  if (file === undefined) throw new LabError(`${opts.name}: empty argv`);
  const fd = openSync(opts.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...opts.env },
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new LabError(`cannot start ${opts.name} (${opts.argv.join(" ")})`);
  writeFileSync(opts.pidFile, `${pid}\n`);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      exitCode = code;
      resolve(code);
    });
    // A failed spawn was caught above (no pid); later errors (kill of a dead child) change nothing.
    child.on("error", () => {});
  });
  child.unref();
  const kill = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    if (exitCode !== undefined) return;
    child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, 3000, "timeout");
    });
    const first = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (first === "timeout") {
      child.kill("SIGKILL");
      await exited;
    }
  };
  return { pid, name: opts.name, logFile: opts.logFile, exited, kill };
}

/** /proc/<pid>/stat fields after the command name (which may hold spaces and parentheses). */
async function readStatFields(pid: number): Promise<string[] | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/**
 * The kernel's start time of `pid` (clock ticks since boot), or null when no such process
 * lives. With the pid it names one process for good: a reused pid has another start time.
 */
export async function readStartTime(pid: number): Promise<string | null> {
  const f = await readStatFields(pid);
  // Fields after ")" start at field 3 (state); starttime is field 22.
  if (f === null || f[0] === "Z") return null;
  return f[22 - 3] ?? null;
}

/** This process's session id: the leader is the shell (terminal, script) that ran us. */
export async function readSessionId(pid: number): Promise<number | null> {
  const f = await readStatFields(pid);
  const sid = Number(f?.[6 - 3]);
  return Number.isInteger(sid) && sid > 0 ? sid : null;
}

/** The parent pid of `pid`. */
export async function readParentPid(pid: number): Promise<number | null> {
  const f = await readStatFields(pid);
  const ppid = Number(f?.[4 - 3]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/** The short command name of `pid`. */
export async function readCommandName(pid: number): Promise<string | null> {
  try {
    return (await readFile(`/proc/${pid}/comm`, "utf8")).trim();
  } catch {
    return null;
  }
}

/** Whether the process `pid` that started at `startTime` still runs. */
export async function isAlive(pid: number, startTime: string): Promise<boolean> {
  return (await readStartTime(pid)) === startTime;
}

/** `net:[inode]` of each named namespace (those that exist). */
async function readNetnsIds(names: string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  await Promise.all(names.map(async (n) => {
    try {
      ids.add(`net:[${(await stat(`/run/netns/${n}`)).ino}]`);
    } catch {
      // not there (never built, or already deleted)
    }
  }));
  return ids;
}

/** Every live process inside the named network namespaces (what `ip netns pids` reports, for all at once). */
export async function findNetnsPids(names: string[]): Promise<number[]> {
  const ids = await readNetnsIds(names);
  if (ids.size === 0) return [];
  const entries = (await readdir("/proc")).filter((e) => /^\d+$/.test(e));
  const found: number[] = [];
  await Promise.all(entries.map(async (e) => {
    try {
      // A zombie has no ns links, so it counts as gone.
      if (ids.has(await readlink(`/proc/${e}/ns/net`))) found.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }));
  return found.sort((a, b) => a - b);
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops every process in the named namespaces: SIGTERM, then SIGKILL for whatever still
 * runs after `graceMs`. Resolves when none is left.
 */
export async function stopNetnsProcesses(names: string[], graceMs = 2000): Promise<void> {
  const first = await findNetnsPids(names);
  if (first.length === 0) return;
  signalAll(first, "SIGTERM");
  const gone = async () => (await findNetnsPids(names)).length === 0;
  try {
    await waitFor(`processes in ${names.join(", ")} to exit`, gone, { timeoutMs: graceMs });
  } catch (err) {
    if (!(err instanceof LabTimeoutError)) throw err;
    signalAll(await findNetnsPids(names), "SIGKILL");
    await waitFor(`processes in ${names.join(", ")} to die (SIGKILL)`, gone, { timeoutMs: 3000 });
  }
}
