/**
 * The DNS filter's engine and the messages between the main thread and the filter's worker
 * (server-thread.ts, threaded-server.ts). Only plain data crosses: the compiled filter never
 * does (a million names are about 10 MB, the box's budget is 128 MB), so the worker compiles
 * it itself from what the main thread sends (the policy's DNS section, the overrides) and
 * the kept list files. The pure helpers here (the MAC table, counters summed across worker
 * restarts, the restart backoff, request bookkeeping) are unit-tested on their own.
 */
import type { DnsLocalOverrides, DnsPolicy } from "../../policies/schema.ts";
import type { BoxAddresses, ClientIdentity, CompileError, ListReport, NameExplanation } from "./filter.ts";
import type { DnsCounters, DnsQueryRecord } from "./query-log.ts";
import type { Upstream } from "./upstream.ts";

/** What the filter is compiled from (the list texts are read from `listDir` by whoever compiles). */
export type DnsFilterSpec = { policy: DnsPolicy; overrides?: DnsLocalOverrides | undefined };

/** How the engine listens and where it finds things; fixed for its life. */
export type DnsEngineConfig = {
  listen: { address: string; port: number };
  upstreams: readonly Upstream[];
  /** The kept copies of the policy's URL lists (list-store.ts). */
  listDir: string;
  box: BoxAddresses;
  recvBufferBytes?: number;
  blockTtl?: number;
};

/** The counters `status`, `dns stats` and the admin page show. */
export type DnsStats = DnsCounters & { cacheEntries: number; cacheHitRatio: number; logPending: number };

/** The engine's failure to (re)build or to answer: a compile error, or the worker being down. */
export type EngineError =
  | CompileError
  | { kind: "unavailable"; message: string }
  | { kind: "bind"; message: string }
  /** An exception while reading the lists or compiling (a bug, or a file that cannot be read). */
  | { kind: "exception"; message: string };

export type EngineReloadOutcome =
  | { ok: true; names: number; bytes: number; ms: number; lists: readonly ListReport[] }
  | { ok: false; error: EngineError; ms: number };

/** MAC table entries, IP → MAC (the inventory's view, for groups that name MACs). */
export type MacEntries = readonly (readonly [string, string])[];

/**
 * The DNS filter as the firmware drives it, on this thread (engine.ts) or on a worker
 * (threaded-server.ts): the same calls either way.
 */
export interface DnsEngine {
  /** Compiles the filter for `spec` and swaps it in; on failure the filter in force stays. */
  reload(spec: DnsFilterSpec, upstreams: readonly Upstream[]): Promise<EngineReloadOutcome>;
  /** The filter's decision for a name (the block page, the admin page). */
  explain(name: string, client?: ClientIdentity): Promise<NameExplanation>;
  /** The inventory's IP → MAC table (replaces the one before). */
  setMacs(entries: MacEntries): void;
  /** Takes up to `max` query records, oldest first. */
  drainLog(max?: number): DnsQueryRecord[];
  stats(): DnsStats;
  address(): { address: string; port: number };
  /** Stops serving; the records logged until then stay for `drainLog`. */
  stop(): Promise<void>;
}

export type ToWorker =
  | { type: "start"; config: DnsEngineConfig; spec: DnsFilterSpec; macs: MacEntries; credit: number }
  | { type: "reload"; id: number; spec: DnsFilterSpec; upstreams: readonly Upstream[] }
  | { type: "explain"; id: number; name: string; client?: ClientIdentity | undefined }
  | { type: "macs"; macs: MacEntries }
  /** The main thread took `n` records out of its queue: room for that many more. */
  | { type: "credit"; n: number }
  | { type: "stop" };

export type FromWorker =
  | { type: "ready"; address: { address: string; port: number }; names: number; bytes: number; lists: readonly ListReport[] }
  | { type: "failed"; error: EngineError }
  | { type: "batch" | "stopped"; records: DnsQueryRecord[]; stats: DnsStats }
  | { type: "reloaded"; id: number; outcome: EngineReloadOutcome }
  | { type: "explained"; id: number; result: NameExplanation };

