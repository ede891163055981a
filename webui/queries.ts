/**
 * The admin page's own read queries over the firmware's tables (events, rollups, alerts).
 * Every one is an indexed range read or a read of hourly rollups, so a page stays fast with a
 * million events: the event search walks the (time, id) index backwards in bounded windows
 * when a filter has no index of its own, and says so instead of scanning the whole table.
 */
import { and, desc, gte, inArray, lte, lt, or, eq, ne, sql, type SQL } from "drizzle-orm";
import { alertFromRow } from "../firmware/alerts/store.ts";
import { alerts } from "../firmware/alerts/schema.ts";
import type { Alert, AlertState, Severity } from "../firmware/alerts/types.ts";
import { CATEGORY, SEVERITY, decodeClass } from "../firmware/events/codes.ts";
import { eventRollups } from "../firmware/events/schema.ts";
import type { Category, StoredEvent } from "../firmware/events/types.ts";
import type { Database } from "../firmware/store/database.ts";

export const CATEGORIES: readonly Category[] = ["inbound", "c2", "web", "malware", "endpoint"];
const HOUR = 3_600_000;
const hourFloor = (t: number): number => Math.floor(t / HOUR) * HOUR;

export type CategoryCounts = Record<Category, number>;
const zeroCounts = (): CategoryCounts => ({ inbound: 0, c2: 0, web: 0, malware: 0, endpoint: 0 });

/** Events per category in the hours [from, to] (rollups). */
export async function categoryCounts(database: Database, from: number, to: number): Promise<CategoryCounts> {
  const r = await database.client.execute({
    sql: "SELECT category, sum(count) FROM event_rollups WHERE hour >= ? AND hour <= ? GROUP BY category",
    args: [hourFloor(from), hourFloor(to)],
  });
  const out = zeroCounts();
  for (const row of r.rows) out[CATEGORY.decode(Number(row[0]))] = Number(row[1]);
  return out;
}

/** One bar of a chart: its start time and the counts per category. */
export type Bucket = { start: number; counts: CategoryCounts };

/**
 * Events per bucket and category in [from, to) (rollups), buckets of `bucketMs` aligned on
 * `from` (a JST midnight for days). Empty buckets are included, so a chart has all its bars.
 */
export async function bucketSeries(database: Database, from: number, to: number, bucketMs: number): Promise<Bucket[]> {
  const r = await database.client.execute({
    sql: "SELECT CAST((hour - ?) / ? AS INTEGER) AS b, category, sum(count) FROM event_rollups WHERE hour >= ? AND hour < ? GROUP BY b, category",
    args: [from, bucketMs, hourFloor(from), to],
  });
  const n = Math.max(1, Math.ceil((to - from) / bucketMs));
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({ start: from + i * bucketMs, counts: zeroCounts() }));
  for (const row of r.rows) {
    const i = Math.floor(Number(row[0]));
    const b = buckets[i];
    if (b) b.counts[CATEGORY.decode(Number(row[1]))] += Number(row[2]);
  }
  return buckets;
}

/**
 * `bucketSeries` for series that end at the present (the dashboard, polled every 5 s by
 * every open page): hours that ended more than `SETTLED_MS` ago no longer change (events are
 * committed within a batch window, well under a minute), so their buckets are read once and
 * kept for at most `KEEP_MS`; each call reads only the recent hours from the store. A new
 * range (the hour moved on) reads everything once again.
 */
export class SettledSeries {
  static readonly SETTLED_MS = 2 * HOUR;
  static readonly KEEP_MS = 10 * 60_000;
  #cached: { key: string; at: number; buckets: Bucket[] } | undefined;

