/**
 * The history of applied policies and local changes, in the box's database (`policy_history`).
 * Each write inserts one row and trims the table to the newest `MAX_HISTORY_ROWS` in the same
 * transaction.
 */
import { desc, lte, sql } from "drizzle-orm";
import { z } from "zod";
import { OverrideChange, type PolicyHistoryEntry } from "../../policies/overrides.ts";
import { appPath } from "../app-root.ts";
import { applyMigrations, type Database } from "../store/database.ts";
import type { PolicyDiff } from "./diff.ts";
import { policyHistory } from "./schema.ts";

/** The policy history's drizzle-kit migrations: applyMigrations(database, POLICY_MIGRATIONS, "policy"). */
export const POLICY_MIGRATIONS = appPath("firmware", "policy", "migrations");

/** Applies the policy history's migrations (idempotent). */
export async function applyPolicyMigrations(database: Database): Promise<void> {
  await applyMigrations(database, POLICY_MIGRATIONS, "policy");
}

export const MAX_HISTORY_ROWS = 1000;

const Ids = z.array(z.string().max(100)).max(10_000);
const StoredDiff = z.object({ added: Ids, removed: Ids, changed: Ids });

export type HistoryRecord =
  | { source: "local"; policy: { id: string; serial: number }; change: OverrideChange }
  | { source: "provider"; policy: { id: string; serial: number }; diff: PolicyDiff };

export class PolicyHistory {
  readonly #database: Database;
  readonly #clock: () => number;
  readonly #max: number;

  constructor(opts: { database: Database; clock?: () => number; maxRows?: number }) {
    this.#database = opts.database;
    this.#clock = opts.clock ?? Date.now;
    this.#max = opts.maxRows ?? MAX_HISTORY_ROWS;
  }

  /** Adds one row, and drops the oldest beyond the bound, in one transaction. */
  async record(r: HistoryRecord): Promise<void> {
    const row = {
      time: this.#clock(), source: r.source, policyId: r.policy.id, serial: r.policy.serial,
      change: r.source === "local" ? JSON.stringify(r.change) : null,
      diff: r.source === "provider" ? JSON.stringify(r.diff) : null,
    };
    const db = this.#database.db;
    await db.batch([
      db.insert(policyHistory).values(row),
      // Everything up to the newest row that falls outside the bound (found by the primary key).
      db.delete(policyHistory).where(lte(policyHistory.id,
        sql`(SELECT ${policyHistory.id} FROM ${policyHistory} ORDER BY ${policyHistory.id} DESC LIMIT 1 OFFSET ${this.#max})`)),
    ]);
  }

  /**
   * The newest `limit` rows (at most the bound; none for a limit below 1), newest first. A row whose JSON no
   * longer parses (written by another version) is shown without its change or diff.
   */
  async list(limit: number): Promise<PolicyHistoryEntry[]> {
    const n = Math.min(this.#max, Math.floor(limit));
    if (!(n >= 1)) return []; // also NaN
    const rows = await this.#database.db.select().from(policyHistory).orderBy(desc(policyHistory.id)).limit(n);
    return rows.map((row) => {
      const entry: PolicyHistoryEntry = {
        id: row.id, time: row.time, source: row.source === "provider" ? "provider" : "local", policyId: row.policyId, serial: row.serial,
      };
      const change = row.change === null ? undefined : OverrideChange.safeParse(parseJson(row.change));
      if (change?.success) entry.change = change.data;
      const diff = row.diff === null ? undefined : StoredDiff.safeParse(parseJson(row.diff));
      if (diff?.success) entry.diff = diff.data;
      return entry;
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // reported as "no change/diff" by the schema that reads it
  }
}
