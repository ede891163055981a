/**
 * The per-device admin password: generated once at first start (printed for the label), kept
 * only as an scrypt record (memory-hard: a stolen database costs an attacker 32 MiB and tens
 * of ms per guess), checked with a timing-safe compare.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Database } from "../../firmware/store/database.ts";
import { adminPassword } from "../schema.ts";

/** scrypt cost: N = 2^15, r = 8 (32 MiB, about 50-100 ms on a Pi 4). */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
export type ScryptCost = { N: number; r: number; p: number };

/** Characters of a generated password: no 0/o, 1/l/i, so it can be read off a label and typed. */
export const PASSWORD_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz";
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A readable random password: four groups of four from PASSWORD_ALPHABET (about 79 bits). */
export function generatePassword(): string {
  const out: string[] = [];
  const n = PASSWORD_ALPHABET.length;
  // Rejection sampling: bytes at or above the largest multiple of n would bias the first letters.
  const limit = 256 - (256 % n);
  while (out.length < 16) {
    for (const b of randomBytes(32)) {
      if (b < limit && out.length < 16) out.push(PASSWORD_ALPHABET[b % n]!);
    }
  }
  return [0, 4, 8, 12].map((i) => out.slice(i, i + 4).join("")).join("-");
}

/** The scrypt record of a password ("scrypt$N$r$p$salt$hash"). */
export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, cost);
  return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** Whether `password` matches the record (false for a record that does not parse). */
export async function verifyPassword(password: string, record: string): Promise<boolean> {
  const parts = record.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isSafeInteger(x) && x > 0) || N > 2 ** 20) return false;
  const salt = Buffer.from(parts[4]!, "base64url");
  const expected = Buffer.from(parts[5]!, "base64url");
  if (expected.length !== KEY_LENGTH || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await scryptAsync(password, salt, { N, r, p });
  return timingSafeEqual(key, expected);
}

/**
 * Makes sure the box has an admin password. On first start it generates one, stores its
 * hash and returns the password (ONCE); on every later start it returns undefined.
 *
 * `keep` is called with the password BEFORE its hash is stored (the firmware writes the
 * label there): if it fails, nothing is stored and the next start tries again, so a hash is
 * never stored for a password nobody can read. `reuse` is a password already on the label (a
 * start that died between the label and the hash, or a reset database): it is stored again
 * rather than a new one made.
 */
export async function ensureAdminPassword(
  database: Database,
  options: { clock?: () => number; cost?: ScryptCost; keep?: (password: string) => Promise<void>; reuse?: string | undefined } = {},
): Promise<string | undefined> {
  const existing = await database.db.select({ id: adminPassword.id }).from(adminPassword).where(eq(adminPassword.id, 1));
  if (existing.length > 0) return undefined;
  const reuse = options.reuse !== undefined && options.reuse.length >= MIN_PASSWORD_LENGTH && options.reuse.length <= MAX_PASSWORD_LENGTH ? options.reuse : undefined;
  const password = reuse ?? generatePassword();
  await options.keep?.(password);
  const now = (options.clock ?? Date.now)();
  const hash = await hashPassword(password, options.cost);
  // Two starts racing: the first insert wins, and only its caller learns the password.
  const inserted = await database.db.insert(adminPassword).values({ id: 1, hash, createdAt: now, changedAt: now })
    .onConflictDoNothing().returning({ id: adminPassword.id });
  return inserted.length === 1 ? password : undefined;
}

/** Checks the admin password against the stored record (false when none is stored). */
export async function checkAdminPassword(database: Database, password: string): Promise<boolean> {
  const rows = await database.db.select({ hash: adminPassword.hash }).from(adminPassword).where(eq(adminPassword.id, 1));
  const record = rows[0]?.hash;
  if (record === undefined) return false;
  return verifyPassword(password, record);
}

/** Replaces the admin password's record (the caller checked the current one). */
export async function storeAdminPassword(database: Database, password: string, now: number, cost?: ScryptCost): Promise<void> {
  const hash = await hashPassword(password, cost);
  await database.db.insert(adminPassword).values({ id: 1, hash, createdAt: now, changedAt: now })
    .onConflictDoUpdate({ target: adminPassword.id, set: { hash, changedAt: now } });
}
