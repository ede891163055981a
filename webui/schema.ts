/**
 * The admin page's own tables (drizzle). Migrations are generated from this file by
 * drizzle-kit into ./migrations (`npx drizzle-kit generate --config webui/drizzle.config.ts`)
 * and applied at start-up with `applyWebuiMigrations` (webui/store.ts).
 *
 * - `webui_admin`: the one admin password, as an scrypt record (never the password).
 * - `webui_sessions`: logged-in browsers. The cookie carries a random id; the table keeps only
 *   its SHA-256, so a copy of the database (a diagnostic bundle, a stolen SD card) cannot be
 *   replayed as a session.
 * - `webui_login_failures`: failed logins per client address, for the growing lockout.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const adminPassword = sqliteTable("webui_admin", {
  /** Always 1: the box has one admin password. */
  id: integer("id").primaryKey(),
  /** "scrypt$N$r$p$salt$hash" (base64url salt and hash). */
  hash: text("hash").notNull(),
  createdAt: integer("created_at").notNull(),
  changedAt: integer("changed_at").notNull(),
});

export const sessions = sqliteTable("webui_sessions", {
  /** SHA-256 of the cookie's session id, hex. */
  idHash: text("id_hash").primaryKey(),
  /** The CSRF token every form of this session carries. */
  csrf: text("csrf").notNull(),
  createdAt: integer("created_at").notNull(),
  lastSeen: integer("last_seen").notNull(),
  /** The client address that logged in (shown in the operator log only). */
  clientIp: text("client_ip").notNull(),
}, (t) => [index("webui_sessions_last_seen").on(t.lastSeen)]);

export const loginFailures = sqliteTable("webui_login_failures", {
  clientIp: text("client_ip").primaryKey(),
  /** Failed attempts since the last success (or since they were forgotten). */
  failures: integer("failures").notNull(),
  lastFailure: integer("last_failure").notNull(),
  /** No attempt is even checked before this time (ms). */
  lockedUntil: integer("locked_until").notNull(),
}, (t) => [
  // Forgetting old rows (and dropping the oldest beyond the cap) reads by time.
  index("webui_login_failures_last").on(t.lastFailure),
]);
