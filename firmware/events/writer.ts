/**
 * The event writer: the imperative shell of the event pipeline. Every batch window it takes
 * what the log receiver has queued, classifies it, updates incidents and rollups in memory,
 * and commits all of it in ONE transaction (at most four statements, whatever the batch size). Then
 * it tells its listeners (the alert engine) which incidents changed.
 *
 * Durability: a record is committed at most one window (plus one commit) after the receiver
 * queued it, so a crash (SIGKILL, power is the database's business) loses at most that;
 * `stop()` drains the source and commits everything before it returns.
 *
 * A failed commit keeps its batch and retries it on the next tick before taking anything
 * new, so while the disk is unhappy records wait in the receiver's bounded queue (which drops
 * and counts when full) instead of piling up here.
 */
import type { LogRecord } from "../logs/types.ts";
import type { RuleMetaMap } from "../ruleset/meta.ts";
import type { Database } from "../store/database.ts";
import { createClassifier, type Classification, type LanNetworks, type UnclassifiedReason } from "./classify.ts";
import { DEFAULT_IDLE_GAP_MS, DEFAULT_MAX_OPEN_INCIDENTS, IncidentTracker } from "./incidents.ts";
import { pruneStep, startPrune, type PruneJob, type PruneResult, type RetentionConfig } from "./retention.ts";
import { DEFAULT_ROLLUP_LIMITS, RollupAccumulator, type RollupLimits } from "./rollups.ts";
import { EventStoreError, readNextIncidentId, writeStoreBatch, type StoreBatch } from "./store.ts";
import type { BoxEvent, Incident } from "./types.ts";

/** Where records come from: the log receiver's bounded queue. */
export type LogSource = {
  /** Removes and returns up to `max` queued records (oldest first); [] when there are none. */
  takeBatch(max: number): LogRecord[];
};

/** Called after each committed batch with the incidents it changed and its events (shared: read only). */
export type IncidentListener = (changed: Incident[], events: BoxEvent[]) => void | Promise<void>;

export type EventWriterOptions = {
  database: Database;
  source: LogSource;
  /** The compiler's metadata of the ruleset in force (`setMeta` when the policy changes). */
  meta: RuleMetaMap;
  lan: LanNetworks;
  /** How long records may wait before they are committed (ms; default 250). */
  batchWindowMs?: number;
  /** Pre-classified events held for the next batch at most (default 10,000). */
  maxSubmitted?: number;
  /** Most records per transaction (default 5000); a fuller queue is written back to back. */
  maxBatch?: number;
  /** An incident ends after this long without events (ms; default 15 min). */
  idleGapMs?: number;
  maxOpenIncidents?: number;
  rollupLimits?: RollupLimits;
  retention?: Partial<RetentionConfig>;
  /** How often retention runs (ms; default 1 h; 0 = never). The first run is at start. */
  pruneEveryMs?: number;
  /** Wall clock (ms since epoch), for idle incidents and retention. */
  clock?: () => number;
  /** Failures the writer survives (a failed commit, a throwing listener) are reported here. */
  onError?: (error: Error) => void;
};

export type EventWriterCounters = {
  /** Records taken from the source. */
  received: number;
  classified: number;
  unclassified: number;
  unclassifiedByReason: Record<UnclassifiedReason, number>;
  /** Events committed. */
  written: number;
  /** Transactions committed (one per batch). */
  batches: number;
  /** Events classified but not yet committed (a batch being written or waiting for a retry). */
  pending: number;
  /** Wall time of the last batch: classify + incidents + rollups + commit (ms). */
  lastBatchMs: number;
  /** Largest batch time seen (ms). */
  maxBatchMs: number;
  /** Time spent preparing batches (classify, incidents, rollups), in all (ms). */
  prepareMs: number;
  /** Time spent in commits, in all (ms), and the longest commit. */
  commitMs: number;
  maxCommitMs: number;
  writeErrors: number;
  /** Pre-classified events taken through `submit`, and those refused because too many waited. */
  submitted: number;
  submittedDropped: number;
  listenerErrors: number;
  incidentsOpen: number;
  incidentsOpened: number;
  incidentsEvicted: number;
  pruned: PruneResult;
  pruneSteps: number;
};

/** A listener threw or rejected; the writer carries on. */
export class EventListenerError extends Error {
  override name = "EventListenerError";
}

type Prepared = { store: StoreBatch; events: BoxEvent[]; incidents: Incident[]; startedAt: number };

const DEFAULTS = { batchWindowMs: 250, maxBatch: 5000, pruneEveryMs: 3_600_000 };
/** Commit attempts `stop()` makes for a batch before it gives up and reports it lost. */
const STOP_ATTEMPTS = 3;

