import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { AlertConfigSchema } from "../../../firmware/alerts/config.ts";
import { AlertEngine } from "../../../firmware/alerts/engine.ts";
import { AlertService } from "../../../firmware/alerts/service.ts";
import { AlertStore, applyAlertMigrations } from "../../../firmware/alerts/store.ts";
import type { AlertSyslogFields } from "../../../firmware/alerts/syslog.ts";
import { closeDatabase, openDatabase, type Database } from "../../../firmware/store/database.ts";
import { c2, lookupRule, manualClock, outSmb, T0 } from "./fixtures.ts";

const dirs: string[] = [];
const dbs: Database[] = [];
afterEach(() => {
  for (const d of dbs.splice(0)) closeDatabase(d);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-alerts-svc-"));
  dirs.push(dir);
  const database = await openDatabase(join(dir, "sekisho.db"));
  dbs.push(database);
  await applyAlertMigrations(database);
  const clock = manualClock();
  const config = AlertConfigSchema.parse({ outboundPort: { threshold: 3 } });
  const engine = new AlertEngine({ clock: clock.now, config, lookupRule });
  const store = new AlertStore({ database, clock: clock.now, config });
  const forwarded: AlertSyslogFields[] = [];
  const errors: Error[] = [];
  const service = new AlertService({
    engine, store, forward: (m) => { forwarded.push(m); }, onError: (e) => { errors.push(e); },
  });
  await service.start();
  return { database, clock, engine, store, service, forwarded, errors };
}

describe("alert service (the event writer's listener)", () => {
  it("stores a C&C alert within milliseconds of its batch, forwards it once, and counts the rest into it", async () => {
    const { store, service, forwarded } = await setup();
    const t = performance.now();
    await service.onIncidents([], [c2(T0)]);
    const ms = performance.now() - t;
    const [alert] = await store.listAlerts({ limit: 5 });
    expect(alert).toMatchObject({ kind: "c2-contact", severity: "high", count: 1 });
    // Batch committed → alert and its notification committed: far inside the 5 s budget.
    expect(ms).toBeLessThan(1_000);
    for (let i = 1; i <= 50; i++) void service.onIncidents([], [c2(T0 + i)]);
    await service.flush();
    expect(await store.getAlert(alert!.id)).toMatchObject({ count: 51 });
    expect(await store.listAlerts({ limit: 5 })).toHaveLength(1);
    expect(forwarded).toHaveLength(1); // opened; count updates are not forwarded
    expect(forwarded[0]).toMatchObject({ severity: 2, appName: "sekisho", msgId: "ALERT" });
    expect(service.counters()).toMatchObject({ batches: 51, stored: 51, notifications: 1, storeFailures: 0, dropped: 0, pending: 0 });
  });

  it("loses nothing while the store fails: the changes wait and go in with the next batch", async () => {
    const { database, store, service, errors, forwarded } = await setup();
    await database.client.execute("CREATE TRIGGER fail_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    await service.onIncidents([], [c2(T0)]);
    await service.onIncidents([], [c2(T0 + 1), outSmb(T0 + 1), outSmb(T0 + 2), outSmb(T0 + 3)]);
    expect(await store.listAlerts({ limit: 5 })).toEqual([]);
    expect(service.counters()).toMatchObject({ storeFailures: 2, pending: 3 });
    expect(errors.map((e) => e.name)).toEqual(["AlertWriteError", "AlertWriteError"]);
    await database.client.execute("DROP TRIGGER fail_alerts");
    await service.onIncidents([], [c2(T0 + 2)]);
    const stored = await store.listAlerts({ limit: 5 });
    expect(stored.map((a) => [a.kind, a.count]).sort()).toEqual([["c2-contact", 3], ["outbound-port", 3]]);
    expect(await store.listOutbox({ limit: 5 })).toHaveLength(1);
    expect(forwarded.map((f) => f.structuredData["sekisho@32473"]!.kind).sort()).toEqual(["c2-contact", "outbound-port"]);
    expect(service.counters().pending).toBe(0);
  });

  it("drops (and reports) the oldest changes only past its bound, and recovers cleanly", async () => {
    const { database, store, engine, errors } = await setup();
    const service = new AlertService({ engine, store, maxPending: 2, onError: (e) => { errors.push(e); } });
    await database.client.execute("CREATE TRIGGER fail_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    for (let i = 0; i < 4; i++) await service.onIncidents([], [c2(T0 + i, `192.0.2.${10 + i}`)]);
    expect(service.counters()).toMatchObject({ dropped: 2, pending: 2 });
    expect(errors.some((e) => e.name === "AlertsDroppedError")).toBe(true);
    await database.client.execute("DROP TRIGGER fail_alerts");
    await service.flush();
    expect((await store.listAlerts({ limit: 10 })).map((a) => a.device.ip).sort()).toEqual(["192.0.2.12", "192.0.2.13"]);
    // A dropped host calling again is a fresh alert (its count starts over: the drop was reported).
    await service.onIncidents([], [c2(T0 + 10, "192.0.2.10")]);
    expect((await store.listAlerts({ limit: 10 })).map((a) => a.device.ip).sort()).toEqual(["192.0.2.10", "192.0.2.12", "192.0.2.13"]);
  });

  it("acknowledge / resolve go through the store, update the engine, and are forwarded", async () => {
    const { store, service, forwarded, engine } = await setup();
    await service.onIncidents([], [c2(T0)]);
    const [a] = await store.listAlerts({ limit: 1 });
    expect(await service.acknowledge(a!.id)).toMatchObject({ ok: true });
    expect(engine.alertFor(a!.key)?.state).toBe("acknowledged");
    expect(await service.acknowledge(a!.id)).toMatchObject({ ok: false, error: { code: "invalid-transition" } });
    expect(await service.resolve(a!.id)).toMatchObject({ ok: true });
    expect(forwarded.map((f) => f.structuredData["sekisho@32473"]!.state)).toEqual(["open", "acknowledged", "resolved"]);
    // A recurrence reopens it, without a re-plan (the engine knew).
    await service.onIncidents([], [c2(T0 + 5)]);
    expect(await store.getAlert(a!.id)).toMatchObject({ state: "open", reopenCount: 1 });
    expect(service.counters().replanned).toBe(0);
  });
});
