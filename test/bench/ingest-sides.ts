// The receivers the `ingest` bench compares, each a long-lived process in the bench's network
// namespace with the same interface: the firmware's log path (ingest-receiver.ts under Deno,
// as on the box, or under Node) and rsyslog (imudp → omfile). One generator feeds them all:
// udp-pace (the logs engineer's open-loop C sender, test/firmware/logs/measure/udp-pace.c).
import { DENO_RUNTIME_FLAGS } from "../../firmware/deno-permissions.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseProcNetUdp } from "../../firmware/logs/udp-stats.ts";
import { buildIngestPayloads } from "./ingest-payloads.ts";
import { createNetns, createTempDir, runChecked, type Scope } from "./scope.ts";

const REPO = join(import.meta.dirname ?? ".", "..", "..");
export const DENO = join(REPO, "node_modules", ".bin", "deno");
const RECEIVER_SCRIPT = join(REPO, "test", "bench", "ingest-receiver.ts");
const PACE_SOURCE = join(REPO, "test", "firmware", "logs", "measure", "udp-pace.c");
const RCVBUF_SOURCE = join(REPO, "test", "bench", "udp-rcvbuf.c");
const RSYSLOGD = "/usr/sbin/rsyslogd";
/** Distinct datagrams udp-pace cycles through (its limit is 4096). */
const PAYLOADS = 4096;

/** Where every receiver runs and what feeds it. */
export type IngestEnv = {
  ns: string;
  nsExec: string[];
  /** tmpfs directory: the databases, rsyslog's output and work directory. */
  dir: string;
  pace: string;
  rcvbuf: string;
  payloadFile: string;
  /** Byte length of each payload, in the order udp-pace sends them. */
  payloadBytes: number[];
};

/**
 * The namespace (loopback only), a temp directory on tmpfs (so rsyslog's hundreds of MB per
 * run and our database cost the same kind of storage and no disk writeback lands on later
 * runs), the compiled tools and the payload file. All removed when `scope` closes.
 */
export async function createIngestEnv(scope: Scope, tag: string): Promise<IngestEnv> {
  const { name, exec } = await createNetns(scope, tag);
  const dir = await createTempDir(scope, tag);
  // A tmpfs of its own (not /dev/shm: Deno wants --allow-all for anything under /dev).
  await runChecked(["mount", "-t", "tmpfs", "-o", "size=8g,mode=0700", "skbench-ingest", dir]);
  scope.defer(`unmount ${dir}`, () => runChecked(["umount", dir]).then(() => undefined));
  const pace = join(dir, "udp-pace");
  const rcvbuf = join(dir, "udp-rcvbuf");
  await runChecked(["gcc", "-O2", "-o", pace, PACE_SOURCE]);
  await runChecked(["gcc", "-O2", "-o", rcvbuf, RCVBUF_SOURCE]);
  const payloads = buildIngestPayloads(PAYLOADS, Math.floor(Date.now() / 1000));
  const payloadFile = join(dir, "payloads.txt");
  writeFileSync(payloadFile, payloads.join("\n") + "\n");
  const enc = new TextEncoder();
  return { ns: name, nsExec: exec, dir, pace, rcvbuf, payloadFile, payloadBytes: payloads.map((p) => enc.encode(p).length) };
}

/** What the generator reported for one run. */
export type PaceResult = { sent: number; errors: number; seconds: number };

/** Sends the payloads open-loop to 127.0.0.1:port at `rate` per second for `seconds`. */
export async function runPace(env: IngestEnv, port: number, rate: number, seconds: number): Promise<PaceResult> {
  const out = await runChecked([...env.nsExec, env.pace, "127.0.0.1", String(port), String(rate), String(seconds), env.payloadFile]);
  return JSON.parse(out) as PaceResult;
}

/**
 * The kernel's counters of the UDP socket(s) on `port` (drops: datagrams it threw away because
 * the receive buffer was full; rxQueueBytes: what waits to be read), from /proc in the
 * namespace: read by the bench, never by the process measured.
 */
export async function readSocket(env: IngestEnv, port: number): Promise<{ drops: number; rxQueueBytes: number }> {
  const text = await runChecked([...env.nsExec, "cat", "/proc/net/udp", "/proc/net/udp6"]);
  const s = parseProcNetUdp(text, port);
  if (s.sockets === 0) throw new Error(`no UDP socket on port ${port} in ${env.ns}`);
  return { drops: s.drops, rxQueueBytes: s.rxQueueBytes };
}

/** Receive-buffer bytes one bench datagram takes (its skb's truesize), measured over loopback. */
export async function measureDatagramFootprint(env: IngestEnv): Promise<{ payloadBytes: number; perDatagram: number }> {
  return JSON.parse(await runChecked([...env.nsExec, env.rcvbuf, "--truesize", env.payloadFile, "50"])) as { payloadBytes: number; perDatagram: number };
}

