/**
 * The main thread's side of the DNS filter's worker (server-thread.ts): the same calls as
 * LocalDnsEngine (thread-protocol.ts `DnsEngine`), with the filter, the socket and the
 * cache on the worker. Deno only (the box); under Node the firmware uses LocalDnsEngine.
 *
 * What lives here: the query records the worker handed over, until the firmware drains them
 * (bounded: the worker sends no more than there is room for, by credit, and keeps the rest
 * in its own ring, where the oldest are overwritten and counted), a copy of the counters,
 * the MAC table, and the last filter spec the worker accepted.
 *
 * A crash of the worker (an uncaught error there) does not take the firmware down and is
 * not silent: it is logged, requests waiting on the worker settle with their fallbacks
 * (explain: "not answering", reload: `unavailable`), and a new worker starts with the last
 * spec that was in force, after a backoff (restartDelayMs). Restarting rather than exiting:
 * the ruleset diverts all LAN DNS to this port, so while the filter is down the office has
 * no DNS at all; a restart costs one compile (about half a second for a million names),
 * and a restart of the whole firmware would cost that and everything else too.
 */
import { workerEntryUrl } from "../app-root.ts";
import { BoundedQueue } from "../logs/bounded-queue.ts";
import type { ClientIdentity, ListReport, NameExplanation } from "./filter.ts";
import type { DnsCounters, DnsQueryRecord } from "./query-log.ts";
import {
  countersOf, PendingRequests, restartDelayMs, sumStats, zeroStats, type DnsEngine, type DnsEngineConfig, type DnsFilterSpec,
  type DnsStats, type EngineError, type EngineReloadOutcome, type FromWorker, type MacEntries, type ToWorker,
} from "./thread-protocol.ts";
import type { Upstream } from "./upstream.ts";

/** Records kept for the firmware between drains (as the worker's own ring). */
const QUEUE_CAPACITY = 32_768;
const EXPLAIN_TIMEOUT_MS = 5_000;
const RELOAD_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;

export type ThreadedDnsOptions = {
  /** Operator log (crashes, restarts). */
  log: (line: string) => void;
  /** The worker module (tests wrap the real one). */
  workerUrl?: string;
  /** Records kept here between drains (default 32,768; tests make it small). */
  queueCapacity?: number;
};

export type ThreadedStart =
  | { ok: true; engine: ThreadedDnsEngine; names: number; bytes: number; lists: readonly ListReport[] }
  | { ok: false; error: EngineError };

type Ready = Extract<FromWorker, { type: "ready" }>;

export class ThreadedDnsEngine implements DnsEngine {
  #worker: Worker | undefined;
  /** The worker has compiled its filter and serves (requests sent before then would wait for nothing). */
  #ready = false;
  readonly #queue: BoundedQueue<DnsQueryRecord>;
  #lost = 0;
  /** Counters of the workers before this one (a restart counts from zero there). */
  #before: DnsCounters = countersOf(zeroStats());
  #stats: DnsStats = zeroStats();
  #address: { address: string; port: number };
  #spec: DnsFilterSpec;
  #upstreams: readonly Upstream[];
  #macs: MacEntries;
  readonly #explains = new PendingRequests<NameExplanation>();
  readonly #reloads = new PendingRequests<EngineReloadOutcome>();
  readonly #crashes: number[] = [];
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #onStopped: (() => void) | undefined;
  /** Crashes and restarts so far (status, tests). */
  restarts = 0;

  private constructor(
    private readonly config: DnsEngineConfig, spec: DnsFilterSpec, macs: MacEntries, private readonly options: ThreadedDnsOptions,
  ) {
    this.#spec = spec;
    this.#upstreams = config.upstreams;
    this.#macs = macs;
    this.#address = config.listen;
    this.#queue = new BoundedQueue(options.queueCapacity ?? QUEUE_CAPACITY);
  }

  /** Starts the worker; resolves when it serves, or with the compile / bind error. */
  static async start(config: DnsEngineConfig, spec: DnsFilterSpec, macs: MacEntries, options: ThreadedDnsOptions): Promise<ThreadedStart> {
    const self = new ThreadedDnsEngine(config, spec, macs, options);
    const r = await self.#launch();
    return r.ok ? { ok: true, engine: self, names: r.ready.names, bytes: r.ready.bytes, lists: r.ready.lists } : r;
  }

