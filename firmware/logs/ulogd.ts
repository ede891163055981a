/**
 * ulogd2 on the box: the config that turns NFLOG groups into JSON datagrams to the log
 * receiver (pure), where its plugins are, and the child process the firmware's `run`
 * starts, watches and stops.
 *
 * What was found with ulogd 2.0.8 on this kernel (test/firmware/logs/ulogd.test.ts runs it):
 * - the kernel batches NFLOG messages (flushing every second or every 100 packets) unless
 *   netlink_qthreshold=1: without it each event reached the receiver about 1 s late;
 * - the JSON output's UDP socket is connected at start-up, and a send that fails (nobody
 *   listening yet: ECONNREFUSED) loses that record and the next, so bind the receiver
 *   before starting ulogd; and if the connect fails (loopback down) ulogd exits at once;
 * - its "timestamp" field is local time with no zone (a bug in the zone code), so records
 *   are timed by oob.time.sec/usec and the field is switched off (timestamp=0);
 * - without plugin= lines ulogd loads every plugin from its own directory, which keeps the
 *   image's config free of the architecture's library path;
 * - a log rule that matches the datagrams ulogd sends (UDP on lo) feeds itself: every
 *   record is logged again, forever. The ruleset logs forward/WAN traffic only;
 * - when one stack fails (its group is held by another process) ulogd logs
 *   "unable to bind to log group N" and carries on with the others, so start-up is judged
 *   by its log ("initialization finished" and no error before it), not by its exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { access } from "node:fs/promises";
import { isIP } from "node:net";
import { isNotFound, readProcFile } from "./proc-file.ts";
import { ULOGD_DEVICE_PREFIX } from "./ulogd-json.ts";

export type UlogdConfigInput = {
  /** NFLOG groups to bind (the ruleset's `log group N`); one ulogd stack each. */
  groups: readonly number[];
  /** Where the JSON datagrams go: the log receiver's address (an IP literal) and port. */
  host: string;
  port: number;
  /**
   * Absolute directory of ulogd's plugins (see findUlogdPluginDir). Omitted: ulogd loads
   * every plugin from the directory it was built with, which works on any architecture.
   */
  pluginDir?: string;
  /** "stdout" (default: the firmware reads ulogd's log from the pipe), "syslog", or an absolute path. */
  logFile?: string;
  /**
   * ulogd's log level: 1 debug, 3 info (default: startUlogd waits for its level-3 line
   * "initialization finished"), 5 notice, 7 error, 8 fatal.
   */
  logLevel?: 1 | 3 | 5 | 7 | 8;
  /**
   * Packets the kernel queues per group before handing them to ulogd (default 1: each at
   * once, no batching delay).
   */
  qthreshold?: number;
  /** When qthreshold > 1: longest the kernel holds a batch, in 1/100 s (ulogd's unit). */
  qtimeoutCs?: number;
  /** Netlink receive buffer per group (default 1 MiB); ulogd doubles it on overrun up to the maximum. */
  netlinkBufferBytes?: number;
  /** The most that doubling may reach (default 8 MiB). */
  netlinkBufferMaxBytes?: number;
  /**
   * Further stacks of other capabilities (the inventory's DHCP/ARP snooping to pcap): their
   * `stack=` line goes into [global], their sections after ours.
   */
  extraStacks?: readonly { stack: string; sections: string }[];
};

const PLUGINS = [
  "ulogd_inppkt_NFLOG.so",
  "ulogd_raw2packet_BASE.so",
  "ulogd_filter_IFINDEX.so",
  "ulogd_filter_IP2STR.so",
  "ulogd_filter_HWHDR.so",
  "ulogd_output_JSON.so",
] as const;
const LOG_LEVELS = new Set([1, 3, 5, 7, 8]);

function checkPath(what: string, path: string): void {
  // A quote or line break would end the value and let the rest be read as configuration.
  if (!path.startsWith("/") || /["\\\u0000-\u001f\u007f]/.test(path)) {
    throw new RangeError(`ulogd ${what} must be an absolute path without quotes, backslashes or control characters: ${JSON.stringify(path)}`);
  }
}

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`ulogd ${what} must be an integer ${min}-${max}: ${value}`);
}