/** The socket's sk_rcvbuf as the kernel has it (`ss`'s "rb"), whatever the process asked for. */
export async function readRecvBuffer(env: IngestEnv, port: number): Promise<number> {
  const text = await runChecked([...env.nsExec, "ss", "-uamnH", "sport", "=", `:${port}`]);
  const m = /rb(\d+)/.exec(text);
  if (!m) throw new Error(`ss shows no socket on port ${port}: ${text}`);
  return Number(m[1]);
}

/** CPU seconds (user + system, all threads) of a process so far. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // after "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based) → 11 and 12 here
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
}

/** Resident set now and its peak so far (MB). */
export function readRss(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMB: Math.round(kb("VmRSS") / 1024), peakMB: Math.round(kb("VmHWM") / 1024) };
}

/** Gives the process's socket on `port` a receive buffer of `bytes` (as rmem_default would); returns the kernel's value. */
export async function forceRecvBuffer(env: IngestEnv, pid: number, port: number, bytes: number): Promise<number> {
  const out = JSON.parse(await runChecked([...env.nsExec, env.rcvbuf, String(pid), String(port), String(bytes)])) as { rcvbuf: number };
  return out.rcvbuf;
}

/**
 * One receiver under test: a long-lived process with a UDP port. A run is begin → datagrams →
 * progress (polled until it reaches target(sent) or stands still) → end (the authoritative count).
 */
export interface IngestReceiver {
  readonly label: string;
  readonly pid: number;
  readonly port: number;
  /** Starts a fresh run (a new database / an empty output file). */
  begin(run: string): Promise<void>;
  /** How long storage may stand still before a run counts as finished (ms). */
  readonly settleMs: number;
  /** How far storage has got: reaches `target(sent)` when everything sent is stored. */
  progress(): Promise<number>;
  target(sent: number): number;
  /** Ends the run: records stored (database rows / file lines), with the receiver's own figures. */
  end(): Promise<{ stored: number; details: Record<string, unknown> }>;
  /** Stops the process. */
  close(): Promise<void>;
}