/** The IP → MAC table of a device list, sorted (so two tables compare as strings). */
export function macTable(devices: readonly { mac: string; addresses: readonly { ip: string }[] }[]): [string, string][] {
  const out: [string, string][] = [];
  for (const d of devices) for (const a of d.addresses) out.push([a.ip, d.mac]);
  return out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

const COUNTER_KEYS = [
  "queries", "blocked", "forwarded", "cacheHits", "cacheMisses", "upstreamFailures", "servfail", "tcpRetries",
  "upstreamIgnored", "malformed", "dropped", "logOverwritten", "reloads",
] as const satisfies readonly (keyof DnsCounters)[];

export function zeroStats(): DnsStats {
  return {
    queries: 0, blocked: 0, forwarded: 0, cacheHits: 0, cacheMisses: 0, upstreamFailures: 0, servfail: 0, tcpRetries: 0,
    upstreamIgnored: 0, malformed: 0, dropped: 0, logOverwritten: 0, reloads: 0, cacheEntries: 0, cacheHitRatio: 0, logPending: 0,
  };
}

/**
 * The counters of a worker added to those of the workers before it (a restarted worker
 * counts from zero; `dns stats` must not go backwards). The cache figures are the current
 * worker's own, and `extraOverwritten` counts records this side could not keep.
 */
export function sumStats(before: DnsCounters, current: DnsStats, extraOverwritten = 0): DnsStats {
  const out = { ...current };
  for (const k of COUNTER_KEYS) out[k] = before[k] + current[k];
  out.logOverwritten += extraOverwritten;
  const lookups = out.cacheHits + out.cacheMisses;
  out.cacheHitRatio = lookups === 0 ? 0 : out.cacheHits / lookups;
  return out;
}

/** Only the counters of a stats snapshot (what carries over a restart). */
export function countersOf(s: DnsCounters): DnsCounters {
  const out = {} as DnsCounters;
  for (const k of COUNTER_KEYS) out[k] = s[k];
  return out;
}

/**
 * The wait before restarting a worker that crashed: 0.5 s after the first crash, doubling
 * for each crash within the last `windowMs`, at most 30 s (a filter that crashes at once
 * every time must not spin the CPU; one crash a day restarts at once).
 */
export function restartDelayMs(crashTimes: readonly number[], now: number, windowMs = 300_000): number {
  const recent = crashTimes.filter((t) => now - t < windowMs).length;
  return Math.min(30_000, 500 * 2 ** Math.max(0, recent - 1));
}

/**
 * Requests waiting for the worker's answer, by id. Each settles exactly once: with the
 * worker's answer, with its fallback when the worker is gone (`failAll`), or with its
 * fallback after `timeoutMs`.
 */
export class PendingRequests<T> {
  #next = 1;
  readonly #waiting = new Map<number, { resolve: (v: T) => void; fallback: () => T; timer: ReturnType<typeof setTimeout> | undefined }>();

  /** A new request id and the promise of its answer. */
  add(fallback: () => T, timeoutMs?: number): { id: number; promise: Promise<T> } {
    const id = this.#next++;
    const promise = new Promise<T>((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.settle(id, fallback()), timeoutMs);
      this.#waiting.set(id, { resolve, fallback, timer });
    });
    return { id, promise };
  }

  /** Settles one request; false when it was not waiting (settled before, or unknown). */
  settle(id: number, value: T): boolean {
    const w = this.#waiting.get(id);
    if (!w) return false;
    this.#waiting.delete(id);
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(value);
    return true;
  }

  /** Settles every waiting request with its fallback (the worker is gone). */
  failAll(): void {
    for (const [id, w] of [...this.#waiting]) this.settle(id, w.fallback());
  }

  get size(): number {
    return this.#waiting.size;
  }
}