/**
 * The ulogd configuration (pure): one stack NFLOG → BASE → IFINDEX → IP2STR → HWHDR → JSON
 * per group, each sending one datagram per packet to host:port, its "dvc" naming the group
 * (ulogd's keys do not carry it). Throws RangeError for an input that would make a broken
 * or injectable file (a bad group, port, address or path).
 */
export function buildUlogdConfig(input: UlogdConfigInput): string {
  const groups = input.groups;
  if (groups.length === 0) throw new RangeError("ulogd needs at least one NFLOG group");
  for (const g of groups) checkInt("NFLOG group", g, 0, 65535);
  if (new Set(groups).size !== groups.length) throw new RangeError(`NFLOG groups repeated: ${groups.join(",")}`);
  if (isIP(input.host) === 0) throw new RangeError(`ulogd host must be an IP address: ${JSON.stringify(input.host)}`);
  checkInt("port", input.port, 1, 65535);
  const logFile = input.logFile ?? "stdout";
  if (logFile !== "stdout" && logFile !== "syslog") checkPath("logFile", logFile);
  if (input.pluginDir !== undefined) checkPath("pluginDir", input.pluginDir);
  const logLevel = input.logLevel ?? 3;
  if (!LOG_LEVELS.has(logLevel)) throw new RangeError(`ulogd logLevel must be 1, 3, 5, 7 or 8: ${logLevel}`);
  const qthreshold = input.qthreshold ?? 1;
  checkInt("qthreshold", qthreshold, 1, 65535);
  if (input.qtimeoutCs !== undefined) checkInt("qtimeoutCs", input.qtimeoutCs, 1, 6000);
  const bufferBytes = input.netlinkBufferBytes ?? 1024 * 1024;
  const bufferMaxBytes = input.netlinkBufferMaxBytes ?? 8 * 1024 * 1024;
  checkInt("netlinkBufferBytes", bufferBytes, 65536, 1 << 30);
  checkInt("netlinkBufferMaxBytes", bufferMaxBytes, bufferBytes, 1 << 30);

  const lines = [
    "# Sekisho: NFLOG groups -> one JSON datagram per logged packet to the log receiver.",
    "# Generated by firmware/logs/ulogd.ts (buildUlogdConfig); see image/ulogd/README.md.",
    "[global]",
    `logfile="${logFile}"`,
    `loglevel=${logLevel}`,
    ...(input.pluginDir === undefined ? [] : PLUGINS.map((p) => `plugin="${input.pluginDir}/${p}"`)),
    // One stack per group: an NFLOG instance binds exactly one group.
    ...groups.map((g) => `stack=log${g}:NFLOG,base${g}:BASE,ifi${g}:IFINDEX,ip2str${g}:IP2STR,mac2str${g}:HWHDR,json${g}:JSON`),
    ...(input.extraStacks ?? []).map((x) => x.stack),
  ];
  for (const g of groups) {
    lines.push(
      "",
      `[log${g}]`,
      `group=${g}`,
      `netlink_qthreshold=${qthreshold}`,
      ...(input.qtimeoutCs === undefined ? [] : [`netlink_qtimeout=${input.qtimeoutCs}`]),
      `netlink_socket_buffer_size=${bufferBytes}`,
      `netlink_socket_buffer_maxsize=${bufferMaxBytes}`,
      "",
      `[json${g}]`,
      'mode="udp"',
      `host="${input.host}"`,
      `port="${input.port}"`,
      `device="${ULOGD_DEVICE_PREFIX}${g}"`,
      "timestamp=0",
    );
  }
  for (const x of input.extraStacks ?? []) lines.push("", x.sections.trimEnd());
  return lines.join("\n") + "\n";
}

/**
 * The box's ulogd settings: NFLOG group 1 (the ruleset's log group) to the log receiver on
 * 127.0.0.1:514, the port LAN devices send syslog to. image/ulogd/sekisho.conf is exactly
 * buildUlogdConfig(BOX_ULOGD_CONFIG) (a test keeps them equal).
 */
