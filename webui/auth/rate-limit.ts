/**
 * Login rate limit per client address: a few free attempts, then each failure locks the
 * address out for twice as long as the one before (30 s, 1 min, 2 min, … up to 15 min). A locked
 * address gets 429 without its password being checked at all. Kept in libsql, so a restart
 * does not reset it. The decision is pure (`lockoutMs`); the table is the shell.
 */
import { eq, lt, and } from "drizzle-orm";
import type { Database } from "../../firmware/store/database.ts";
import { formatIpv6Groups, parseIpv6Groups } from "../../policies/net.ts";
import { loginFailures } from "../schema.ts";

export type RateLimitPolicy = {
  /** Failures allowed before the first lockout. */
  freeFailures: number;
  /** The first lockout; each further failure doubles it. */
  firstLockMs: number;
  maxLockMs: number;
  /** Failures are forgotten after this long without one. */
  forgetMs: number;
};

// At most 15 minutes: a device that takes over the admin PC's address must not lock the real
// admin out for long (the box-wide budget keeps guessing slow anyway).
export const DEFAULT_RATE_LIMIT: RateLimitPolicy = { freeFailures: 4, firstLockMs: 30_000, maxLockMs: 15 * 60_000, forgetMs: 24 * 3_600_000 };

/**
 * The box-wide budget, kept under the key `BOX_WIDE`: failures from every address count
 * together, so rotating addresses (an IPv6 /64 is endless) buys a guesser nothing beyond
 * the first 20; then every login waits, at most a minute (the real admin is slowed, not
 * locked out for long). A successful login resets it.
 */
export const BOX_WIDE_RATE_LIMIT: RateLimitPolicy = { freeFailures: 20, firstLockMs: 5_000, maxLockMs: 60_000, forgetMs: 10 * 60_000 };
export const BOX_WIDE = "*";
/** Clients whose failures are remembered at most (the newest). */
export const MAX_TRACKED_CLIENTS = 10_000;

/**
 * The key a client's failures are counted under: its IPv4 address, or the /64 of its IPv6
 * address (a host picks any address in its /64 at will). Pure.
 */
export function rateLimitKey(clientIp: string): string {
  if (!clientIp.includes(":")) return clientIp;
  const g = parseIpv6Groups(clientIp);
  return g === undefined ? clientIp : `${formatIpv6Groups(Uint16Array.of(g[0]!, g[1]!, g[2]!, g[3]!, 0, 0, 0, 0))}/64`;
}

/** How long an address is locked out after its `failures`-th failure in a row (0: not at all). Pure. */
export function lockoutMs(failures: number, policy: RateLimitPolicy = DEFAULT_RATE_LIMIT): number {
  if (failures <= policy.freeFailures) return 0;
  const doublings = Math.min(failures - policy.freeFailures - 1, 30);
  return Math.min(policy.maxLockMs, policy.firstLockMs * 2 ** doublings);
}

/** How long `clientIp` must still wait before a login is checked (0: it may try now). */
export async function loginWaitMs(database: Database, clientIp: string, now: number): Promise<number> {
  const rows = await database.db.select().from(loginFailures).where(eq(loginFailures.clientIp, clientIp));
  const row = rows[0];
  return row === undefined ? 0 : Math.max(0, row.lockedUntil - now);
}

/** Counts a failed login; returns the failures in a row and the lockout it starts (0: none). */
export async function recordLoginFailure(
  database: Database, clientIp: string, now: number, policy: RateLimitPolicy = DEFAULT_RATE_LIMIT,
): Promise<{ failures: number; lockMs: number }> {
  // Old rows go first, so the table stays as small as the set of recent guessers.
  await database.db.delete(loginFailures).where(and(lt(loginFailures.lastFailure, now - policy.forgetMs), lt(loginFailures.lockedUntil, now)));
  const rows = await database.db.select().from(loginFailures).where(eq(loginFailures.clientIp, clientIp));
  const failures = (rows[0]?.failures ?? 0) + 1;
  const lockMs = lockoutMs(failures, policy);
  const values = { clientIp, failures, lastFailure: now, lockedUntil: now + lockMs };
  await database.db.insert(loginFailures).values(values)
    .onConflictDoUpdate({ target: loginFailures.clientIp, set: { failures, lastFailure: now, lockedUntil: now + lockMs } });
  // Bounded: a guesser with endless addresses cannot grow the table without limit (the
  // box-wide row and every lockout still in force are kept).
  await database.client.execute({
    sql: `DELETE FROM webui_login_failures WHERE client_ip != ? AND locked_until < ? AND client_ip IN
      (SELECT client_ip FROM webui_login_failures ORDER BY last_failure DESC LIMIT -1 OFFSET ?)`,
    args: [BOX_WIDE, now, MAX_TRACKED_CLIENTS],
  });
  return { failures, lockMs };
}

/** A successful login forgets the address's failures. */
export async function clearLoginFailures(database: Database, clientIp: string): Promise<void> {
  await database.db.delete(loginFailures).where(eq(loginFailures.clientIp, clientIp));
}