  async read(database: Database, from: number, to: number, bucketMs: number, now: number): Promise<Bucket[]> {
    // Settled buckets: those that end before the cut (bucket-aligned on `from`).
    const cut = from + Math.max(0, Math.floor((now - SettledSeries.SETTLED_MS - from) / bucketMs)) * bucketMs;
    const key = `${from}|${cut}|${bucketMs}`;
    if (this.#cached?.key !== key || now - this.#cached.at > SettledSeries.KEEP_MS) {
      this.#cached = { key, at: now, buckets: cut > from ? await bucketSeries(database, from, cut, bucketMs) : [] };
    }
    const recent = to > cut ? await bucketSeries(database, cut, to, bucketMs) : [];
    return [...this.#cached.buckets.map((b) => ({ start: b.start, counts: { ...b.counts } })), ...recent];
  }
}

/** Events per LAN host and category in [from, to] (rollups): the per-device statistics. */
export async function deviceCategoryCounts(database: Database, from: number, to: number): Promise<Map<string, CategoryCounts>> {
  const r = await database.client.execute({
    sql: "SELECT lan_ip, category, sum(count) FROM event_rollups WHERE hour >= ? AND hour <= ? AND lan_ip != '' AND lan_ip != '*' GROUP BY lan_ip, category",
    args: [hourFloor(from), hourFloor(to)],
  });
  const out = new Map<string, CategoryCounts>();
  for (const row of r.rows) {
    const ip = String(row[0]);
    const c = out.get(ip) ?? zeroCounts();
    c[CATEGORY.decode(Number(row[1]))] += Number(row[2]);
    out.set(ip, c);
  }
  return out;
}

/** Top values of a rollup dimension among events with a domain (blocked sites) in [from, to]. */
export async function topBlockedDomains(database: Database, from: number, to: number, limit: number): Promise<{ value: string; count: number }[]> {
  const count = sql<number>`sum(${eventRollups.count})`.mapWith(Number);
  return database.db.select({ value: eventRollups.domain, count }).from(eventRollups)
    .where(and(gte(eventRollups.hour, hourFloor(from)), lte(eventRollups.hour, hourFloor(to)), ne(eventRollups.domain, ""), ne(eventRollups.domain, "*")))
    .groupBy(eventRollups.domain).orderBy(desc(count), eventRollups.domain).limit(limit);
}

/** LAN hosts with the most events that carry a domain (DNS blocks) in [from, to]. */
export async function topBlockedClients(database: Database, from: number, to: number, limit: number): Promise<{ value: string; count: number }[]> {
  const count = sql<number>`sum(${eventRollups.count})`.mapWith(Number);
  return database.db.select({ value: eventRollups.lanIp, count }).from(eventRollups)
    .where(and(gte(eventRollups.hour, hourFloor(from)), lte(eventRollups.hour, hourFloor(to)), ne(eventRollups.domain, ""), ne(eventRollups.lanIp, ""), ne(eventRollups.lanIp, "*")))
    .groupBy(eventRollups.lanIp).orderBy(desc(count), eventRollups.lanIp).limit(limit);
}

// ---- alerts ------------------------------------------------------------------------------------

export type AlertCursor = { lastSeen: number; id: string };
export type AlertPage = { alerts: Alert[]; next: AlertCursor | undefined };

/** Alerts, most recently seen first, one page after `cursor` (keyset on last seen, id). */
export async function alertPage(
  database: Database,
  q: { states: readonly AlertState[]; severities: readonly Severity[]; cursor?: AlertCursor; limit: number },
): Promise<AlertPage> {
  const where: SQL[] = [];
  if (q.states.length > 0) where.push(inArray(alerts.state, [...q.states]));
  if (q.severities.length > 0) where.push(inArray(alerts.severity, [...q.severities]));
  if (q.cursor) {
    where.push(or(lt(alerts.lastSeen, q.cursor.lastSeen), and(eq(alerts.lastSeen, q.cursor.lastSeen), lt(alerts.id, q.cursor.id)))!);
  }
  const rows = await database.db.select().from(alerts).where(where.length > 0 ? and(...where) : undefined)
    .orderBy(desc(alerts.lastSeen), desc(alerts.id)).limit(q.limit + 1);
  const page = rows.slice(0, q.limit).map(alertFromRow);
  const last = page[page.length - 1];
  return { alerts: page, next: rows.length > q.limit && last ? { lastSeen: last.lastSeen, id: last.id } : undefined };
}

/** Open (not resolved) alerts per LAN address and per MAC. */
export async function unresolvedAlertCounts(database: Database): Promise<{ byIp: Map<string, number>; byMac: Map<string, number> }> {
  const rows = await database.db.select({ ip: alerts.lanIp, mac: alerts.lanMac, n: sql<number>`count(*)`.mapWith(Number) })
    .from(alerts).where(inArray(alerts.state, ["open", "acknowledged"])).groupBy(alerts.lanIp, alerts.lanMac);
  const byIp = new Map<string, number>();
  const byMac = new Map<string, number>();
  for (const r of rows) {
    if (r.mac) byMac.set(r.mac, (byMac.get(r.mac) ?? 0) + r.n);
    else if (r.ip) byIp.set(r.ip, (byIp.get(r.ip) ?? 0) + r.n);
  }
  return { byIp, byMac };
}

/** Open alerts by severity (the dashboard's status). */
export async function openAlertCounts(database: Database): Promise<Record<Severity, number>> {
  const rows = await database.db.select({ s: alerts.severity, n: sql<number>`count(*)`.mapWith(Number) })
    .from(alerts).where(eq(alerts.state, "open")).groupBy(alerts.severity);
  const out: Record<Severity, number> = { high: 0, medium: 0, low: 0 };
  for (const r of rows) if (r.s === "high" || r.s === "medium" || r.s === "low") out[r.s] = r.n;
  return out;
}

// ---- events ------------------------------------------------------------------------------------

export type EventFilter = {
  category?: Category;
  lanIp?: string;
  remoteIp?: string;
  port?: number;
  domain?: string;
  /** [from, to) in ms. */
  from?: number;
  to?: number;
};
export type EventCursor = { time: number; id: number };
export type EventPage = {
  events: StoredEvent[];
  /** Where the next page starts (the last row shown, or the last row looked at in a bounded window). */
  next: EventCursor | undefined;
  /** The filter has no index: this page looked at one window of `scanWindow` rows only. */
  windowed: boolean;
};

/** Rows one page looks through at most when a filter cannot use an index. */
export const SCAN_WINDOW = 20_000;

/**
 * Events, newest first, matching the filter, one page after `cursor` (keyset on time, id).
 * Category, LAN host and time are answered by the indexes (time), (category, time), (lan_ip,
 * time). Remote, port and domain are not indexed: they are matched inside a window of at most
 * SCAN_WINDOW rows of the indexed walk, and `next` continues after that window, so a page
 * never reads more than the window however rare the match.
 */
/** The statements of one event page (pure): the page itself, and where its scan window ends. */
export function eventPageStatements(f: EventFilter, cursor: EventCursor | undefined, limit: number, scanWindow = SCAN_WINDOW): {
  page: { sql: string; args: (string | number)[] };
  windowEdge: { sql: string; args: (string | number)[] } | undefined;
} {
  const indexed: string[] = [];
  const args: (string | number)[] = [];
  if (f.category !== undefined) {
    indexed.push("category = ?");
    args.push(CATEGORY.encode(f.category));
  }
  if (f.lanIp !== undefined) {
    indexed.push("lan_ip = ?");
    args.push(f.lanIp);
  }
  if (f.from !== undefined) {
    indexed.push("time >= ?");
    args.push(f.from);
  }
  if (f.to !== undefined) {
    indexed.push("time < ?");
    args.push(f.to);
  }
  if (cursor !== undefined) {
    indexed.push("(time, id) < (?, ?)");
    args.push(cursor.time, cursor.id);
  }
  const rest: string[] = [];
  const restArgs: (string | number)[] = [];
  if (f.remoteIp !== undefined) {
    rest.push("remote_ip = ?");
    restArgs.push(f.remoteIp);
  }
  if (f.port !== undefined) {
    rest.push("port = ?");
    restArgs.push(f.port);
  }
  if (f.domain !== undefined) {
    rest.push("json_extract(detail, '$.domain') = ?");
    restArgs.push(f.domain);
  }
  const cols = "id, time, category, severity, class, log_id, lan_ip, remote_ip, proto, port, incident_id, detail";
  const whereIndexed = indexed.length > 0 ? `WHERE ${indexed.join(" AND ")}` : "";
  const order = "ORDER BY time DESC, id DESC";
  if (rest.length === 0) {
    return { page: { sql: `SELECT ${cols} FROM events ${whereIndexed} ${order} LIMIT ?`, args: [...args, limit + 1] }, windowEdge: undefined };
  }
  return {
    page: {
      sql: `SELECT ${cols} FROM (SELECT ${cols} FROM events ${whereIndexed} ${order} LIMIT ?) WHERE ${rest.join(" AND ")} ${order} LIMIT ?`,
      args: [...args, scanWindow, ...restArgs, limit + 1],
    },
    windowEdge: { sql: `SELECT time, id FROM events ${whereIndexed} ${order} LIMIT 1 OFFSET ?`, args: [...args, scanWindow - 1] },
  };
}

/**
 * Events, newest first, matching the filter, one page after `cursor` (keyset on time, id).
 * Category, LAN host and time are answered by the indexes (time), (category, time), (lan_ip,
 * time). Remote, port and domain are not indexed: they are matched inside a window of at most
 * `scanWindow` rows of the indexed walk, and `next` continues after that window, so a page
 * never reads more than the window however rare the match.
 */
export async function eventPage(database: Database, f: EventFilter, cursor: EventCursor | undefined, limit: number, scanWindow = SCAN_WINDOW): Promise<EventPage> {
  const q = eventPageStatements(f, cursor, limit, scanWindow);
  const rows = (await database.client.execute(q.page)).rows;
  const events = rows.slice(0, limit).map((r) => toStoredEvent(r as unknown as Record<string, unknown>));
  const last = events[events.length - 1];
  if (rows.length > limit && last) return { events, next: { time: last.time, id: last.id }, windowed: q.windowEdge !== undefined };
  if (q.windowEdge === undefined) return { events, next: undefined, windowed: false };
  // Fewer matches than a page: continue after the window, if the window was full.
  const e = (await database.client.execute(q.windowEdge)).rows[0];
  return { events, next: e ? { time: Number(e[0]), id: Number(e[1]) } : undefined, windowed: true };
}

function toStoredEvent(r: Record<string, unknown>): StoredEvent {
  const cls = decodeClass(Number(r.class));
  const logId = String(r.log_id);
  const e: StoredEvent = {
    id: Number(r.id),
    time: Number(r.time),
    category: CATEGORY.decode(Number(r.category)),
    severity: SEVERITY.decode(Number(r.severity)),
    ...cls,
    logId,
    ruleId: logId.split(".")[0]!,
  };
  if (r.lan_ip !== null) e.lanIp = String(r.lan_ip);
  if (r.remote_ip !== null) e.remoteIp = String(r.remote_ip);
  if (r.proto !== null) e.proto = String(r.proto);
  if (r.port !== null) e.port = Number(r.port);
  if (r.incident_id !== null) e.incidentId = Number(r.incident_id);
  if (typeof r.detail === "string") {
    try {
      const d = JSON.parse(r.detail) as Record<string, unknown>;
      if (typeof d.mac === "string") e.lanMac = d.mac;
      if (typeof d.domain === "string") e.domain = d.domain;
      if (typeof d.app === "string") e.app = d.app;
      if (typeof d.message === "string") e.message = d.message;
    } catch {
      // A detail that is not JSON shows as no detail: the row's other columns still stand.
    }
  }
  return e;
}

/** Row counts for the diagnostic bundle (cheap: max(id) for events, counts for small tables). */
export async function storeCounts(database: Database): Promise<Record<string, number>> {
  const one = async (q: string): Promise<number> => Number((await database.client.execute(q)).rows[0]?.[0] ?? 0);
  return {
    eventsMaxId: await one("SELECT coalesce(max(id), 0) FROM events"),
    incidents: await one("SELECT count(*) FROM incidents"),
    alerts: await one("SELECT count(*) FROM alerts"),
    alertsOpen: await one("SELECT count(*) FROM alerts WHERE state = 'open'"),
    devices: await one("SELECT count(*) FROM inventory_devices"),
    sessions: await one("SELECT count(*) FROM webui_sessions"),
  };
}