export const BOX_ULOGD_CONFIG: UlogdConfigInput = { groups: [1], host: "127.0.0.1", port: 514 };

/** Something about ulogd went wrong; the subclasses say what. */
export class UlogdError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UlogdError";
  }
}

/** ulogd or its JSON plugin is not installed. */
export class UlogdNotFoundError extends UlogdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UlogdNotFoundError";
  }
}

/** ulogd did not start: it exited, reported an error, or did not finish starting in time. */
export class UlogdStartError extends UlogdError {
  /** The end of what ulogd printed (its log, with logfile="stdout"). */
  readonly logTail: string;

  constructor(message: string, logTail: string, options?: { cause?: unknown }) {
    super(logTail === "" ? message : `${message}\n--- ulogd said:\n${logTail}`, options);
    this.name = "UlogdStartError";
    this.logTail = logTail;
  }
}

/** Debian's multiarch paths for the box (arm64), the CI machine (x86-64) and 32-bit Pis. */
const PLUGIN_DIR_CANDIDATES = [
  "/usr/lib/aarch64-linux-gnu/ulogd",
  "/usr/lib/x86_64-linux-gnu/ulogd",
  "/usr/lib/arm-linux-gnueabihf/ulogd",
  "/usr/lib/ulogd",
  "/usr/local/lib/ulogd",
];

/**
 * The directory holding ulogd's NFLOG input and JSON output plugins. Throws
 * UlogdNotFoundError naming what is missing (ulogd2, or the separate ulogd2-json package).
 */
export async function findUlogdPluginDir(candidates: readonly string[] = PLUGIN_DIR_CANDIDATES): Promise<string> {
  const exists = (p: string) => access(p).then(() => true, () => false);
  let withoutJson: string | undefined;
  for (const dir of candidates) {
    if (!(await exists(`${dir}/ulogd_inppkt_NFLOG.so`))) continue;
    if (await exists(`${dir}/ulogd_output_JSON.so`)) return dir;
    withoutJson ??= dir;
  }
  if (withoutJson !== undefined) {
    throw new UlogdNotFoundError(`ulogd is installed (${withoutJson}) but its JSON output is not: install ulogd2-json`);
  }
  throw new UlogdNotFoundError(`ulogd2 is not installed (no ulogd_inppkt_NFLOG.so in ${candidates.join(", ")})`);
}

/** Groups bound in a /proc/net/netfilter/nfnetlink_log listing (first column, decimal; pure). */
export function parseNflogGroups(text: string): number[] {
  const groups: number[] = [];
  for (const line of text.split("\n")) {
    const first = line.trim().split(/\s+/)[0] ?? "";
    if (/^\d{1,5}$/.test(first)) groups.push(Number(first));
  }
  return groups;
}

export type UlogdExit = {
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  /** True when stop() ended it; false for a crash (or anyone else's kill). */
  expected: boolean;
  /** The end of what ulogd printed. */
  logTail: string;
};

export type StartUlogdOptions = {
  /** A config that logs to stdout at loglevel 3 or below (buildUlogdConfig's defaults). */
  configPath: string;
  /** ulogd locks its pid file, so each running ulogd needs its own. */
  pidFile: string;
  /** The groups its config binds. */
  groups: readonly number[];
  /** Program (and leading arguments) to run; default ["ulogd"]. */
  command?: readonly string[];
  /** How long start-up may take (default 5 s). */
  readyTimeoutMs?: number;
  /** Called once when ulogd exits without stop(): a crash, to report (and restart, if the caller wants). */
  onExit?: (exit: UlogdExit) => void;
  /**
   * ulogd's log lines (at most 1 KiB each, at most 20 a second: a receiver that is down
   * makes ulogd log one error per packet; the number left out is reported instead).
   */
  onLog?: (line: string) => void;
  /**
   * Reads the NFLOG binding table (/proc/net/netfilter/nfnetlink_log of ulogd's network
   * namespace; readNflogTable() reads this process's). When given, start-up also refuses
   * groups someone else holds and waits until the table lists every group. Not under Deno:
   * it refuses /proc without --allow-all.
   */
  readNflogTable?: () => Promise<string>;
};