export class EventWriter {
  readonly #o: EventWriterOptions;
  #meta: RuleMetaMap;
  #lan: LanNetworks;
  #classify: ((record: LogRecord) => Classification) | undefined;
  #tracker: IncidentTracker | undefined;
  #rollups: RollupAccumulator | undefined;
  #listeners = new Set<IncidentListener>();
  #pending: Prepared | undefined;
  /** Events classified elsewhere (new devices, DNS blocks), waiting for the next batch. */
  #submitted: BoxEvent[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #started = false;
  #stopping = false;
  #stopped = false;
  #prune: PruneJob | undefined;
  #nextPruneAt = 0;
  #c: EventWriterCounters = {
    received: 0, classified: 0, unclassified: 0,
    unclassifiedByReason: { "foreign-prefix": 0, "unknown-log-id": 0, "box-syslog": 0, "foreign-syslog": 0 },
    written: 0, batches: 0, pending: 0, lastBatchMs: 0, maxBatchMs: 0, prepareMs: 0, commitMs: 0, maxCommitMs: 0, writeErrors: 0, submitted: 0, submittedDropped: 0, listenerErrors: 0,
    incidentsOpen: 0, incidentsOpened: 0, incidentsEvicted: 0,
    pruned: { eventsByAge: 0, eventsByCount: 0, rollups: 0, incidents: 0 }, pruneSteps: 0,
  };

  constructor(options: EventWriterOptions) {
    this.#o = options;
    this.#meta = options.meta;
    this.#lan = options.lan;
  }

  get #window(): number { return this.#o.batchWindowMs ?? DEFAULTS.batchWindowMs; }
  get #maxBatch(): number { return this.#o.maxBatch ?? DEFAULTS.maxBatch; }
  #now(): number { return (this.#o.clock ?? Date.now)(); }

  /** Subscribes to committed batches; returns the unsubscribe function. */
  onIncidents(listener: IncidentListener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /**
   * Adds events that were classified elsewhere (the inventory's new-device events; later the
   * DNS filter's blocks) to the next batch: they get incidents, rollups and alerts like the
   * rest. Bounded: beyond `maxSubmitted` (default 10,000) the newest are refused and counted.
   */
  submit(events: readonly BoxEvent[]): void {
    const room = (this.#o.maxSubmitted ?? 10_000) - this.#submitted.length;
    const taken = events.slice(0, Math.max(0, room));
    this.#submitted.push(...taken);
    this.#c.submittedDropped += events.length - taken.length;
  }

  /** The ruleset changed: classify by its metadata from the next batch on. */
  setMeta(meta: RuleMetaMap): void {
    this.#meta = meta;
    this.#classify = undefined;
  }

  /** The LAN prefixes changed (device config). */
  setLan(lan: LanNetworks): void {
    this.#lan = lan;
    this.#classify = undefined;
  }

  counters(): EventWriterCounters {
    const t = this.#tracker?.stats();
    return {
      ...this.#c,
      unclassifiedByReason: { ...this.#c.unclassifiedByReason },
      pruned: { ...this.#c.pruned },
      incidentsOpen: t?.open ?? 0,
      incidentsOpened: t?.opened ?? 0,
      incidentsEvicted: t?.evicted ?? 0,
    };
  }

  /** Reads where the incident ids continue and starts the batch timer. The database is migrated. */
  async start(): Promise<void> {
    if (this.#started) return;
    let firstId: number;
    try {
      firstId = await readNextIncidentId(this.#o.database);
    } catch (err) {
      throw new EventStoreError("the event store cannot be read (are its migrations applied?)", { cause: err });
    }
    this.#tracker = new IncidentTracker({
      idleGapMs: this.#o.idleGapMs ?? DEFAULT_IDLE_GAP_MS,
      maxOpen: this.#o.maxOpenIncidents ?? DEFAULT_MAX_OPEN_INCIDENTS,
      firstId,
    });
    this.#rollups = new RollupAccumulator(this.#o.rollupLimits ?? DEFAULT_ROLLUP_LIMITS);
    this.#nextPruneAt = this.#now();
    this.#started = true;
    this.#schedule(this.#window);
  }

  /**
   * Commits everything the source has now (back-to-back batches), without waiting for the
   * timer. Throws EventStoreError when a batch cannot be committed (it stays queued). Does
   * nothing before `start` or after `stop`.
   */
  async flush(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    while (await this.#serial(() => this.#runOnce(true)));
  }

  /**
   * Graceful stop: no more timer; everything the source holds is committed before this
   * returns (stop the receiver first, or this drains it for as long as it is fed). Throws
   * EventStoreError if the store keeps refusing the last batch (then it is lost, and the
   * error says how many events).
   */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopping) return;
    this.#stopping = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let failures = 0;
    for (;;) {
      try {
        if (!(await this.#serial(() => this.#runOnce(true)))) {
          this.#stopped = true;
          return;
        }
        failures = 0;
      } catch (err) {
        if (++failures >= STOP_ATTEMPTS) {
          this.#stopped = true;
          throw new EventStoreError(`event writer stopped with ${this.#c.pending} events it could not commit`, { cause: err });
        }
      }
    }
  }

  /** Runs `fn` after everything queued before it: one batch at a time, whoever asks. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #schedule(delayMs: number): void {
    if (this.#stopping) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delayMs);
  }

  async #tick(): Promise<void> {
    const started = performance.now();
    let next = this.#window;
    try {
      // A full batch means the queue has more: write it right away; else wait out the window.
      const more = await this.#serial(() => this.#runOnce(false));
      next = more ? 0 : Math.max(0, this.#window - (performance.now() - started));
    } catch (err) {
      this.#report(err);
    }
    this.#schedule(next);
  }

  /**
   * One tick: retry the pending batch or take a new one, commit it, notify, expire incidents,
   * one retention step. Returns whether there may be more to write right away. `throwing`:
   * rethrow a failed commit (flush/stop) instead of only reporting it (timer).
   */
  async #runOnce(throwing: boolean): Promise<boolean> {
    // A batch kept from a failed commit goes first, alone; after it the source may hold more.
    let more = this.#pending !== undefined;
    if (!this.#pending) {
      const records = this.#o.source.takeBatch(this.#maxBatch);
      more = records.length >= this.#maxBatch;
      const submitted = this.#submitted.splice(0, this.#maxBatch);
      more ||= this.#submitted.length > 0;
      if (records.length > 0 || submitted.length > 0) this.#pending = this.#prepare(records, submitted);
    }
    const batch = this.#pending;
    if (batch) {
      const t0 = performance.now();
      try {
        await writeStoreBatch(this.#o.database, batch.store);
      } catch (err) {
        this.#c.writeErrors++;
        if (throwing) throw err;
        this.#report(err);
        return false;
      }
      const commitMs = performance.now() - t0;
      this.#c.commitMs += commitMs;
      if (commitMs > this.#c.maxCommitMs) this.#c.maxCommitMs = commitMs;
      this.#pending = undefined;
      this.#c.pending = 0;
      this.#c.written += batch.events.length;
      this.#c.batches++;
      const ms = performance.now() - batch.startedAt;
      this.#c.lastBatchMs = ms;
      if (ms > this.#c.maxBatchMs) this.#c.maxBatchMs = ms;
      this.#notify(batch);
    }
    const now = this.#now();
    this.#tracker?.expire(now);
    await this.#pruneTick(now);
    return more;
  }

  #prepare(records: LogRecord[], submitted: BoxEvent[] = []): Prepared | undefined {
    const startedAt = performance.now();
    const tracker = this.#tracker!;
    const rollups = this.#rollups!;
    const events: BoxEvent[] = [];
    const classify = this.#classify ??= createClassifier(this.#meta, this.#lan);
    this.#c.received += records.length;
    for (const record of records) {
      const r = classify(record);
      if (!r.ok) {
        this.#c.unclassified++;
        this.#c.unclassifiedByReason[r.reason]++;
        continue;
      }
      const e = r.event;
      e.incidentId = tracker.observe(e);
      rollups.add(e);
      events.push(e);
    }
    for (const e of submitted) {
      e.incidentId = tracker.observe(e);
      rollups.add(e);
      events.push(e);
    }
    this.#c.classified += events.length - submitted.length;
    this.#c.submitted += submitted.length;
    // Nothing classified: no transaction, no batch.
    if (events.length === 0) return undefined;
    this.#c.pending = events.length;
    const { opened, updated } = tracker.takeChanges();
    const rollupDeltas = rollups.takeDeltas();
    this.#c.prepareMs += performance.now() - startedAt;
    return { store: { events, opened, updated, rollups: rollupDeltas }, events, incidents: [...opened, ...updated], startedAt };
  }

  #notify(batch: Prepared): void {
    if (this.#listeners.size === 0) return;
    for (const listener of this.#listeners) {
      try {
        const r = listener(batch.incidents, batch.events);
        if (r instanceof Promise) r.catch((err: unknown) => this.#listenerFailed(err));
      } catch (err) {
        this.#listenerFailed(err);
      }
    }
  }

  #listenerFailed(err: unknown): void {
    this.#c.listenerErrors++;
    this.#report(new EventListenerError("an incident listener failed", { cause: err }));
  }

  async #pruneTick(now: number): Promise<void> {
    const every = this.#o.pruneEveryMs ?? DEFAULTS.pruneEveryMs;
    if (every <= 0) return;
    if (!this.#prune && now >= this.#nextPruneAt) {
      this.#prune = startPrune({ ...this.#o.retention, now });
      this.#nextPruneAt = now + every;
    }
    const job = this.#prune;
    if (!job) return;
    // One chunk per tick: a short transaction between two batches.
    const before = { ...job.result };
    let done: boolean;
    try {
      done = await pruneStep(this.#o.database, job);
    } catch (err) {
      this.#prune = undefined;
      this.#report(new EventStoreError("retention step failed; retrying at the next run", { cause: err }));
      return;
    }
    this.#c.pruneSteps++;
    const p = this.#c.pruned;
    p.eventsByAge += job.result.eventsByAge - before.eventsByAge;
    p.eventsByCount += job.result.eventsByCount - before.eventsByCount;
    p.rollups += job.result.rollups - before.rollups;
    p.incidents += job.result.incidents - before.incidents;
    if (done) this.#prune = undefined;
  }

  #report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.#o.onError) this.#o.onError(error);
    else console.error(`sekisho events: ${error.message}`);
  }
}
