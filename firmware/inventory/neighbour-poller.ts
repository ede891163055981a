/**
 * The I/O edge to the kernel's neighbour table: runs `ip -j neigh show` (an argument array,
 * a fixed environment) every few seconds and hands what it found on as observations. Under
 * Deno it needs `--allow-run=ip` and nothing else: the child gets its own environment, so
 * no variable of ours is read (only NODE_V8_COVERAGE, which Deno's child_process checks).
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { parseNeighbourTable, type NeighbourEntry } from "./neighbours.ts";
import { observeNeighbours, type DeviceObservation, type LanScope } from "./observation.ts";

/** `ip` could not be run, failed, or printed something that is not a neighbour table. */
export class NeighbourTableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NeighbourTableError";
  }
}

const IP_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };
const TIMEOUT_MS = 5000;
/** A neighbour table of thousands of entries is well under this; more means something is wrong. */
const MAX_OUTPUT = 8 * 1024 * 1024;

/**
 * Reads the neighbour table of both families. `argv` is the command prefix (default
 * ["ip"]; tests run ["ip", "netns", "exec", NS, "ip"]).
 */
export async function readNeighbourTable(argv: readonly string[] = ["ip"]): Promise<NeighbourEntry[]> {
  const full = [...argv, "-j", "neigh", "show"];
  const { stdout, stderr, code } = await run(full);
  if (code !== 0) throw new NeighbourTableError(`${full.join(" ")} failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
  const parsed = parseNeighbourTable(stdout);
  if (!parsed.ok) throw new NeighbourTableError(parsed.error);
  return parsed.value;
}

function run(argv: readonly string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) {
      reject(new NeighbourTableError("empty argv"));
      return;
    }
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: IP_ENV });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    let size = 0;
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.stdout.on("data", (c: Uint8Array) => {
      size += c.length;
      if (size > MAX_OUTPUT) child.kill("SIGKILL");
      else out.push(c);
    });
    child.stderr.on("data", (c: Uint8Array) => err.push(c));
    child.once("error", (cause) => {
      clearTimeout(timer);
      reject(new NeighbourTableError(`cannot run ${JSON.stringify(file)}: ${cause.message}`, { cause }));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== null) {
        const why = size > MAX_OUTPUT ? `printed more than ${MAX_OUTPUT} bytes` : `did not finish in ${TIMEOUT_MS} ms`;
        reject(new NeighbourTableError(`${argv.join(" ")} ${why}; killed`));
        return;
      }
      resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), code });
    });
  });
}

export type NeighbourPollerOptions = {
  scope: LanScope;
  /** Receives each poll's observations; a poll waits for it before the next is scheduled. */
  onObservations: (observations: DeviceObservation[]) => Promise<unknown> | void;
  /** A failed poll (ip missing, the sink failing); polling goes on. */
  onError: (error: Error) => void;
  /** Between the end of one poll and the start of the next (default 15 s). */
  intervalMs?: number;
  argv?: readonly string[];
  clock?: () => number;
};

/** Polls the neighbour table until stopped. Never two polls at once. */
export class NeighbourPoller {
  readonly #opts: NeighbourPollerOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: NeighbourPollerOptions) {
    this.#opts = options;
  }

  /** One poll now: returns how many observations it handed on. Throws on failure. */
  async pollOnce(): Promise<number> {
    const entries = await readNeighbourTable(this.#opts.argv);
    const observations = observeNeighbours(entries, this.#opts.scope, (this.#opts.clock ?? Date.now)());
    if (observations.length > 0) await this.#opts.onObservations(observations);
    return observations.length;
  }

  /** Polls at once, then every interval. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops polling and waits for a poll in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.pollOnce()
        .then(() => undefined, (err: unknown) => this.#opts.onError(err instanceof Error ? err : new Error(String(err))))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#schedule(this.#opts.intervalMs ?? 15_000);
        });
    }, delayMs);
  }
}