export interface UlogdProcess {
  readonly pid: number;
  /** Resolves when ulogd exits, for whatever reason. */
  readonly exited: Promise<UlogdExit>;
  /** The end of what ulogd printed so far (at most 8 KiB). */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it has exited. Idempotent. */
  stop(): Promise<UlogdExit>;
}

const NFLOG_TABLE = "/proc/net/netfilter/nfnetlink_log";
const TAIL_BYTES = 8192;
const LINE_MAX = 1024;
const LINES_PER_SECOND = 20;
const POLL_MS = 20;
const STOP_GRACE_MS = 3000;
/** ulogd reads no environment of ours: a fixed PATH only. */
const ULOGD_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
/** ulogd's last start-up line (logged at level 3), after every stack has been started. */
const READY_LINE = "initialization finished";
/** ulogd's "<7>" (error) and "<8>" (fatal) lines. */
const ERROR_LINE = /<[78]> /;

/**
 * This network namespace's NFLOG binding table ("" before nfnetlink_log is loaded). Needs a
 * runtime that may read /proc: Node, or Deno with --allow-all.
 */
export async function readNflogTable(): Promise<string> {
  try {
    return await readProcFile(NFLOG_TABLE);
  } catch (err) {
    if (isNotFound(err)) return "";
    throw err;
  }
}

/**
 * Starts ulogd with `configPath` as a child (argument array, fixed environment, not
 * daemonised) and resolves once it says it has started every stack without an error.
 *
 * ulogd does not exit when one of its stacks fails (a group someone else holds: "unable to
 * bind to log group 1"); it goes on with the others. So its start-up log is the readiness
 * signal: "initialization finished" with no error line before it. That needs no /proc
 * access, which Deno grants only with --allow-all (see readNflogTable for the extra check).
 *
 * Throws UlogdNotFoundError when ulogd is not installed, UlogdStartError when it exits
 * during start-up, reports an error, or does not finish in time (it is killed then). A later
 * exit that stop() did not cause is reported through `onExit` and the `exited` promise.
 */
export async function startUlogd(options: StartUlogdOptions): Promise<UlogdProcess> {
  const timeoutMs = options.readyTimeoutMs ?? 5000;
  if (options.readNflogTable !== undefined) {
    const busy = parseNflogGroups(await options.readNflogTable()).filter((g) => options.groups.includes(g));
    if (busy.length > 0) {
      throw new UlogdStartError(
        `NFLOG group(s) ${busy.join(",")} already bound in this network namespace: another ulogd runs (Debian's ulogd2.service must be disabled)`,
        "",
      );
    }
  }
  const [file, ...args] = [...(options.command ?? ["ulogd"]), "-c", options.configPath, "-p", options.pidFile];
  const child = spawn(file!, args, { stdio: ["ignore", "pipe", "pipe"], env: ULOGD_ENV });
  let ready = false;
  const startErrors: string[] = [];
  const output = new OutputTail((line) => {
    if (!ready) {
      if (ERROR_LINE.test(line)) startErrors.push(line);
      else if (line.includes(READY_LINE)) ready = true;
    }
  }, options.onLog);
  child.stdout?.on("data", (chunk: Uint8Array) => output.push(chunk));
  child.stderr?.on("data", (chunk: Uint8Array) => output.push(chunk));

  let stopping = false;
  let exitInfo: UlogdExit | undefined;
  let spawnError: Error | undefined;
  let resolveExited!: (exit: UlogdExit) => void;
  const exited = new Promise<UlogdExit>((resolve) => {
    resolveExited = resolve;
  });
  const finish = (code: number | null, signal: string | null): void => {
    if (exitInfo !== undefined) return;
    output.flush();
    exitInfo = { code, signal, expected: stopping, logTail: output.tail() };
    resolveExited(exitInfo);
  };
  child.on("error", (err) => {
    spawnError ??= err;
    // A process that never started emits no 'close' of its own on every runtime.
    if (child.pid === undefined) finish(null, null);
  });
  child.on("close", (code, signal) => finish(code, signal));

  const fail = async (message: string): Promise<never> => {
    stopping = true;
    await killChild(child, exited);
    throw new UlogdStartError(message, output.tail());
  };
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== undefined || spawnError !== undefined) {
      const e = await exited;
      if (spawnError !== undefined && (spawnError as NodeJS.ErrnoException).code === "ENOENT") {
        throw new UlogdNotFoundError(`cannot run ${JSON.stringify(file)}: not found (is ulogd2 installed?)`, { cause: spawnError });
      }
      const why = spawnError !== undefined ? spawnError.message : e.signal !== null ? `signal ${e.signal}` : `exit status ${e.code}`;
      throw new UlogdStartError(`ulogd exited during start-up (${why})`, e.logTail, { cause: spawnError });
    }
    if (startErrors.length > 0) await fail(`ulogd reported an error during start-up: ${startErrors[0]}`);
    if (ready) {
      if (options.readNflogTable === undefined) break;
      const bound = parseNflogGroups(await options.readNflogTable());
      if (options.groups.every((g) => bound.includes(g))) break;
    }
    if (performance.now() >= deadline) {
      await fail(
        ready
          ? `ulogd started but NFLOG group(s) ${options.groups.join(",")} are not all bound after ${timeoutMs} ms`
          : `ulogd did not finish starting within ${timeoutMs} ms (does its config log to stdout at loglevel 3 or below?)`,
      );
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, POLL_MS))]);
  }

  void exited.then((e) => {
    if (!e.expected) options.onExit?.(e);
  });
  let stopped: Promise<UlogdExit> | undefined;
  return {
    pid: child.pid!,
    exited,
    logTail: () => output.tail(),
    stop: () => {
      stopped ??= (async () => {
        if (exitInfo === undefined) stopping = true;
        await killChild(child, exited);
        return exited;
      })();
      return stopped;
    },
  };
}

