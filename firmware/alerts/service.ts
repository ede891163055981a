/**
 * The alert pipeline's shell, for the composition root: the event writer's listener runs
 * the engine on each batch (synchronously, so an alert is planned the moment its batch is
 * committed), the changes are written by the store one write at a time, what was written
 * is told back to the engine, and the alert's life events (opened, reopened, escalated,
 * acknowledged, resolved, closed; not every count update) go to the syslog forwarder.
 *
 * Nothing accepted is lost silently: when the store fails, the changes are kept and written
 * with the next batch; only beyond `maxPending` are the oldest dropped, and those are counted
 * and reported.
 */
import type { BoxEvent, Incident } from "../events/types.ts";
import type { AlertEngine } from "./engine.ts";
import type { ActionResult, AlertStore } from "./store.ts";
import { alertToSyslog, type AlertSyslogFields, type AlertSyslogOptions } from "./syslog.ts";
import type { AlertChange } from "./types.ts";

export type AlertServiceOptions = {
  engine: AlertEngine;
  store: AlertStore;
  /** The syslog sender (fire and forget); called after the change is stored. */
  forward?: (message: AlertSyslogFields, change: AlertChange) => void;
  syslog?: AlertSyslogOptions;
  /** Failures the service survives (the store failed, changes dropped, forwarding threw). */
  onError?: (error: Error) => void;
  /** Changes kept while the store fails (default 10,000); beyond, the oldest are dropped and counted. */
  maxPending?: number;
};

export type AlertServiceCounters = {
  batches: number;
  planned: number;
  stored: number;
  replanned: number;
  notifications: number;
  storeFailures: number;
  dropped: number;
  forwarded: number;
  forwardFailures: number;
};

/** The store failed; the changes are kept and retried with the next batch. */
export class AlertWriteError extends Error {
  override name = "AlertWriteError";
}

/** Changes were dropped because the store kept failing and the pending bound was reached. */
export class AlertsDroppedError extends Error {
  override name = "AlertsDroppedError";
}

const FORWARDED: ReadonlySet<AlertChange["type"]> = new Set(["opened", "reopened", "escalated", "acknowledged", "resolved", "closed"]);

export class AlertService {
  readonly #o: AlertServiceOptions;
  #pending: AlertChange[] = [];
  #tail: Promise<void> = Promise.resolve();
  readonly #c: AlertServiceCounters = {
    batches: 0, planned: 0, stored: 0, replanned: 0, notifications: 0, storeFailures: 0, dropped: 0, forwarded: 0, forwardFailures: 0,
  };

  constructor(options: AlertServiceOptions) {
    this.#o = options;
  }

  /** Tells the engine the alerts the store holds (open ones, and recently resolved ones). */
  async start(): Promise<void> {
    this.#o.engine.sync(await this.#o.store.listCurrentAlerts());
  }

  /** The event writer's listener: `writer.onIncidents(service.onIncidents)`. Never rejects. */
  readonly onIncidents = (changed: Incident[], events: BoxEvent[]): Promise<void> => {
    this.#c.batches++;
    let changes: AlertChange[];
    try {
      changes = this.#o.engine.process(events, changed);
    } catch (err) {
      this.#report(new AlertWriteError("the alert engine failed on a batch", { cause: err }));
      return this.#tail;
    }
    if (changes.length === 0 && this.#pending.length === 0) return this.#tail;
    this.#c.planned += changes.length;
    this.#enqueue(changes);
    return this.#schedule();
  };

  /** A person acknowledged an alert (admin page, CLI). */
  async acknowledge(id: string): Promise<ActionResult> {
    return this.#afterAction(await this.#o.store.acknowledge(id));
  }

  /** A person resolved an alert. */
  async resolve(id: string): Promise<ActionResult> {
    return this.#afterAction(await this.#o.store.resolve(id));
  }

  /** Closes quiet low-severity episodes (call it now and then, e.g. with retention). */
  async closeQuietAlerts(): Promise<number> {
    const closed = await this.#o.store.closeQuietAlerts();
    this.#o.engine.sync(closed.map((c) => c.alert));
    for (const c of closed) this.#forward(c);
    return closed.length;
  }

  /** Resolves when everything handed in so far is stored (or has failed and is pending). */
  flush(): Promise<void> {
    return this.#schedule();
  }

  counters(): AlertServiceCounters & { pending: number } {
    return { ...this.#c, pending: this.#pending.length };
  }

  #afterAction(r: ActionResult): ActionResult {
    if (r.ok) {
      this.#o.engine.sync([r.alert]);
      this.#forward(r.change);
    }
    return r;
  }

  #enqueue(changes: AlertChange[]): void {
    this.#pending.push(...changes);
    const max = this.#o.maxPending ?? 10_000;
    if (this.#pending.length > max) {
      const dropped = this.#pending.splice(0, this.#pending.length - max);
      this.#c.dropped += dropped.length;
      // The engine planned on top of what is now lost: let the store re-plan those keys.
      this.#o.engine.forget(dropped.map((c) => c.alert.key));
      this.#report(new AlertsDroppedError(`${dropped.length} alert change(s) dropped: the alert store has been failing`));
    }
  }

  #schedule(): Promise<void> {
    this.#tail = this.#tail.then(() => this.#drain());
    return this.#tail;
  }

  async #drain(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    try {
      const r = await this.#o.store.applyChanges(batch);
      this.#c.stored += r.applied.length;
      this.#c.replanned += r.replanned;
      this.#o.engine.sync(r.applied.map((c) => c.alert));
      for (const c of r.applied) {
        if (c.notification !== undefined) this.#c.notifications++;
        this.#forward(c);
      }
    } catch (err) {
      this.#c.storeFailures++;
      // Keep them, in order, ahead of anything newer; written with the next batch.
      this.#pending = [...batch, ...this.#pending];
      this.#report(new AlertWriteError(`storing ${batch.length} alert change(s) failed; kept for the next batch`, { cause: err }));
    }
  }

  #forward(c: AlertChange): void {
    if (this.#o.forward === undefined || !FORWARDED.has(c.type)) return;
    try {
      this.#o.forward(alertToSyslog(c.alert, this.#o.syslog), c);
      this.#c.forwarded++;
    } catch (err) {
      this.#c.forwardFailures++;
      this.#report(new AlertWriteError("forwarding an alert to syslog failed", { cause: err }));
    }
  }

  #report(err: Error): void {
    try {
      this.#o.onError?.(err);
    } catch {
      // A failing error reporter must not take the pipeline down with it.
    }
  }
}
