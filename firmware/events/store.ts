/**
 * Writing the event store: migrations, and one batch of events, incidents and rollup deltas
 * as one transaction of at most four statements, whatever the batch size. Each statement
 * carries its rows as one JSON array that SQLite unpacks with json_each: libsql prepares
 * every statement it is given anew and crosses into native code per statement, so one
 * statement per table (instead of one per row) is what makes batches cheap (README
 * "Measurements").
 */
import { join } from "node:path";
import type { InStatement } from "@libsql/client";
import { appPath } from "../app-root.ts";
import { applyMigrations, type Database } from "../store/database.ts";
import { ACTION, CATEGORY, DIRECTION, KIND, SEVERITY, encodeClass } from "./codes.ts";
import type { EventDetail, IncidentSpread } from "./schema.ts";
import type { BoxEvent, Incident, RollupRow } from "./types.ts";

/** The drizzle-kit migrations of the event store, next to this file. */
export const EVENT_MIGRATIONS_FOLDER = appPath("firmware", "events", "migrations");

/** Creates or upgrades the event store's tables (idempotent; tracked in `__migrations_events`). */
export async function applyEventMigrations(database: Database): Promise<void> {
  await applyMigrations(database, EVENT_MIGRATIONS_FOLDER, "events");
}

/** A write to the store could not be done (the batch is kept and retried by the writer). */
export class EventStoreError extends Error {
  override name = "EventStoreError";
}

/** Everything one batch writes: new events, incidents opened and updated (current state), rollup deltas. */
export type StoreBatch = {
  events: readonly BoxEvent[];
  /** Incidents opened in this batch (inserted). */
  opened: readonly Incident[];
  /** Incidents that existed before this batch and changed (updated). */
  updated: readonly Incident[];
  rollups: readonly RollupRow[];
};

const EVENT_COLUMNS = [
  "time", "category", "severity", "class", "log_id", "lan_ip", "remote_ip", "proto", "port", "incident_id", "detail",
] as const;

const INCIDENT_COLUMNS = [
  "id", "key", "kind", "category", "severity", "log_id", "direction", "action", "lan_ip", "lan_mac", "remote_ip",
  "proto", "domain", "app", "first_seen", "last_seen", "count", "spread",
] as const;
/** What an incident's later events can change; the rest is fixed by its key when it opens. */
const INCIDENT_MUTABLE = ["severity", "log_id", "action", "lan_mac", "first_seen", "last_seen", "count", "spread"] as const;

const ROLLUP_KEY = ["hour", "category", "severity", "lan_ip", "remote_ip", "port", "domain"] as const;
const ROLLUP_COLUMNS = [...ROLLUP_KEY, "count"] as const;

/** `INSERT INTO t (cols) SELECT value->>0, value->>1, ... FROM json_each(?) WHERE true`. */
const insertFromJson = (table: string, columns: readonly string[]): string =>
  `INSERT INTO ${table} (${columns.join(", ")}) SELECT ${columns.map((_, i) => `value->>${i}`).join(", ")} ` +
  // "WHERE true": SQLite's grammar needs it before an upsert clause on INSERT … SELECT.
  "FROM json_each(?) WHERE true";

const INSERT_EVENTS = insertFromJson("events", EVENT_COLUMNS);
const INSERT_INCIDENTS = insertFromJson("incidents", INCIDENT_COLUMNS);
// Only the columns that change, looked up by primary key: a third cheaper than an upsert of
// the whole row (README "Measurements").
const UPDATE_INCIDENTS = `UPDATE incidents SET ${INCIDENT_MUTABLE.map((c, i) => `${c} = u.value->>${i + 1}`).join(", ")} ` +
  "FROM json_each(?) AS u WHERE incidents.id = u.value->>0";
const UPSERT_ROLLUPS = `${insertFromJson("event_rollups", ROLLUP_COLUMNS)} ON CONFLICT (${ROLLUP_KEY.join(", ")}) ` +
  "DO UPDATE SET count = event_rollups.count + excluded.count";

