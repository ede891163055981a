import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AlertConfigSchema, type AlertConfigInput } from "../../../firmware/alerts/config.ts";
import { AlertEngine } from "../../../firmware/alerts/engine.ts";
import { AlertStore, AlertStoreError, applyAlertMigrations } from "../../../firmware/alerts/store.ts";
import type { AlertChange } from "../../../firmware/alerts/types.ts";
import { closeDatabase, openDatabase, type Database } from "../../../firmware/store/database.ts";
import { c2, lookupRule, manualClock, outSmb, scanBan, sequentialIds, T0 } from "./fixtures.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const dirs: string[] = [];
const open: Database[] = [];
afterEach(() => {
  for (const d of open.splice(0)) closeDatabase(d);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freshDatabase(): Promise<{ path: string; database: Database }> {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-alerts-"));
  dirs.push(dir);
  const path = join(dir, "sekisho.db");
  const database = await openDatabase(path);
  open.push(database);
  await applyAlertMigrations(database);
  return { path, database };
}

async function setup(config: AlertConfigInput = {}) {
  const { path, database } = await freshDatabase();
  const clock = manualClock();
  const cfg = AlertConfigSchema.parse(config);
  const engine = new AlertEngine({ clock: clock.now, config: cfg, lookupRule, newId: sequentialIds("e") });
  const store = new AlertStore({ database, clock: clock.now, config: cfg, newId: sequentialIds("s") });
  /** Engine → store → engine, as the service does it. */
  const run = async (events: Parameters<AlertEngine["process"]>[0]): Promise<AlertChange[]> => {
    const r = await store.applyChanges(engine.process(events));
    engine.sync(r.applied.map((c) => c.alert));
    return r.applied;
  };
  return { path, database, clock, cfg, engine, store, run };
}

const count = async (db: Database, table: string): Promise<number> =>
  Number((await db.client.execute(`SELECT count(*) FROM ${table}`)).rows[0]?.[0]);

describe("alert store", () => {
  it("applies its migrations idempotently, in its own migrations table", async () => {
    const { database } = await freshDatabase();
    await applyAlertMigrations(database);
    const tables = (await database.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).rows.map((r) => r[0]);
    expect(tables).toEqual(expect.arrayContaining(["alerts", "alert_heads", "alert_outbox", "__migrations_alerts"]));
  });

  it("stores the C&C alert once, counts 50 more attempts into it (51), and queues exactly one notification", async () => {
    const { database, store, run, clock } = await setup();
    const [first] = await run([c2(T0)]);
    for (let i = 1; i <= 50; i++) {
      clock.advance(1_000);
      await run([c2(T0 + i * 1_000)]);
    }
    const stored = await store.getAlert(first!.alert.id);
    expect(stored).toMatchObject({ kind: "c2-contact", severity: "high", state: "open", count: 51, lastSeen: T0 + 50_000, version: 51 });
    expect(stored!.device).toEqual({ ip: "192.0.2.10", mac: "02:00:5e:00:53:10" });
    expect(await count(database, "alerts")).toBe(1);
    const outbox = await store.listOutbox({ pending: true, limit: 10 });
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ alertId: first!.alert.id, reason: "opened", severity: "high", attempts: 0, deliveredAt: undefined });
    expect(outbox[0]!.alert.count).toBe(1); // the alert as it was when the notification was decided
    expect(outbox[0]!.nextAttemptAt).toBe(outbox[0]!.createdAt);
  });

  it("writes no notification for medium and low alerts", async () => {
    const { store, run } = await setup({ outboundPort: { threshold: 2 } });
    await run([outSmb(T0), outSmb(T0 + 1), scanBan(T0, "203.0.113.7")]);
    expect((await store.listAlerts({ limit: 10 })).map((a) => a.severity).sort()).toEqual(["low", "medium"]);
    expect(await store.listOutbox({ limit: 10 })).toEqual([]);
  });

  it("lists by state and severity, most recently seen first", async () => {
    const { store, run } = await setup({ outboundPort: { threshold: 1 } });
    await run([c2(T0, "192.0.2.10"), outSmb(T0 + 5), c2(T0 + 10, "192.0.2.11")]);
    const high = await store.listAlerts({ severity: "high", limit: 10 });
    expect(high.map((a) => a.device.ip)).toEqual(["192.0.2.11", "192.0.2.10"]);
    const r = await store.acknowledge(high[0]!.id);
    expect(r.ok).toBe(true);
    expect((await store.listAlerts({ state: "open", limit: 10 })).map((a) => a.kind).sort()).toEqual(["c2-contact", "outbound-port"]);
    expect(await store.listAlerts({ state: ["acknowledged"], severity: ["high", "low"], limit: 1 })).toHaveLength(1);
  });

  it("writes nothing at all when the transaction fails half way: no alert, no head, no outbox row", async () => {
    const { database, store, engine } = await setup();
    // The disk fills up (or anything else fails) just as the outbox row is written, after
    // the head and the alert row were: SQLite must roll the whole transaction back.
    await database.client.execute("CREATE TRIGGER fail_outbox BEFORE INSERT ON alert_outbox BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
    const changes = engine.process([c2(T0)]);
    expect(changes[0]!.notification).toBe("opened");
    await expect(store.applyChanges(changes)).rejects.toThrow(AlertStoreError);
    expect(await count(database, "alerts")).toBe(0);
    expect(await count(database, "alert_heads")).toBe(0);
    expect(await count(database, "alert_outbox")).toBe(0);
    // Once the failure is gone, the same changes go in whole.
    await database.client.execute("DROP TRIGGER fail_outbox");
    const r = await store.applyChanges(changes);
    expect(r.applied).toHaveLength(1);
    expect(await count(database, "alerts")).toBe(1);
    expect(await count(database, "alert_outbox")).toBe(1);
  });

  it("an update that fails half way leaves the stored alert as it was", async () => {
    const { database, store, engine, run } = await setup();
    const [first] = await run([c2(T0)]);
    await database.client.execute("CREATE TRIGGER fail_update AFTER UPDATE ON alerts BEGIN SELECT RAISE(ABORT, 'simulated failure'); END");
    await expect(store.applyChanges(engine.process([c2(T0 + 1)]))).rejects.toThrow(/simulated failure/);
    expect(await store.getAlert(first!.alert.id)).toMatchObject({ count: 1, version: 1 });
    expect(Number((await database.client.execute("SELECT version FROM alert_heads")).rows[0]?.[0])).toBe(1);
  });

  it("after a restart (an engine that knows nothing) the next event updates the stored alert instead of opening another", async () => {
    const { path, store, run, cfg } = await setup();
    const [first] = await run([c2(T0)]);
    const database2 = await openDatabase(path);
    open.push(database2);
    const clock = manualClock(T0 + 5_000);
    const engine2 = new AlertEngine({ clock: clock.now, config: cfg, lookupRule, newId: sequentialIds("fresh") });
    const store2 = new AlertStore({ database: database2, clock: clock.now, config: cfg });
    const planned = engine2.process([c2(T0 + 5_000)]);
    expect(planned[0]).toMatchObject({ type: "opened", base: 0 }); // stale: it does not know the alert
    const r = await store2.applyChanges(planned);
    expect(r.replanned).toBe(1);
    expect(r.applied).toHaveLength(1);
    expect(r.applied[0]).toMatchObject({ type: "updated", notification: undefined, alert: { id: first!.alert.id, count: 2, version: 2 } });
    expect(await store.listAlerts({ limit: 10 })).toHaveLength(1);
    expect(await store.listOutbox({ limit: 10 })).toHaveLength(1);
  });

  it("seeding the engine at start-up avoids the re-plan", async () => {
    const { database, store, run, cfg } = await setup();
    await run([c2(T0)]);
    const engine2 = new AlertEngine({ clock: () => T0 + 1_000, config: cfg, lookupRule });
    engine2.sync(await store.listCurrentAlerts());
    const r = await new AlertStore({ database, config: cfg }).applyChanges(engine2.process([c2(T0 + 1_000)]));
    expect(r).toMatchObject({ replanned: 0, applied: [{ type: "updated", alert: { count: 2 } }] });
  });

  it("a person resolved it meanwhile (another connection): the stale update is re-planned into a reopen", async () => {
    const { path, database, store, run, clock, engine, cfg } = await setup({ dedupeWindowMs: HOUR });
    const [first] = await run([c2(T0)]);
    // The admin page, through its own connection, resolves it; the engine is not told.
    const ui = await openDatabase(path);
    open.push(ui);
    clock.set(T0 + 10 * MINUTE);
    const resolved = await new AlertStore({ database: ui, clock: clock.now, config: cfg }).resolve(first!.alert.id);
    expect(resolved).toMatchObject({ ok: true, alert: { state: "resolved", resolvedBy: "user" } });
    clock.set(T0 + 20 * MINUTE);
    const planned = engine.process([c2(T0 + 20 * MINUTE)]);
    expect(planned[0]!.type).toBe("updated");
    const r = await store.applyChanges(planned);
    expect(r.replanned).toBe(1);
    expect(r.applied[0]).toMatchObject({ type: "reopened", notification: "reopened", alert: { id: first!.alert.id, state: "open", count: 2, reopenCount: 1 } });
    expect((await store.listOutbox({ limit: 10 })).map((o) => o.reason)).toEqual(["opened", "reopened"]);
    expect(await count(database, "alerts")).toBe(1);
  });

  it("after the dedupe window, a resolved alert stays resolved and a new one is opened", async () => {
    const { store, run, clock } = await setup({ dedupeWindowMs: HOUR });
    const [first] = await run([c2(T0)]);
    clock.set(T0 + MINUTE);
    expect((await store.resolve(first!.alert.id)).ok).toBe(true);
    clock.set(T0 + 3 * HOUR);
    const [second] = await run([c2(T0 + 3 * HOUR)]);
    expect(second).toMatchObject({ type: "opened", notification: "opened" });
    expect(second!.alert.id).not.toBe(first!.alert.id);
    expect((await store.getAlert(first!.alert.id))!.state).toBe("resolved");
    expect((await store.listAlerts({ limit: 10 })).map((a) => a.state).sort()).toEqual(["open", "resolved"]);
  });

  it("acknowledge and resolve are validated: typed errors for what is not allowed", async () => {
    const { store, run, clock } = await setup();
    const [first] = await run([c2(T0)]);
    const id = first!.alert.id;
    clock.set(T0 + 1_000);
    expect(await store.acknowledge(id)).toMatchObject({ ok: true, alert: { state: "acknowledged", acknowledgedAt: T0 + 1_000, version: 2 } });
    expect(await store.acknowledge(id)).toEqual({
      ok: false, error: { code: "invalid-transition", from: "acknowledged", action: "acknowledge", message: expect.any(String) },
    });
    expect(await store.resolve(id)).toMatchObject({ ok: true, alert: { state: "resolved" } });
    expect(await store.resolve(id)).toMatchObject({ ok: false, error: { code: "invalid-transition", from: "resolved" } });
    expect(await store.acknowledge("no-such-alert")).toMatchObject({ ok: false, error: { code: "not-found", id: "no-such-alert" } });
    expect(await store.getAlert(id)).toMatchObject({ state: "resolved", version: 3 });
  });

  it("closes quiet scan episodes, and the next scan from that source opens a new alert", async () => {
    const { store, run, clock } = await setup();
    const [scan] = await run([scanBan(T0, "203.0.113.7")]);
    clock.set(T0 + 30 * MINUTE);
    expect(await store.closeQuietAlerts()).toEqual([]);
    clock.set(T0 + 2 * HOUR);
    const closed = await store.closeQuietAlerts();
    expect(closed.map((c) => [c.type, c.alert.id, c.alert.resolvedBy])).toEqual([["closed", scan!.alert.id, "system"]]);
    // The engine still believes it open: its stale update is re-planned into a new alert.
    const applied = await run([scanBan(T0 + 2 * HOUR, "203.0.113.7")]);
    expect(applied.map((c) => c.type)).toEqual(["opened"]);
    expect(applied[0]!.alert.id).not.toBe(scan!.alert.id);
  });

  it("lists what the engine must know at start-up: active alerts and those a person resolved within the window", async () => {
    const { store, run, clock } = await setup({ dedupeWindowMs: HOUR });
    const [a] = await run([c2(T0, "192.0.2.10")]);
    const [b] = await run([c2(T0, "192.0.2.11")]);
    await run([c2(T0, "192.0.2.12")]);
    await store.resolve(a!.alert.id);
    clock.set(T0 + 2 * HOUR);
    await store.resolve(b!.alert.id);
    expect((await store.listCurrentAlerts()).map((x) => x.device.ip).sort()).toEqual(["192.0.2.11", "192.0.2.12"]);
  });

  it("keeps everything across a reopen of the database file", async () => {
    const { path, run } = await setup();
    const [first] = await run([c2(T0)]);
    const again = await openDatabase(path);
    open.push(again);
    const store = new AlertStore({ database: again });
    expect(await store.getAlert(first!.alert.id)).toEqual(first!.alert);
  });

  it("refuses to guess about a row that is not an alert", async () => {
    const { database, store, run } = await setup();
    const [first] = await run([c2(T0)]);
    await database.client.execute({ sql: "UPDATE alerts SET evidence = ? WHERE id = ?", args: ['{"rules": 5}', first!.alert.id] });
    await expect(store.getAlert(first!.alert.id)).rejects.toThrow(AlertStoreError);
  });
});