/** A child speaking one JSON object per line on stdout, answering one stdin command at a time. */
class LineChild {
  readonly proc: ChildProcess;
  readonly #waiting: ((line: Record<string, unknown>) => void)[] = [];
  readonly #early: Record<string, unknown>[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(argv: string[], cwd: string) {
    this.proc = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["pipe", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code) => resolve(code)));
    this.proc.stderr!.setEncoding("utf8").on("data", (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.stderr = (this.stderr + `\n(stdout) ${line}`).slice(-4000);
        return;
      }
      const w = this.#waiting.shift();
      if (w) w(o);
      else this.#early.push(o);
    });
  }

  next(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const early = this.#early.shift();
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const waiter = (o: Record<string, unknown>) => {
        clearTimeout(timer);
        this.proc.off("exit", exit);
        resolve(o);
      };
      const fail = (message: string) => {
        const i = this.#waiting.indexOf(waiter);
        if (i !== -1) this.#waiting.splice(i, 1);
        reject(new Error(`${message}; stderr: ${this.stderr}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      const exit = () => fail("exited");
      this.proc.once("exit", exit);
      this.#waiting.push(waiter);
    });
  }

  async ask(command: string): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(command + "\n");
    const o = await this.next();
    if (typeof o.error === "string") throw new Error(`${command}: ${o.error}`);
    return o;
  }
}

export type FirmwareRuntime = "deno" | "node";

/** The firmware's path; `mode` "discard" runs without a database (the socket and parse alone). */
export type FirmwareReceiver = IngestReceiver & { readonly startup: Record<string, unknown>; mode: "store" | "discard" };

/**
 * The firmware's path (ingest-receiver.ts) under Deno, with the permissions the box gives it
 * for this path (firmware/deno-permissions.ts: read its install, write its data, ffi and sys
 * for libsql, the UDP port), or under Node through tsx. `recvBufferBytes` (Node only): what
 * the receiver asks for, 0 for the kernel's default.
 */
export async function startFirmwareReceiver(
  scope: Scope,
  env: IngestEnv,
  runtime: FirmwareRuntime,
  options: { recvBufferBytes?: number } = {},
): Promise<FirmwareReceiver> {
  const dir = join(env.dir, runtime);
  await mkdir(dir, { recursive: true });
  const args = ["--dir", dir, "--payloads", env.payloadFile];
  if (options.recvBufferBytes !== undefined) args.push("--recv-buffer", String(options.recvBufferBytes));
  const argv = runtime === "deno"
    ? [
      // The box's V8 flags (firmware/deno-permissions.ts): the box's path, heap sizing included.
      DENO, "run", "--quiet", "--config", join(REPO, "deno.json"), ...DENO_RUNTIME_FLAGS,
      `--allow-read=${REPO},${env.dir}`, `--allow-write=${dir}`, "--allow-net=[::]", "--allow-ffi",
      "--allow-sys=cpus,networkInterfaces,hostname,osRelease", "--allow-env=NODE_V8_COVERAGE,LIBSQL_JS_DEV",
      RECEIVER_SCRIPT, ...args,
    ]
    : ["node", "--import", "tsx", RECEIVER_SCRIPT, ...args];
  const child = new LineChild([...env.nsExec, ...argv], REPO);
  scope.defer(`stop ${runtime} receiver`, async () => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill("SIGKILL");
      await child.exited;
    }
  });
  const ready = await child.next(60_000);
  if (ready.ready !== true) throw new Error(`${runtime} receiver: ${JSON.stringify(ready)} ${child.stderr}`);
  const pid = child.proc.pid!;
  // `ip netns exec` execs the command: the pid is the runtime's own (checked, CPU and RSS come from it).
  const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  if (!comm.startsWith(runtime === "deno" ? "deno" : "node")) throw new Error(`pid ${pid} is ${comm}, not ${runtime}`);
  const port = ready.port as number;
  let current = "";
  let stale = 0;
  const receiver: FirmwareReceiver = {
    label: runtime,
    pid,
    port,
    startup: ready,
    mode: "store",
    // The writer commits at least every 250 ms while records come in.
    settleMs: 800,
    async begin(run) {
      current = run;
      const r = receiver.mode === "store" ? await child.ask(`open ${run}`) : await child.ask("discard");
      stale = r.stale as number;
    },
    async progress() {
      const s = (await child.ask("stats")).stats as { writer?: { written: number }; discarded?: number };
      return s.writer?.written ?? s.discarded ?? 0;
    },
    target: (sent) => sent,
    async end() {
      const closed = (await child.ask("close")).closed as Record<string, unknown>;
      // tmpfs: a run's database (tens of MB) goes as soon as it is counted.
      for (const f of ["", "-wal", "-shm"]) rmSync(join(dir, `${current}.db${f}`), { force: true });
      return { stored: closed.rows as number, details: { ...closed, stale } };
    },
    async close() {
      child.proc.stdin!.write("quit\n");
      const timer = setTimeout(() => child.proc.kill("SIGKILL"), 10_000);
      await child.exited;
      clearTimeout(timer);
    },
  };
  return receiver;
}

/**
 * rsyslog 8 as a plain collector: imudp on 127.0.0.1:port → omfile, each datagram written as
 * received (`%rawmsg%` and a newline), its own config, pid file and work directory; never the
 * host's configuration. Default queues and threads (the in-memory main queue between imudp's
 * input thread, which reads with recvmmsg in batches of 32, and the omfile action).
 * `rcvbufSize` is left out: the socket gets the kernel's default, or what the bench sets from
 * outside (the same way as for ours).
 */
export async function startRsyslog(scope: Scope, env: IngestEnv, port: number): Promise<IngestReceiver & { readonly version: string }> {
  const dir = join(env.dir, "rsyslog");
  await mkdir(join(dir, "work"), { recursive: true });
  const output = join(dir, "received.log");
  const conf = join(dir, "rsyslog.conf");
  writeFileSync(conf, [
    `global(workDirectory="${join(dir, "work")}")`,
    `module(load="imudp")`,
    `template(name="raw" type="string" string="%rawmsg%\\n")`,
    `ruleset(name="ingest") { action(type="omfile" file="${output}" template="raw") }`,
    `input(type="imudp" address="127.0.0.1" port="${port}" ruleset="ingest")`,
    "",
  ].join("\n"));
  writeFileSync(output, "");
  const version = (await runChecked([RSYSLOGD, "-v"])).split("\n")[0]!.trim();
  await runChecked([RSYSLOGD, "-N1", "-f", conf]); // config check: fail here, not with a silent daemon
  const proc = spawn(env.nsExec[0]!, [...env.nsExec.slice(1), RSYSLOGD, "-n", "-f", conf, "-i", join(dir, "rsyslogd.pid")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  scope.defer("stop rsyslogd", async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await runChecked([...env.nsExec, "cat", "/proc/net/udp"]);
    if (parseProcNetUdp(text, port).sockets > 0) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`rsyslogd did not bind ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const comm = readFileSync(`/proc/${proc.pid}/comm`, "utf8").trim();
  if (comm !== "rsyslogd") throw new Error(`pid ${proc.pid} is ${comm}, not rsyslogd`);
  const cycle = env.payloadBytes.reduce((a, b) => a + b + 1, 0);
  const prefix = [0];
  for (const b of env.payloadBytes) prefix.push(prefix.at(-1)! + b + 1);
  return {
    label: "rsyslog",
    pid: proc.pid!,
    port,
    version,
    // omfile writes at the end of every batch of the action: storage moves continuously.
    settleMs: 300,
    async begin() {
      // omfile appends (O_APPEND): emptying the file between runs is safe while it is open.
      truncateSync(output, 0);
    },
    async progress() {
      return statSync(output).size;
    },
    // Every datagram is one line: the payload as sent and "\n".
    target: (sent) => Math.floor(sent / env.payloadBytes.length) * cycle + prefix[sent % env.payloadBytes.length]!,
    async end() {
      const out = await runChecked(["wc", "-l", output]);
      const stored = Number(out.trim().split(/\s+/)[0]);
      const bytes = statSync(output).size;
      truncateSync(output, 0);
      return { stored, details: { bytes } };
    },
    async close() {
      proc.kill("SIGTERM");
      await exited;
    },
  };
}
