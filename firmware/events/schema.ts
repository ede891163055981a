/**
 * The event store's tables (drizzle). Migrations are generated from this file by drizzle-kit
 * into ./migrations (`npx drizzle-kit generate --config firmware/events/drizzle.config.ts`)
 * and applied at start-up with `applyEventMigrations`.
 *
 * - `events`: raw classified events, bounded by age and row count (retention.ts). Enumerations
 *   are stored as small integer codes (codes.ts), kind/direction/action packed in one, and the
 *   rarely-present fields in one JSON column: every column costs on each of the tens of
 *   thousands of inserts a second (README "Measurements"). The rule id is not stored: it is
 *   the log id up to its first "." (the compiler's naming, ruleset/meta.ts).
 * - `incidents`: collapsed events (incidents.ts), kept as long as the rollups.
 * - `event_rollups`: hourly counts per category × severity × LAN host × remote × port × domain
 *   ("" / 0 = none, "*" / -1 = many: rollups.ts), kept at least 400 days.
 */
import type { Incident } from "./types.ts";
import { customType, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { ACTION, CATEGORY, DIRECTION, KIND, SEVERITY, decodeClass, encodeClass, type Codec, type EventClass } from "./codes.ts";

/** An enumeration stored as its integer code, read back as its name. */
const coded = <T extends string>(c: Codec<T>) =>
  customType<{ data: T; driverData: number }>({
    dataType: () => "integer",
    toDriver: (value) => c.encode(value),
    fromDriver: (code) => c.decode(Number(code)),
  });

const category = coded(CATEGORY);
const severity = coded(SEVERITY);
const kind = coded(KIND);
const direction = coded(DIRECTION);
const action = coded(ACTION);
const eventClass = customType<{ data: EventClass; driverData: number }>({
  dataType: () => "integer",
  toDriver: (value) => encodeClass(value),
  fromDriver: (code) => decodeClass(Number(code)),
});

/** What rarely-present fields of an event are kept in one JSON column (absent keys: not known). */
export type EventDetail = { mac?: string; domain?: string; app?: string; message?: string };

export const events = sqliteTable("events", {
  id: integer("id").primaryKey(),
  time: integer("time").notNull(),
  category: category("category").notNull(),
  severity: severity("severity").notNull(),
  /** kind, direction and action packed (codes.ts `encodeClass`). */
  class: eventClass("class").notNull(),
  logId: text("log_id").notNull(),
  lanIp: text("lan_ip"),
  remoteIp: text("remote_ip"),
  proto: text("proto"),
  port: integer("port"),
  incidentId: integer("incident_id"),
  /** LAN MAC, domain, syslog app-name and message, when there are any; else NULL. */
  detail: text("detail", { mode: "json" }).$type<EventDetail>(),
}, (t) => [
  // Recent events (admin page, CLI), retention by age.
  index("events_time").on(t.time),
  index("events_category_time").on(t.category, t.time),
  index("events_lan_time").on(t.lanIp, t.time),
]);

/** An incident's distinct ports, LAN hosts and remotes (Incident's bounded lists and counts). */
export type IncidentSpread = Pick<Incident, "ports" | "portCount" | "lanHosts" | "lanHostCount" | "remotes" | "remoteCount">;

export const incidents = sqliteTable("incidents", {
  id: integer("id").primaryKey(),
  key: text("key").notNull(),
  kind: kind("kind").notNull(),
  category: category("category").notNull(),
  severity: severity("severity").notNull(),
  /** The rule id is not stored: it is the log id up to its first ".". */
  logId: text("log_id").notNull(),
  direction: direction("direction").notNull(),
  action: action("action").notNull(),
  lanIp: text("lan_ip"),
  lanMac: text("lan_mac"),
  remoteIp: text("remote_ip"),
  proto: text("proto"),
  domain: text("domain"),
  app: text("app"),
  firstSeen: integer("first_seen").notNull(),
  lastSeen: integer("last_seen").notNull(),
  count: integer("count").notNull(),
  spread: text("spread", { mode: "json" }).$type<IncidentSpread>().notNull(),
}, (t) => [
  index("incidents_last_seen").on(t.lastSeen),
  index("incidents_category_last_seen").on(t.category, t.lastSeen),
  index("incidents_lan_last_seen").on(t.lanIp, t.lastSeen),
]);

export const eventRollups = sqliteTable("event_rollups", {
  /** Start of the UTC hour, ms since epoch. */
  hour: integer("hour").notNull(),
  category: category("category").notNull(),
  severity: severity("severity").notNull(),
  lanIp: text("lan_ip").notNull().default(""),
  remoteIp: text("remote_ip").notNull().default(""),
  port: integer("port").notNull().default(0),
  domain: text("domain").notNull().default(""),
  count: integer("count").notNull(),
}, (t) => [
  // The key starts with the hour: series and reports read hour ranges.
  primaryKey({ columns: [t.hour, t.category, t.severity, t.lanIp, t.remoteIp, t.port, t.domain] }),
  // Counts per hour and category (the dashboard, polled every 5 s, and the charts) read
  // only this covering index: about a quarter of the time of the key's rows (bench webui).
  index("event_rollups_hour_category").on(t.hour, t.category, t.count),
]);
