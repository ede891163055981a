/**
 * The alert store: the imperative shell around the planner. Alerts, their heads (the
 * optimistic-concurrency guard per identity key) and the notification outbox live in the
 * one database; every change is written with one `client.batch` (one transaction that runs
 * to its end without yielding, so another capability's write cannot interleave with it on
 * the shared connection).
 *
 * A change carries the key version it was planned against. The first statement for a key
 * moves the key's head from that version (and stamps it with this batch's token); every
 * other statement for the key (the alert row, the outbox row) runs only if the head carries
 * the token. So an alert and its notification are written together or not at all, and a
 * change planned on a stale view (restart, a person resolved the alert meanwhile) writes
 * nothing: its observations are re-planned on the stored row and written in a follow-up
 * transaction.
 */
import { join } from "node:path";
import { appPath } from "../app-root.ts";
import { and, desc, eq, getTableColumns, inArray, isNull, ne, or, gte, sql, type SQL } from "drizzle-orm";
import type { InStatement } from "@libsql/client";
import { z } from "zod";
import { applyMigrations, type Database } from "../store/database.ts";
import { DEFAULT_ALERT_CONFIG, type AlertConfig } from "./config.ts";
import { planObservations, type PlanContext } from "./plan.ts";
import { alertHeads, alertOutbox, alerts, type AlertInsert, type AlertRow } from "./schema.ts";
import { transitionAlert, type AlertAction, type TransitionError } from "./states.ts";
import {
  ALERT_KINDS, ALERT_STATES, SEVERITIES,
  type Alert, type AlertChange, type AlertState, type NotificationReason, type Observation, type Severity,
} from "./types.ts";

/** The drizzle-kit migrations of the alert store, next to this file. */
export const ALERT_MIGRATIONS_FOLDER = appPath("firmware", "alerts", "migrations");

/** Creates or upgrades the alert store's tables (idempotent; tracked in `__migrations_alerts`). */
export async function applyAlertMigrations(database: Database): Promise<void> {
  await applyMigrations(database, ALERT_MIGRATIONS_FOLDER, "alerts");
}

/** The store could not do what it was asked (the database failed, or a stored row is not an alert). */
export class AlertStoreError extends Error {
  override name = "AlertStoreError";
}

export type AlertStoreOptions = {
  database: Database;
  /** Wall clock (ms); default Date.now. */
  clock?: () => number;
  config?: AlertConfig;
  /** Alert ids for re-planned alerts; default crypto.randomUUID. */
  newId?: () => string;
  /** Follow-up transactions for re-planned keys before giving up (default 3). */
  maxReplans?: number;
};

export type ApplyResult = {
  /** The changes as written (re-planned ones replace the stale plan), in order. */
  applied: AlertChange[];
  /** Observations that had to be re-planned on the stored rows. */
  replanned: number;
};

export type AlertQuery = {
  state?: AlertState | readonly AlertState[];
  severity?: Severity | readonly Severity[];
  /** 1 … 1000. */
  limit: number;
};

export type ActionError = { code: "not-found"; id: string; message: string } | TransitionError;
export type ActionResult = { ok: true; alert: Alert; change: AlertChange } | { ok: false; error: ActionError };

export type OutboxEntry = {
  id: number;
  alertId: string;
  reason: NotificationReason;
  severity: Severity;
  createdAt: number;
  /** The alert as it was when the notification was decided. */
  alert: Alert;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt: number | undefined;
  lastError: string | undefined;
};

// ---- rows ↔ alerts --------------------------------------------------------------------------

