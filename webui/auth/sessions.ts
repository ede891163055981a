/**
 * Sessions in libsql: an opaque random id in an HttpOnly, SameSite=Strict cookie; the table
 * keeps its SHA-256 (a copy of the database is no key), a per-session CSRF token, and two
 * expiries (idle and absolute). Times come from the caller's clock.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { eq, lt, or } from "drizzle-orm";
import type { Database } from "../../firmware/store/database.ts";
import { sessions } from "../schema.ts";

export type SessionLimits = {
  /** A session unused this long ends (default 30 min). */
  idleMs: number;
  /** A session ends this long after login whatever happens (default 12 h). */
  absoluteMs: number;
};
export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };

/** last_seen is written at most once a minute per session (the SD card). */
const TOUCH_MS = 60_000;

export type Session = { idHash: string; csrf: string; createdAt: number; lastSeen: number };

/** A random token (32 bytes, base64url). */
export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

const hashId = (id: string): string => createHash("sha256").update(id).digest("hex");

/** Whether two tokens are equal, in time independent of where they differ. */
export function tokensEqual(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || a === "" || b === "") return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A new session (after a login): returns the cookie's id and the session. Sweeps expired ones. */
export async function createSession(database: Database, clientIp: string, now: number, limits = DEFAULT_SESSION_LIMITS): Promise<{ id: string; session: Session }> {
  await deleteExpiredSessions(database, now, limits);
  const id = randomToken();
  const session: Session = { idHash: hashId(id), csrf: randomToken(), createdAt: now, lastSeen: now };
  await database.db.insert(sessions).values({ ...session, clientIp });
  return { id, session };
}

/** The live session of a cookie's id, or undefined (an expired one is deleted). */
/**
 * `touch: false` reads without counting as activity: the dashboard's 5 s polling must not
 * keep a session on an unattended PC alive until its absolute expiry.
 */
export async function readSession(
  database: Database, id: string | undefined, now: number, limits = DEFAULT_SESSION_LIMITS, touch = true,
): Promise<Session | undefined> {
  if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
  const idHash = hashId(id);
  const rows = await database.db.select().from(sessions).where(eq(sessions.idHash, idHash));
  const row = rows[0];
  if (row === undefined) return undefined;
  if (now - row.lastSeen > limits.idleMs || now - row.createdAt > limits.absoluteMs) {
    await database.db.delete(sessions).where(eq(sessions.idHash, idHash));
    return undefined;
  }
  if (touch && now - row.lastSeen >= TOUCH_MS) {
    await database.db.update(sessions).set({ lastSeen: now }).where(eq(sessions.idHash, idHash));
  }
  return { idHash, csrf: row.csrf, createdAt: row.createdAt, lastSeen: touch ? now : row.lastSeen };
}

/** Ends one session (logout). */
export async function deleteSession(database: Database, idHash: string): Promise<void> {
  await database.db.delete(sessions).where(eq(sessions.idHash, idHash));
}

/** Ends every session (a password change). */
export async function deleteAllSessions(database: Database): Promise<void> {
  await database.db.delete(sessions);
}

export async function deleteExpiredSessions(database: Database, now: number, limits = DEFAULT_SESSION_LIMITS): Promise<void> {
  await database.db.delete(sessions).where(or(lt(sessions.lastSeen, now - limits.idleMs), lt(sessions.createdAt, now - limits.absoluteMs)));
}