const n = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** The event's rarely-present fields as the `detail` column's JSON, or null when it has none. */
function eventDetail(e: BoxEvent): EventDetail | null {
  if (e.lanMac === undefined && e.domain === undefined && e.app === undefined && e.message === undefined) return null;
  const d: EventDetail = {};
  if (e.lanMac !== undefined) d.mac = e.lanMac;
  if (e.domain !== undefined) d.domain = e.domain;
  if (e.app !== undefined) d.app = e.app;
  if (e.message !== undefined) d.message = e.message;
  return d;
}

function eventRow(e: BoxEvent): unknown[] {
  const detail = eventDetail(e);
  return [
    e.time, CATEGORY.encode(e.category), SEVERITY.encode(e.severity), encodeClass(e), e.logId,
    n(e.lanIp), n(e.remoteIp), n(e.proto), n(e.port), n(e.incidentId),
    // Nested JSON would come out of `value->>k` as JSON text anyway: store that text.
    detail === null ? null : JSON.stringify(detail),
  ];
}

const spreadOf = (i: Incident): string => JSON.stringify({
  ports: i.ports, portCount: i.portCount, lanHosts: i.lanHosts, lanHostCount: i.lanHostCount,
  remotes: i.remotes, remoteCount: i.remoteCount,
} satisfies IncidentSpread);

function incidentRow(i: Incident): unknown[] {
  return [
    i.id, i.key, KIND.encode(i.kind), CATEGORY.encode(i.category), SEVERITY.encode(i.severity), i.logId,
    DIRECTION.encode(i.direction), ACTION.encode(i.action), n(i.lanIp), n(i.lanMac), n(i.remoteIp), n(i.proto),
    n(i.domain), n(i.app), i.firstSeen, i.lastSeen, i.count, spreadOf(i),
  ];
}

function incidentUpdateRow(i: Incident): unknown[] {
  return [
    i.id, SEVERITY.encode(i.severity), i.logId, ACTION.encode(i.action), n(i.lanMac), i.firstSeen, i.lastSeen, i.count,
    spreadOf(i),
  ];
}

function rollupRow(r: RollupRow): unknown[] {
  return [r.hour, CATEGORY.encode(r.category), SEVERITY.encode(r.severity), r.lanIp, r.remoteIp, r.port, r.domain, r.count];
}

/** The statements of one batch (at most four, each with all its rows). Pure. */
export function buildBatchStatements(batch: StoreBatch): InStatement[] {
  const out: InStatement[] = [];
  if (batch.events.length > 0) out.push({ sql: INSERT_EVENTS, args: [JSON.stringify(batch.events.map(eventRow))] });
  if (batch.opened.length > 0) out.push({ sql: INSERT_INCIDENTS, args: [JSON.stringify(batch.opened.map(incidentRow))] });
  if (batch.updated.length > 0) out.push({ sql: UPDATE_INCIDENTS, args: [JSON.stringify(batch.updated.map(incidentUpdateRow))] });
  if (batch.rollups.length > 0) out.push({ sql: UPSERT_ROLLUPS, args: [JSON.stringify(batch.rollups.map(rollupRow))] });
  return out;
}

/** Writes one batch in one transaction (all or nothing). Throws EventStoreError. */
export async function writeStoreBatch(database: Database, batch: StoreBatch): Promise<void> {
  const statements = buildBatchStatements(batch);
  if (statements.length === 0) return;
  try {
    await database.client.batch(statements, "write");
  } catch (err) {
    throw new EventStoreError(`writing ${batch.events.length} events to the event store failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The id the next incident gets: one past the highest stored (ids are never reused). */
export async function readNextIncidentId(database: Database): Promise<number> {
  const r = await database.client.execute("SELECT coalesce(max(id), 0) + 1 FROM incidents");
  return Number(r.rows[0]?.[0] ?? 1);
}