const Text = z.string().max(1_000);
const RuleRef = z.object({ id: Text, logId: Text, title: z.object({ ja: Text, en: Text }) });
const EvidenceSchema = z.object({
  rules: z.array(RuleRef).max(64),
  remotes: z.array(Text).max(256),
  remotesMore: z.boolean(),
  ports: z.array(z.number().int().min(0).max(65535)).max(256),
  portsMore: z.boolean(),
  protos: z.array(Text).max(64),
  targets: z.array(Text).max(256),
  targetsMore: z.boolean(),
  incidentIds: z.array(z.number().int()).max(256),
  message: Text.optional(),
  app: Text.optional(),
  syslogSeverity: z.number().int().min(0).max(7).optional(),
});
const DeviceSchema = z.object({ ip: Text.optional(), mac: Text.optional(), name: Text.optional(), vendor: Text.optional() });
const AlertSchema = z.object({
  id: Text,
  key: Text,
  kind: z.enum(ALERT_KINDS as [string, ...string[]]).transform((k) => k as Alert["kind"]),
  category: z.enum(["inbound", "c2", "web", "malware", "endpoint"]),
  severity: z.enum(SEVERITIES as [Severity, ...Severity[]]),
  state: z.enum(ALERT_STATES as [AlertState, ...AlertState[]]),
  firstSeen: z.number(),
  lastSeen: z.number(),
  count: z.number().int().min(0),
  openedAt: z.number(),
  updatedAt: z.number(),
  acknowledgedAt: z.number().optional(),
  resolvedAt: z.number().optional(),
  resolvedBy: z.enum(["user", "system"]).optional(),
  reopenCount: z.number().int().min(0),
  version: z.number().int().min(1),
  device: DeviceSchema,
  evidence: EvidenceSchema,
});

function json(text: string, what: string, id: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AlertStoreError(`alert ${id}: its ${what} is not JSON`, { cause: err });
  }
}

/** A stored row as an Alert (parsed: a row that is not one is an error, not a guess). */
export function alertFromRow(row: AlertRow): Alert {
  const candidate = {
    id: row.id, key: row.key, kind: row.kind, category: row.category, severity: row.severity, state: row.state,
    firstSeen: row.firstSeen, lastSeen: row.lastSeen, count: row.count, openedAt: row.openedAt, updatedAt: row.updatedAt,
    acknowledgedAt: row.acknowledgedAt ?? undefined, resolvedAt: row.resolvedAt ?? undefined, resolvedBy: row.resolvedBy ?? undefined,
    reopenCount: row.reopenCount, version: row.version,
    device: json(row.device, "device", row.id), evidence: json(row.evidence, "evidence", row.id),
  };
  const r = AlertSchema.safeParse(candidate);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new AlertStoreError(`alert ${row.id} in the store is not a valid alert: ${issues}`);
  }
  return stripUndefined(r.data) as Alert;
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function alertToRow(a: Alert): AlertInsert {
  return {
    id: a.id, key: a.key, kind: a.kind, category: a.category, severity: a.severity, state: a.state,
    firstSeen: a.firstSeen, lastSeen: a.lastSeen, count: a.count, openedAt: a.openedAt, updatedAt: a.updatedAt,
    acknowledgedAt: a.acknowledgedAt ?? null, resolvedAt: a.resolvedAt ?? null, resolvedBy: a.resolvedBy ?? null,
    reopenCount: a.reopenCount, version: a.version,
    lanIp: a.device.ip ?? null, lanMac: a.device.mac ?? null,
    device: JSON.stringify(a.device), evidence: JSON.stringify(a.evidence),
  };
}

// ---- the statements of a write ----------------------------------------------------------------
// Fixed texts built once from the drizzle schema (so they follow it), with positional
// arguments: building each statement through the query builder cost more than running it.

const ALERT_COLUMNS = Object.entries(getTableColumns(alerts)).map(([prop, col]) => ({ prop: prop as keyof AlertInsert, name: col.name }));
const OUTBOX_COLUMNS = ["alertId", "reason", "severity", "createdAt", "payload", "attempts", "nextAttemptAt"] as const;
const outboxColumn = (prop: (typeof OUTBOX_COLUMNS)[number]): string => getTableColumns(alertOutbox)[prop].name;
const q = (name: string): string => `"${name}"`;

/** Runs only if the key's head carries this write's token (the head guard passed). */
const GATE = `EXISTS (SELECT 1 FROM ${q("alert_heads")} WHERE ${q(alertHeads.key.name)} = ? AND ${q(alertHeads.writeToken.name)} = ?)`;
const HEAD_INSERT = `INSERT INTO ${q("alert_heads")} (${[alertHeads.key, alertHeads.alertId, alertHeads.version, alertHeads.writeToken].map((c) => q(c.name)).join(", ")}) ` +
  "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING";