async function killChild(child: ChildProcess, exited: Promise<UlogdExit>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<"timeout">((resolve) => {
    timer = setTimeout(resolve, STOP_GRACE_MS, "timeout");
  });
  const first = await Promise.race([exited, grace]);
  clearTimeout(timer);
  if (first === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
}

/**
 * A child's output: the last TAIL_BYTES kept, each complete line to `watch` (all of them)
 * and to `forward` (at most LINES_PER_SECOND a second, then a count of what was left out).
 */
class OutputTail {
  readonly #watch: (line: string) => void;
  readonly #forward: ((line: string) => void) | undefined;
  readonly #decoder = new TextDecoder();
  #text = "";
  #partial = "";
  #second = 0;
  #sent = 0;
  #suppressed = 0;

  constructor(watch: (line: string) => void, forward: ((line: string) => void) | undefined) {
    this.#watch = watch;
    this.#forward = forward;
  }

  push(chunk: Uint8Array): void {
    const s = this.#decoder.decode(chunk, { stream: true });
    this.#text = (this.#text + s).slice(-TAIL_BYTES);
    const lines = (this.#partial + s).split("\n");
    this.#partial = (lines.pop() ?? "").slice(-LINE_MAX);
    for (const raw of lines) {
      const line = raw.slice(0, LINE_MAX);
      if (line === "") continue;
      this.#watch(line);
      this.#emit(line);
    }
  }

  #emit(line: string): void {
    if (this.#forward === undefined) return;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      if (this.#suppressed > 0) this.#forward(`(ulogd: ${this.#suppressed} more lines not shown)`);
      this.#second = second;
      this.#sent = 0;
      this.#suppressed = 0;
    }
    if (this.#sent < LINES_PER_SECOND) {
      this.#sent += 1;
      this.#forward(line);
    } else {
      this.#suppressed += 1;
    }
  }

  /** Reports lines left out in the current second (called when the child exits). */
  flush(): void {
    if (this.#suppressed > 0) this.#forward?.(`(ulogd: ${this.#suppressed} more lines not shown)`);
    this.#suppressed = 0;
  }

  tail(): string {
    return this.#text.trimEnd();
  }
}
