/**
 * Reading the event store, for the CLI, the admin page and the reports. Every function is
 * one indexed query and returns plain typed values.
 */
import { and, desc, eq, gte, lt, lte, ne, sql, type SQL } from "drizzle-orm";
import type { Database } from "../store/database.ts";
import { eventRollups, events, incidents } from "./schema.ts";
import type { Category, Incident, Severity, StoredEvent } from "./types.ts";
import { SEVERITY } from "./codes.ts";

/** Most rows one query returns (the admin page pages through more). */
export const MAX_QUERY_LIMIT = 10_000;

const clampLimit = (limit: number): number => Math.max(1, Math.min(MAX_QUERY_LIMIT, Math.floor(limit)));

export type RecentEventsQuery = {
  limit: number;
  category?: Category;
  lanIp?: string;
  /** Only events at or after this time (ms). */
  since?: number;
  /** Only events before this time (ms): the next page after the oldest one shown. */
  before?: number;
};

/** The newest events first (by event time), optionally of one category or one LAN host. */
export async function recentEvents(database: Database, q: RecentEventsQuery): Promise<StoredEvent[]> {
  const where: SQL[] = [];
  if (q.category !== undefined) where.push(eq(events.category, q.category));
  if (q.lanIp !== undefined) where.push(eq(events.lanIp, q.lanIp));
  if (q.since !== undefined) where.push(gte(events.time, q.since));
  if (q.before !== undefined) where.push(lt(events.time, q.before));
  const rows = await database.db.select().from(events).where(and(...where))
    .orderBy(desc(events.time), desc(events.id)).limit(clampLimit(q.limit));
  return rows.map((r) => {
    const e: StoredEvent = {
      id: r.id,
      time: r.time,
      category: r.category,
      severity: r.severity,
      ...r.class,
      logId: r.logId,
      // Not stored: a log id is its rule id, optionally followed by ".variant" (ruleset/meta.ts).
      ruleId: r.logId.split(".")[0]!,
    };
    if (r.lanIp !== null) e.lanIp = r.lanIp;
    if (r.remoteIp !== null) e.remoteIp = r.remoteIp;
    if (r.proto !== null) e.proto = r.proto;
    if (r.port !== null) e.port = r.port;
    if (r.incidentId !== null) e.incidentId = r.incidentId;
    const d = r.detail;
    if (d) {
      if (typeof d.mac === "string") e.lanMac = d.mac;
      if (typeof d.domain === "string") e.domain = d.domain;
      if (typeof d.app === "string") e.app = d.app;
      if (typeof d.message === "string") e.message = d.message;
    }
    return e;
  });
}

export type RecentIncidentsQuery = {
  limit: number;
  category?: Category;
  lanIp?: string;
  /** Only incidents active at or after this time (last seen, ms). */
  since?: number;
  /** Only incidents of at least this severity. */
  minSeverity?: Severity;
};

/** The most recently active incidents first. */
export async function recentIncidents(database: Database, q: RecentIncidentsQuery): Promise<Incident[]> {
  const where: SQL[] = [];
  if (q.category !== undefined) where.push(eq(incidents.category, q.category));
  if (q.lanIp !== undefined) where.push(eq(incidents.lanIp, q.lanIp));
  if (q.since !== undefined) where.push(gte(incidents.lastSeen, q.since));
  if (q.minSeverity !== undefined) where.push(sql`${incidents.severity} >= ${SEVERITY.encode(q.minSeverity)}`);
  const rows = await database.db.select().from(incidents).where(and(...where))
    .orderBy(desc(incidents.lastSeen), desc(incidents.id)).limit(clampLimit(q.limit));
  return rows.map((r) => {
    const s = r.spread;
    const i: Incident = {
      id: r.id, key: r.key, kind: r.kind, category: r.category, severity: r.severity, ruleId: r.logId.split(".")[0]!,
      logId: r.logId, direction: r.direction, action: r.action, firstSeen: r.firstSeen, lastSeen: r.lastSeen,
      count: r.count, ports: s.ports, portCount: s.portCount, lanHosts: s.lanHosts, lanHostCount: s.lanHostCount,
      remotes: s.remotes, remoteCount: s.remoteCount,
    };
    if (r.lanIp !== null) i.lanIp = r.lanIp;
    if (r.lanMac !== null) i.lanMac = r.lanMac;
    if (r.remoteIp !== null) i.remoteIp = r.remoteIp;
    if (r.proto !== null) i.proto = r.proto;
    if (r.domain !== null) i.domain = r.domain;
    if (r.app !== null) i.app = r.app;
    return i;
  });
}

export type RollupRange = {
  /** First hour included (ms; any time inside it). */
  from: number;
  /** Last hour included (ms; any time inside it). */
  to: number;
  category?: Category;
};

export type RollupPoint = { hour: number; category: Category; count: number };

/** Events per hour and category in [from, to], ascending by hour; hours with none are absent. */
export async function rollupSeries(database: Database, q: RollupRange): Promise<RollupPoint[]> {
  const where: SQL[] = [gte(eventRollups.hour, hourFloor(q.from)), lte(eventRollups.hour, hourFloor(q.to))];
  if (q.category !== undefined) where.push(eq(eventRollups.category, q.category));
  const count = sql<number>`sum(${eventRollups.count})`.mapWith(Number);
  const rows = await database.db
    .select({ hour: eventRollups.hour, category: eventRollups.category, count })
    .from(eventRollups).where(and(...where))
    .groupBy(eventRollups.hour, eventRollups.category)
    .orderBy(eventRollups.hour, eventRollups.category);
  return rows;
}

export type RollupDimension = "lanIp" | "remoteIp" | "port" | "domain";
export type RollupTopQuery = RollupRange & { by: RollupDimension; limit: number; minSeverity?: Severity };
/** One value of a dimension and its events; "*" / -1 is "many" (rows folded by the limits). */
export type RollupTopEntry = { value: string | number; count: number };

/**
 * The busiest values of one dimension in [from, to] (top attacked ports, top remotes, LAN
 * hosts, blocked domains), for reports. Events without that dimension ("" / 0) are left out.
 */
export async function rollupTop(database: Database, q: RollupTopQuery): Promise<RollupTopEntry[]> {
  const column = eventRollups[q.by];
  const where: SQL[] = [gte(eventRollups.hour, hourFloor(q.from)), lte(eventRollups.hour, hourFloor(q.to))];
  if (q.category !== undefined) where.push(eq(eventRollups.category, q.category));
  if (q.minSeverity !== undefined) where.push(sql`${eventRollups.severity} >= ${SEVERITY.encode(q.minSeverity)}`);
  where.push(q.by === "port" ? ne(eventRollups.port, 0) : ne(column, ""));
  const count = sql<number>`sum(${eventRollups.count})`.mapWith(Number);
  const rows = await database.db.select({ value: column, count }).from(eventRollups).where(and(...where))
    .groupBy(column).orderBy(desc(count), column).limit(clampLimit(q.limit));
  return rows;
}

const hourFloor = (t: number): number => Math.floor(t / 3_600_000) * 3_600_000;