const HEAD_UPDATE = `UPDATE ${q("alert_heads")} SET ${q(alertHeads.alertId.name)} = ?, ${q(alertHeads.version.name)} = ?, ${q(alertHeads.writeToken.name)} = ? ` +
  `WHERE ${q(alertHeads.key.name)} = ? AND ${q(alertHeads.version.name)} = ?`;
const ALERT_INSERT = `INSERT INTO ${q("alerts")} (${ALERT_COLUMNS.map((c) => q(c.name)).join(", ")}) ` +
  `SELECT ${ALERT_COLUMNS.map(() => "?").join(", ")} WHERE ${GATE}`;
const ALERT_UPDATE = `UPDATE ${q("alerts")} SET ${ALERT_COLUMNS.filter((c) => c.prop !== "id").map((c) => `${q(c.name)} = ?`).join(", ")} ` +
  `WHERE ${q(alerts.id.name)} = ? AND ${GATE}`;
const OUTBOX_INSERT = `INSERT INTO ${q("alert_outbox")} (${OUTBOX_COLUMNS.map((c) => q(outboxColumn(c))).join(", ")}) ` +
  `SELECT ${OUTBOX_COLUMNS.map(() => "?").join(", ")} WHERE ${GATE}`;

type Arg = string | number | null;
const rowArgs = (row: AlertInsert, props: readonly { prop: keyof AlertInsert }[]): Arg[] => props.map((c) => (row[c.prop] ?? null) as Arg);

// ---- the store ------------------------------------------------------------------------------

