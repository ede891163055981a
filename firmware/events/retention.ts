/**
 * Retention: raw events are bounded by age and by row count; rollups (and the incidents that
 * go with them) are kept for at least 400 days, for year-on-year reports.
 *
 * Deletes run in small chunks (`pruneStep`), each its own short transaction, so the event
 * writer can interleave them with its batches and is never blocked for long.
 *
 * Defaults (README "Retention"): raw events 30 days or 1 M rows, whichever is smaller;
 * rollups and incidents 400 days. A million events take about 140 MB on disk (measured), a
 * small share of even an 8 GB SD card, and an office's normal month (hundreds to tens of
 * thousands of events a day) fits well under it; a month of heavy attack is cut by count,
 * not by disk. Deleted pages are reused by later inserts, so the file stops growing at
 * about that size (no VACUUM: it would rewrite the whole file on the card).
 */
import { z } from "zod";
import type { Database } from "../store/database.ts";

const DAY_MS = 86_400_000;
/** The floor: rollups are kept at least this long. */
export const MIN_ROLLUP_DAYS = 400;

export const RetentionConfig = z.object({
  /** Raw events older than this are deleted. */
  maxAgeDays: z.number().positive().max(3650).default(30),
  /** At most this many raw events are kept (the oldest go first). */
  maxRows: z.number().int().min(1000).max(100_000_000).default(1_000_000),
  /** Rollups and incidents older than this are deleted; never less than 400 days. */
  rollupDays: z.number().int().min(MIN_ROLLUP_DAYS).max(3650 * 3).default(MIN_ROLLUP_DAYS),
  /** Rows deleted per step (one short transaction each). */
  chunkRows: z.number().int().min(100).max(100_000).default(5000),
});
export type RetentionConfig = z.infer<typeof RetentionConfig>;

export const DEFAULT_RETENTION: RetentionConfig = RetentionConfig.parse({});

/** A retention setting that breaks the guarantees (rollups under 400 days, …): a programming error. */
export class RetentionConfigError extends Error {
  override name = "RetentionConfigError";
}

export type PruneOptions = Partial<RetentionConfig> & { now: number };

export type PruneResult = {
  eventsByAge: number;
  eventsByCount: number;
  rollups: number;
  incidents: number;
};

/** Where a prune in progress is: the cut-offs are fixed when it starts. */
export type PruneJob = {
  config: RetentionConfig;
  eventCutoff: number;
  rollupCutoff: number;
  phase: "events-age" | "events-count" | "rollups" | "incidents" | "done";
  result: PruneResult;
};

/** Starts a prune (no I/O): cut-offs from `now` and the configuration. */
export function startPrune(options: PruneOptions): PruneJob {
  const parsed = RetentionConfig.safeParse({
    maxAgeDays: options.maxAgeDays, maxRows: options.maxRows, rollupDays: options.rollupDays, chunkRows: options.chunkRows,
  });
  if (!parsed.success) throw new RetentionConfigError(`retention: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  return {
    config,
    eventCutoff: options.now - config.maxAgeDays * DAY_MS,
    rollupCutoff: options.now - config.rollupDays * DAY_MS,
    phase: "events-age",
    result: { eventsByAge: 0, eventsByCount: 0, rollups: 0, incidents: 0 },
  };
}

/**
 * Deletes at most one chunk and advances the job; returns true when the prune is done.
 * Each call is one short auto-committed statement.
 */
export async function pruneStep(database: Database, job: PruneJob): Promise<boolean> {
  const c = database.client;
  const chunk = job.config.chunkRows;
  switch (job.phase) {
    case "events-age": {
      const r = await c.execute({
        sql: "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?)",
        args: [job.eventCutoff, chunk],
      });
      job.result.eventsByAge += r.rowsAffected;
      if (r.rowsAffected < chunk) job.phase = "events-count";
      break;
    }
    case "events-count": {
      // Ids only grow and only the oldest rows are deleted, so keeping ids above
      // max(id) - maxRows keeps at most maxRows rows, without counting the table.
      // Two subqueries: SQLite answers a lone min() or max() from the index end, not both at once.
      const r0 = await c.execute("SELECT (SELECT min(id) FROM events), (SELECT max(id) FROM events)");
      const lo = r0.rows[0]?.[0];
      const hi = r0.rows[0]?.[1];
      if (lo == null || hi == null) { job.phase = "rollups"; break; }
      const keepFrom = Number(hi) - job.config.maxRows + 1;
      if (Number(lo) >= keepFrom) { job.phase = "rollups"; break; }
      const upTo = Math.min(keepFrom, Number(lo) + chunk);
      const r = await c.execute({ sql: "DELETE FROM events WHERE id < ?", args: [upTo] });
      job.result.eventsByCount += r.rowsAffected;
      if (upTo >= keepFrom) job.phase = "rollups";
      break;
    }
    case "rollups": {
      const r = await c.execute({
        sql: "DELETE FROM event_rollups WHERE rowid IN (SELECT rowid FROM event_rollups WHERE hour < ? LIMIT ?)",
        args: [job.rollupCutoff, chunk],
      });
      job.result.rollups += r.rowsAffected;
      if (r.rowsAffected < chunk) job.phase = "incidents";
      break;
    }
    case "incidents": {
      const r = await c.execute({
        sql: "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents WHERE last_seen < ? LIMIT ?)",
        args: [job.rollupCutoff, chunk],
      });
      job.result.incidents += r.rowsAffected;
      if (r.rowsAffected < chunk) job.phase = "done";
      break;
    }
    case "done":
      break;
  }
  return job.phase === "done";
}

/**
 * Applies retention in full (chunk by chunk): raw events by age and by count, rollups and
 * incidents beyond the rollup horizon. Throws RetentionConfigError for settings that break
 * the guarantees (rollups under 400 days).
 */
export async function pruneEvents(database: Database, options: PruneOptions): Promise<PruneResult> {
  const job = startPrune(options);
  while (!(await pruneStep(database, job)));
  return job.result;
}