  /** One worker, started with the spec and upstreams last in force. */
  #launch(): Promise<{ ok: true; ready: Ready } | { ok: false; error: EngineError }> {
    const url = this.options.workerUrl ?? workerEntryUrl("dns/server-thread");
    const worker = new Worker(url, { type: "module" });
    this.#worker = worker;
    return new Promise((resolve) => {
      let started = false;
      worker.onerror = (e) => {
        // Without preventDefault the error would end the main thread too.
        e.preventDefault();
        if (!started) {
          started = true;
          worker.terminate();
          this.#worker = undefined;
          resolve({ ok: false, error: { kind: "unavailable", message: `the DNS filter's worker failed to start: ${e.message}` } });
          return;
        }
        this.#crashed(worker, e.message);
      };
      worker.onmessage = (event: MessageEvent) => {
        const msg = event.data as FromWorker;
        switch (msg.type) {
          case "ready":
            started = true;
            this.#address = msg.address;
            this.#ready = true;
            // The table may have changed while the worker compiled.
            this.#post(worker, { type: "macs", macs: this.#macs });
            resolve({ ok: true, ready: msg });
            break;
          case "failed":
            started = true;
            worker.terminate();
            this.#worker = undefined;
            resolve({ ok: false, error: msg.error });
            break;
          case "batch":
          case "stopped":
            for (const r of msg.records) if (!this.#queue.push(r)) this.#lost++;
            this.#stats = msg.stats;
            if (msg.type === "stopped") this.#onStopped?.();
            break;
          case "reloaded":
            this.#reloads.settle(msg.id, msg.outcome);
            break;
          case "explained":
            this.#explains.settle(msg.id, msg.result);
            break;
        }
      };
      // A restarted worker binds the port the first one got (the ruleset redirects to it).
      const config = { ...this.config, listen: this.#address, upstreams: this.#upstreams };
      this.#post(worker, { type: "start", config, spec: this.#spec, macs: this.#macs, credit: this.#queue.capacity - this.#queue.size });
    });
  }

  #post(worker: Worker, msg: ToWorker): void {
    worker.postMessage(msg);
  }

  #crashed(worker: Worker, message: string): void {
    if (this.#worker !== worker) return;
    worker.terminate();
    this.#worker = undefined;
    this.#ready = false;
    this.#before = countersOf(sumStats(this.#before, this.#stats));
    this.#stats = zeroStats();
    this.#explains.failAll();
    this.#reloads.failAll();
    if (this.#stopping) {
      this.#onStopped?.();
      return;
    }
    const now = Date.now();
    this.#crashes.push(now);
    const delay = restartDelayMs(this.#crashes, now);
    this.options.log(`dns: the filter's worker crashed (${message}); restarting it in ${delay} ms with the filter last in force`);
    this.#restartTimer = setTimeout(() => void this.#restart(), delay);
  }

  async #restart(): Promise<void> {
    this.#restartTimer = undefined;
    if (this.#stopping) return;
    const r = await this.#launch();
    if (r.ok) {
      this.restarts++;
      this.options.log(`dns: the filter's worker serves again (${r.ready.names} names)`);
      return;
    }
    // The spec compiled before; a failure now is the port or the lists' files: keep trying.
    const now = Date.now();
    this.#crashes.push(now);
    const delay = restartDelayMs(this.#crashes, now);
    this.options.log(`dns: the filter's worker could not be restarted (${r.error.kind}); trying again in ${delay} ms`);
    if (!this.#stopping) this.#restartTimer = setTimeout(() => void this.#restart(), delay);
  }

  reload(spec: DnsFilterSpec, upstreams: readonly Upstream[]): Promise<EngineReloadOutcome> {
    const worker = this.#ready ? this.#worker : undefined;
    const down = (): EngineReloadOutcome => ({ ok: false, error: { kind: "unavailable", message: "the DNS filter's worker is not running" }, ms: 0 });
    if (!worker) return Promise.resolve(down());
    const { id, promise } = this.#reloads.add(down, RELOAD_TIMEOUT_MS);
    this.#post(worker, { type: "reload", id, spec, upstreams });
    return promise.then((o) => {
      // What a restarted worker compiles: the last spec that was put in force.
      if (o.ok) {
        this.#spec = spec;
        this.#upstreams = upstreams;
      }
      return o;
    });
  }

  explain(name: string, client?: ClientIdentity): Promise<NameExplanation> {
    const worker = this.#ready ? this.#worker : undefined;
    const down = (): NameExplanation => ({ ok: false, input: name, problem: "the DNS filter is not answering" });
    if (!worker) return Promise.resolve(down());
    const { id, promise } = this.#explains.add(down, EXPLAIN_TIMEOUT_MS);
    this.#post(worker, { type: "explain", id, name, client });
    return promise;
  }

  setMacs(entries: MacEntries): void {
    this.#macs = entries;
    if (this.#worker && this.#ready) this.#post(this.#worker, { type: "macs", macs: entries });
  }

  drainLog(max?: number): DnsQueryRecord[] {
    const records = this.#queue.take(max);
    // Room for as many more: the worker hands over no more than this queue can hold.
    if (records.length > 0 && this.#worker) this.#post(this.#worker, { type: "credit", n: records.length });
    return records;
  }

  stats(): DnsStats {
    const s = sumStats(this.#before, this.#stats, this.#lost);
    s.logPending += this.#queue.size;
    return s;
  }

  address(): { address: string; port: number } {
    return this.#address;
  }

  /** Stops the worker; every record it logged is handed over before this resolves. */
  stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const worker = this.#worker;
    if (!worker) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log("dns: the filter's worker did not stop in time; ended");
        finish();
      }, STOP_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        this.#onStopped = undefined;
        worker.terminate();
        this.#worker = undefined;
        this.#ready = false;
        this.#explains.failAll();
        this.#reloads.failAll();
        resolve();
      };
      this.#onStopped = finish;
      this.#post(worker, { type: "stop" });
    });
  }
}