export class AlertStore {
  readonly #o: AlertStoreOptions;
  /** Mutations run one after another (read-plan-write must not interleave within the process). */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: AlertStoreOptions) {
    this.#o = options;
  }

  get #config(): AlertConfig {
    return this.#o.config ?? DEFAULT_ALERT_CONFIG;
  }

  #now(): number {
    return (this.#o.clock ?? Date.now)();
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(work, work);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /**
   * Writes planned changes (from the engine) in one transaction; changes planned against a
   * key that has moved on are re-planned on the stored row and written in a follow-up
   * transaction. Every notification is written in the same transaction as its alert.
   * Throws AlertStoreError when the database fails (then nothing of that transaction is written).
   */
  applyChanges(changes: readonly AlertChange[]): Promise<ApplyResult> {
    return this.#serial(() => this.#apply(changes));
  }

  async #apply(changes: readonly AlertChange[]): Promise<ApplyResult> {
    const applied: AlertChange[] = [];
    let replanned = 0;
    let pending = changes;
    const maxReplans = this.#o.maxReplans ?? 3;
    for (let round = 0; pending.length > 0; round++) {
      const { written, conflicts } = await this.#write(pending);
      applied.push(...written);
      if (conflicts.size === 0) break;
      if (round >= maxReplans) {
        throw new AlertStoreError(`alert keys kept changing under the store (${[...conflicts].slice(0, 3).join(", ")}); gave up after ${maxReplans} re-plans`);
      }
      // The observations behind the stale changes, each once, in their order.
      const seen = new Set<Observation>();
      const observations: Observation[] = [];
      for (const c of pending) {
        if (c.observation !== undefined && conflicts.has(c.alert.key) && !seen.has(c.observation)) {
          seen.add(c.observation);
          observations.push(c.observation);
        }
      }
      const view = await this.#readCurrent([...conflicts]);
      const ctx: PlanContext = { now: this.#now(), config: this.#config, newId: this.#o.newId ?? (() => crypto.randomUUID()) };
      pending = planObservations(view, observations, ctx);
      replanned += observations.length;
    }
    return { applied, replanned };
  }

  /** One transaction: per key, one guarded head move, then its alert and outbox rows gated on it. */
  async #write(changes: readonly AlertChange[]): Promise<{ written: AlertChange[]; conflicts: Set<string> }> {
    const token = crypto.randomUUID();
    const now = this.#now();
    // Group by key, keeping order; a group must be a chain (each change based on the one before).
    const groups = new Map<string, AlertChange[]>();
    for (const c of changes) {
      const g = groups.get(c.alert.key);
      if (g) g.push(c);
      else groups.set(c.alert.key, [c]);
    }
    const conflicts = new Set<string>();
    const statements: InStatement[] = [];
    const guards: { key: string; index: number; group: AlertChange[] }[] = [];
    const updateColumns = ALERT_COLUMNS.filter((c) => c.prop !== "id");
    for (const [key, group] of groups) {
      const chained = group.every((c, i) => i === 0 || c.base === group[i - 1]!.alert.version);
      if (!chained) {
        conflicts.add(key);
        continue;
      }
      const first = group[0]!;
      const last = group[group.length - 1]!;
      guards.push({ key, index: statements.length, group });
      statements.push(first.base === 0
        ? { sql: HEAD_INSERT, args: [key, last.alert.id, last.alert.version, token] }
        : { sql: HEAD_UPDATE, args: [last.alert.id, last.alert.version, token, key, first.base] });
      const written = new Set<string>();
      for (const c of group) {
        const row = alertToRow(c.alert);
        const isNew = c.type === "opened" && !written.has(c.alert.id);
        statements.push(isNew
          ? { sql: ALERT_INSERT, args: [...rowArgs(row, ALERT_COLUMNS), key, token] }
          : { sql: ALERT_UPDATE, args: [...rowArgs(row, updateColumns), c.alert.id, key, token] });
        written.add(c.alert.id);
        if (c.notification !== undefined) {
          statements.push({
            sql: OUTBOX_INSERT,
            args: [c.alert.id, c.notification, c.alert.severity, now, JSON.stringify(c.alert), 0, now, key, token],
          });
        }
      }
    }
    if (statements.length === 0) return { written: [], conflicts };
    let results: { rowsAffected: number }[];
    try {
      results = await this.#o.database.client.batch(statements, "write");
    } catch (err) {
      throw new AlertStoreError(`writing ${changes.length} alert change(s) failed: ${(err as Error).message}`, { cause: err });
    }
    const written: AlertChange[] = [];
    for (const g of guards) {
      if ((results[g.index]?.rowsAffected ?? 0) === 1) written.push(...g.group);
      else conflicts.add(g.key);
    }
    return { written, conflicts };
  }

  /** The latest alert of each key (what the planner plans against). */
  async #readCurrent(keys: readonly string[]): Promise<Map<string, Alert>> {
    const view = new Map<string, Alert>();
    const { db } = this.#o.database;
    for (let i = 0; i < keys.length; i += 500) {
      const rows = await db.select({ a: alerts }).from(alertHeads)
        .innerJoin(alerts, eq(alerts.id, alertHeads.alertId))
        .where(inArray(alertHeads.key, keys.slice(i, i + 500)));
      for (const { a } of rows) view.set(a.key, alertFromRow(a));
    }
    return view;
  }

  /** Alerts, most recently seen first. */
  async listAlerts(query: AlertQuery): Promise<Alert[]> {
    const limit = Math.max(1, Math.min(1000, Math.trunc(query.limit)));
    const conds: SQL[] = [];
    const states = query.state === undefined ? [] : typeof query.state === "string" ? [query.state] : [...query.state];
    const severities = query.severity === undefined ? [] : typeof query.severity === "string" ? [query.severity] : [...query.severity];
    if (states.length > 0) conds.push(inArray(alerts.state, states));
    if (severities.length > 0) conds.push(inArray(alerts.severity, severities));
    const rows = await this.#o.database.db.select().from(alerts)
      .where(conds.length > 0 ? and(...conds) : undefined)
      .orderBy(desc(alerts.lastSeen), desc(alerts.openedAt))
      .limit(limit);
    return rows.map(alertFromRow);
  }

  async getAlert(id: string): Promise<Alert | undefined> {
    const rows = await this.#o.database.db.select().from(alerts).where(eq(alerts.id, id)).limit(1);
    return rows[0] ? alertFromRow(rows[0]) : undefined;
  }

  /**
   * The alerts the engine should know at start-up: every alert that is not resolved, and
   * those resolved by a person within the dedupe window (a recurrence reopens them).
   */
  async listCurrentAlerts(): Promise<Alert[]> {
    const since = this.#now() - this.#config.dedupeWindowMs;
    const rows = await this.#o.database.db.select({ a: alerts }).from(alertHeads)
      .innerJoin(alerts, eq(alerts.id, alertHeads.alertId))
      .where(or(ne(alerts.state, "resolved"), and(eq(alerts.resolvedBy, "user"), gte(alerts.resolvedAt, since))));
    return rows.map(({ a }) => alertFromRow(a));
  }

  /** A person saw the alert and is on it (open → acknowledged). */
  acknowledge(id: string): Promise<ActionResult> {
    return this.#serial(() => this.#act(id, "acknowledge"));
  }

  /** A person fixed it (open / acknowledged → resolved). */
  resolve(id: string): Promise<ActionResult> {
    return this.#serial(() => this.#act(id, "resolve"));
  }

  async #act(id: string, action: AlertAction): Promise<ActionResult> {
    for (let round = 0; round < 3; round++) {
      const current = await this.getAlert(id);
      if (current === undefined) return { ok: false, error: { code: "not-found", id, message: `no alert ${id}` } };
      const r = transitionAlert(current, action, this.#now());
      if (!r.ok) return r;
      const change: AlertChange = {
        type: action === "acknowledge" ? "acknowledged" : "resolved", alert: r.alert, base: current.version,
        observation: undefined, notification: undefined,
      };
      const { written } = await this.#write([change]);
      if (written.length === 1) return { ok: true, alert: r.alert, change };
      // Another process wrote the key meanwhile: read it again and re-check the transition.
    }
    throw new AlertStoreError(`alert ${id} kept changing while it was being ${action}d`);
  }

  /**
   * Closes the alerts whose episodes end by themselves (port scans) and that have been quiet
   * for longer than their gap: resolved by the system, so the admin page shows them done.
   */
  closeQuietAlerts(): Promise<AlertChange[]> {
    return this.#serial(async () => {
      const now = this.#now();
      const out: AlertChange[] = [];
      for (const [kind, gap] of Object.entries(this.#config.episodeGapMs as Partial<Record<string, number>>)) {
        if (gap === undefined) continue;
        const rows = await this.#o.database.db.select().from(alerts)
          .where(and(eq(alerts.kind, kind), ne(alerts.state, "resolved"), sql`${alerts.lastSeen} < ${now - gap}`))
          .limit(1000);
        const changes: AlertChange[] = rows.map(alertFromRow).map((a) => ({
          type: "closed", base: a.version, observation: undefined, notification: undefined,
          alert: { ...a, state: "resolved", resolvedAt: a.lastSeen + gap, resolvedBy: "system", updatedAt: now, version: a.version + 1 },
        }));
        if (changes.length > 0) out.push(...(await this.#write(changes)).written);
      }
      return out;
    });
  }

  /** Notifications, oldest first; `pending` only those not yet delivered. */
  async listOutbox(options: { pending?: boolean; limit: number }): Promise<OutboxEntry[]> {
    const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
    const rows = await this.#o.database.db.select().from(alertOutbox)
      .where(options.pending ? isNull(alertOutbox.deliveredAt) : undefined)
      .orderBy(alertOutbox.id)
      .limit(limit);
    return rows.map((r) => {
      const parsed = AlertSchema.safeParse(json(r.payload, "outbox payload", r.alertId));
      if (!parsed.success) throw new AlertStoreError(`outbox row ${r.id}: its payload is not an alert`);
      return {
        id: r.id, alertId: r.alertId, reason: r.reason as NotificationReason, severity: r.severity as Severity,
        createdAt: r.createdAt, alert: stripUndefined(parsed.data) as Alert, attempts: r.attempts,
        nextAttemptAt: r.nextAttemptAt, deliveredAt: r.deliveredAt ?? undefined, lastError: r.lastError ?? undefined,
      };
    });
  }
}
