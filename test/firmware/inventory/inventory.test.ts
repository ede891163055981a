import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client, InStatement } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BoxEvent } from "../../../firmware/events/types.ts";
import { parseDhcp } from "../../../firmware/inventory/dhcp.ts";
import { DeviceInventory, InventoryError, readDevices, type InventoryOptions } from "../../../firmware/inventory/inventory.ts";
import { observeDhcp, type DeviceObservation } from "../../../firmware/inventory/observation.ts";
import { loadVendorTable, type VendorTable } from "../../../firmware/inventory/vendor.ts";
import { applyMigrations, closeDatabase, openDatabase, type Database } from "../../../firmware/store/database.ts";
import { dhcpExchange } from "./fixtures.ts";

const MIGRATIONS = join(import.meta.dirname ?? ".", "../../../firmware/inventory/migrations");
const PI = "b8:27:eb:12:34:56";
const INTEL = "3c:a9:f4:00:00:42";
const PHONE = "da:a1:19:6e:00:01"; // randomised (0x02 bit)
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const MIN = 60_000;

let vendors: VendorTable;
beforeAll(async () => {
  vendors = await loadVendorTable();
});

/** A database whose client records every SQL statement it is given. */
function recording(database: Database): { database: Database; statements: string[]; failNextBatch: () => void } {
  const statements: string[] = [];
  let fail = false;
  const sqlOf = (s: InStatement) => (typeof s === "string" ? s : s.sql);
  const client = new Proxy(database.client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "execute") {
        return (stmt: InStatement, ...rest: unknown[]) => {
          statements.push(sqlOf(stmt));
          return (target.execute as (...a: unknown[]) => unknown).call(target, stmt, ...rest);
        };
      }
      if (prop === "batch") {
        return (stmts: InStatement[], ...rest: unknown[]) => {
          if (fail) {
            fail = false;
            return Promise.reject(new Error("disk I/O error (injected)"));
          }
          statements.push(...stmts.map(sqlOf));
          return (target.batch as (...a: unknown[]) => unknown).call(target, stmts, ...rest);
        };
      }
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as Client;
  return { database: { ...database, client, db: drizzle(client) }, statements, failNextBatch: () => { fail = true; } };
}

describe("DeviceInventory", () => {
  const dirs: string[] = [];
  const open: Database[] = [];
  afterEach(() => {
    for (const d of open.splice(0)) closeDatabase(d);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function freshDb(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-inventory-"));
    dirs.push(dir);
    return join(dir, "sekisho.db");
  }

  /** An inventory on the database at `path`, with a settable clock and a list of emitted events. */
  async function start(path: string, opts: Partial<InventoryOptions> & { now?: number } = {}) {
    const raw = await openDatabase(path);
    open.push(raw);
    await applyMigrations(raw, MIGRATIONS, "inventory");
    const rec = recording(raw);
    const events: BoxEvent[] = [];
    const clock = { now: opts.now ?? T0 };
    const inventory = new DeviceInventory({
      database: rec.database,
      vendors,
      emit: (e) => {
        events.push(...e);
      },
      clock: () => clock.now,
      baselineMs: 0,
      announceDelayMs: 0,
      ...opts,
    });
    await inventory.load();
    return { inventory, events, clock, rec, raw };
  }

  const seen = (mac: string, time: number, extra: Partial<DeviceObservation> = {}): DeviceObservation => ({ time, source: "neighbour", mac, ...extra });

  it("emits one new-device event per MAC, with vendor, address and name in it", async () => {
    const { inventory, events } = await start(await freshDb());
    const first = await inventory.observe([
      seen(PI, T0, { ip: "192.0.2.116" }),
      seen(PI, T0 + 1000, { ip: "192.0.2.116" }),
      seen(PHONE, T0, { source: "dhcp", hostname: "iPhone" }),
    ]);
    expect(first.created).toEqual([PI, PHONE]);
    expect(first.announced).toBe(2);
    await inventory.observe([seen(PI, T0 + 2000), seen(PHONE, T0 + 2000)]);
    expect(events).toHaveLength(2);
    expect(events[0]).toEqual({
      time: T0,
      category: "endpoint",
      severity: "low",
      kind: "endpoint",
      logId: "new-device",
      ruleId: "new-device",
      direction: "outbound",
      action: "log",
      lanMac: PI,
      lanIp: "192.0.2.116",
      message: `new device ${PI} (Raspberry Pi Foundation)`,
    });
    expect(events[1]?.message).toBe(`new device ${PHONE} (randomised MAC, iPhone)`);
    const pi = inventory.getDevice(PI.toUpperCase());
    expect(pi).toMatchObject({ mac: PI, macKind: "global", vendor: "Raspberry Pi Foundation", firstSeen: T0, lastSeen: T0 + 2000, baseline: false });
    expect(inventory.getDevice(PHONE)).toMatchObject({ macKind: "randomised", vendor: null, dhcpHostname: "iPhone", lastSource: "neighbour" });
  });

  it("waits a little for an address before announcing a device first seen without one (DISCOVER before ACK)", async () => {
    const { inventory, events, clock } = await start(await freshDb(), { announceDelayMs: 5000 });
    const discover = { time: T0, source: "dhcp" as const, mac: PI, hostname: "pi-kiosk" };
    expect(await inventory.observe([discover])).toMatchObject({ created: [PI], announced: 0 });
    clock.now = T0 + 300;
    await inventory.observe([{ time: T0 + 300, source: "dhcp", mac: PI, ip: "192.0.2.116" }]); // the ACK
    expect(events).toMatchObject([{ lanMac: PI, lanIp: "192.0.2.116", message: `new device ${PI} (Raspberry Pi Foundation, pi-kiosk)` }]);
    // No address ever: announced with the first batch after the delay.
    await inventory.observe([{ time: T0 + 400, source: "dhcp", mac: INTEL }]);
    expect(events).toHaveLength(1);
    clock.now = T0 + 5400;
    await inventory.observe([seen(PI, T0 + 5400)]);
    expect(events.map((e) => e.lanMac)).toEqual([PI, INTEL]);
    expect(events[1]?.lanIp).toBeUndefined();
  });

  it("treats the first scan after installation as the baseline: recorded, no events; a restart does not reopen it", async () => {
    const path = await freshDb();
    const a = await start(path, { baselineMs: 60 * MIN });
    await a.inventory.observe([seen(PI, T0), seen(INTEL, T0 + 10 * MIN)]);
    expect(a.events).toEqual([]);
    expect(a.inventory.listDevices().map((d) => [d.mac, d.baseline])).toEqual([[INTEL, true], [PI, true]]);
    a.clock.now = T0 + 61 * MIN;
    await a.inventory.observe([seen(PHONE, T0 + 61 * MIN), seen(PI, T0 + 61 * MIN)]);
    expect(a.events.map((e) => e.lanMac)).toEqual([PHONE]);

    // Restarted (same database) 5 minutes after install: the window still ends at T0 + 60 min.
    const path2 = await freshDb();
    const b = await start(path2, { baselineMs: 60 * MIN });
    await b.inventory.observe([seen(PI, T0)]);
    closeDatabase(b.raw);
    open.splice(open.indexOf(b.raw), 1);
    const c = await start(path2, { baselineMs: 60 * MIN, now: T0 + 5 * MIN });
    await c.inventory.observe([seen(INTEL, T0 + 5 * MIN)]);
    expect(c.events).toEqual([]);
    c.clock.now = T0 + 60 * MIN;
    await c.inventory.observe([seen(PHONE, T0 + 60 * MIN)]);
    expect(c.events.map((e) => e.lanMac)).toEqual([PHONE]);
  });

  it("costs no reads in steady state, and writes last seen only when it moved by the resolution", async () => {
    const { inventory, rec } = await start(await freshDb(), { lastSeenResolutionMs: MIN });
    await inventory.observe([seen(PI, T0, { ip: "192.0.2.116" })]);
    rec.statements.length = 0;
    const quiet = await inventory.observe([seen(PI, T0 + 15_000, { ip: "192.0.2.116" }), seen(PI, T0 + 30_000, { ip: "192.0.2.116" })]);
    expect(quiet).toMatchObject({ deviceWrites: 0, addressWrites: 0 });
    expect(rec.statements).toEqual([]); // nothing at all: no read, no write
    expect(inventory.getDevice(PI)?.lastSeen).toBe(T0 + 30_000); // exact in memory
    expect((await readDevices(rec.database))[0]?.lastSeen).toBe(T0); // the table lags

    rec.statements.length = 0;
    const moved = await inventory.observe([seen(PI, T0 + 61_000, { ip: "192.0.2.116" })]);
    expect(moved).toMatchObject({ deviceWrites: 1, addressWrites: 1 });
    expect(rec.statements.filter((s) => /^\s*select/i.test(s))).toEqual([]);
    expect((await readDevices(rec.database))[0]).toMatchObject({ lastSeen: T0 + 61_000, addresses: [{ ip: "192.0.2.116", lastSeen: T0 + 61_000 }] });

    await inventory.observe([seen(PI, T0 + 70_000)]);
    await inventory.flush();
    expect((await readDevices(rec.database))[0]?.lastSeen).toBe(T0 + 70_000);
  });

  it("lets a stale neighbour entry create a device but not move last seen or take an address", async () => {
    const { inventory } = await start(await freshDb());
    await inventory.observe([seen(PI, T0, { ip: "192.0.2.116", current: false })]);
    expect(inventory.getDevice(PI)).toMatchObject({ firstSeen: T0, lastSeen: T0, addresses: [{ ip: "192.0.2.116" }] });
    await inventory.observe([seen(PI, T0 + 5 * MIN, { current: false })]);
    expect(inventory.getDevice(PI)?.lastSeen).toBe(T0);
    await inventory.observe([seen(INTEL, T0 + 6 * MIN, { ip: "192.0.2.116", current: false })]);
    expect(inventory.getDevice(INTEL)?.addresses).toEqual([]);
    expect(inventory.getDevice(PI)?.addresses.map((a) => a.ip)).toEqual(["192.0.2.116"]);
  });

  it("moves an address to the device that holds it now (a new lease), in memory and in the table", async () => {
    const path = await freshDb();
    const { inventory, rec } = await start(path);
    await inventory.observe([seen(PI, T0, { ip: "192.0.2.116" }), seen(PI, T0, { ip: "2001:db8:2::116" })]);
    await inventory.observe([{ time: T0 + MIN, source: "dhcp", mac: INTEL, ip: "192.0.2.116" }]);
    expect(inventory.getDevice(PI)?.addresses.map((a) => a.ip)).toEqual(["2001:db8:2::116"]);
    expect(inventory.getDevice(INTEL)?.addresses).toMatchObject([{ ip: "192.0.2.116", family: 4, source: "dhcp", firstSeen: T0 + MIN }]);
    // Older evidence (a log record read late) does not move it back.
    await inventory.observe([{ time: T0 + 30_000, source: "packet-log", mac: PI, ip: "192.0.2.116" }]);
    expect(inventory.getDevice(INTEL)?.addresses.map((a) => a.ip)).toEqual(["192.0.2.116"]);
    await inventory.flush(); // the 30 s last-seen move is held back by the resolution until then
    expect(await readDevices(rec.database)).toEqual(inventory.listDevices());
  });

  it("keeps at most maxAddressesPerDevice addresses, the most recently seen", async () => {
    const { inventory, rec } = await start(await freshDb(), { maxAddressesPerDevice: 3 });
    await inventory.observe([1, 2, 3, 4, 5].map((n) => seen(PI, T0 + n * 1000, { ip: `2001:db8:2::${n}` })));
    expect(inventory.getDevice(PI)?.addresses.map((a) => a.ip)).toEqual(["2001:db8:2::5", "2001:db8:2::4", "2001:db8:2::3"]);
    await inventory.observe([seen(PI, T0 + 10_000, { ip: "192.0.2.9" })]);
    expect(inventory.getDevice(PI)?.addresses.map((a) => a.ip)).toEqual(["192.0.2.9", "2001:db8:2::5", "2001:db8:2::4"]);
    expect((await readDevices(rec.database))[0]?.addresses.map((a) => a.ip)).toEqual(["192.0.2.9", "2001:db8:2::5", "2001:db8:2::4"]);
  });

  it("resolves address-only observations (DNS) to the device holding the address, and counts the rest", async () => {
    const { inventory } = await start(await freshDb());
    await inventory.observe([seen(PI, T0, { ip: "192.0.2.116" })]);
    const r = await inventory.observe([
      { time: T0 + 5 * MIN, source: "dns", ip: "192.0.2.116" },
      { time: T0 + 5 * MIN, source: "dns", ip: "192.0.2.99" },
    ]);
    expect(r).toMatchObject({ unresolved: 1, created: [] });
    expect(inventory.getDevice(PI)).toMatchObject({ lastSeen: T0 + 5 * MIN, lastSource: "dns" });
  });

  it("validates user-given names, keeps them across observations and restarts", async () => {
    const path = await freshDb();
    const a = await start(path);
    await a.inventory.observe([seen(INTEL, T0)]);
    expect(await a.inventory.rename(INTEL, "  経理のPC  ")).toMatchObject({ ok: true, value: { name: "経理のPC" } });
    expect(await a.inventory.rename("3C-A9-F4-00-00-42", "経理のPC (XP)")).toMatchObject({ ok: true, value: { name: "経理のPC (XP)" } });
    expect(await a.inventory.rename(INTEL, "a".repeat(65))).toEqual({ ok: false, error: "the name is 65 characters long; at most 64 are allowed" });
    expect(await a.inventory.rename(INTEL, "bad\u0007name")).toMatchObject({ ok: false, error: expect.stringContaining("control") });
    expect(await a.inventory.rename(INTEL, "rtl\u202eexe.txt")).toMatchObject({ ok: false });
    expect(await a.inventory.rename(INTEL, 42)).toEqual({ ok: false, error: "the name must be text" });
    expect(await a.inventory.rename(PI, "x")).toEqual({ ok: false, error: `no device with MAC ${PI}` });
    expect(await a.inventory.rename("<script>", "x")).toMatchObject({ ok: false, error: expect.stringContaining("not a MAC address") });
    await a.inventory.observe([seen(INTEL, T0 + 2 * MIN, { source: "dhcp", hostname: "keiri-pc" })]);
    expect(a.inventory.getDevice(INTEL)).toMatchObject({ name: "経理のPC (XP)", dhcpHostname: "keiri-pc" });
    closeDatabase(a.raw);
    open.splice(open.indexOf(a.raw), 1);
    const b = await start(path);
    expect(b.inventory.getDevice(INTEL)?.name).toBe("経理のPC (XP)");
    expect(await b.inventory.rename(INTEL, "   ")).toMatchObject({ ok: true, value: { name: null } });
    expect((await readDevices(b.rec.database))[0]?.name).toBeNull();
  });

  it("stores hostile hostnames from real DHCP bytes as bounded text, never anything else", async () => {
    const { inventory, rec } = await start(await freshDb());
    const { records } = dhcpExchange();
    const discover = records[0]?.data.subarray(28) ?? new Uint8Array(); // IPv4 (20) + UDP (8) headers
    const withHostname = (name: number[]) => new Uint8Array([...discover.subarray(0, 240), 53, 1, 1, 12, name.length, ...name, 255]);
    const xss = [...new TextEncoder().encode("<img src=x onerror=alert(1)>")];
    const observations = [xss, [...new TextEncoder().encode("x".repeat(250))], [0x41, 0xff, 0x0a, 0x1b, 0x42]].map((name, i) => {
      const m = parseDhcp(withHostname(name));
      if (!m.ok) throw new Error(m.error);
      const obs = observeDhcp({ ...m.value, clientMac: `b8:27:eb:00:00:0${i}` }, T0);
      if (obs === undefined) throw new Error("no observation");
      return obs;
    });
    // And an observation built by hand, past the parser: the store bounds it too.
    observations.push({ time: T0, source: "dhcp", mac: "b8:27:eb:00:00:09", hostname: `evil\u0000${"y".repeat(300)}`, vendorClass: "v".repeat(500) });
    await inventory.observe(observations);
    const stored = new Map((await readDevices(rec.database)).map((d) => [d.mac, d]));
    expect(stored.get("b8:27:eb:00:00:00")?.dhcpHostname).toBe("<img src=x onerror=alert(1)>");
    expect(stored.get("b8:27:eb:00:00:01")?.dhcpHostname).toBe("x".repeat(63));
    expect(stored.get("b8:27:eb:00:00:02")?.dhcpHostname).toBe("A\ufffdB");
    expect(stored.get("b8:27:eb:00:00:09")?.dhcpHostname).toBe(`evil${"y".repeat(59)}`);
    expect(stored.get("b8:27:eb:00:00:09")?.dhcpVendorClass).toHaveLength(64);
  });

  it("takes nothing of a batch whose transaction failed", async () => {
    const { inventory, rec, events } = await start(await freshDb());
    rec.failNextBatch();
    await expect(inventory.observe([seen(PI, T0, { ip: "192.0.2.116" })])).rejects.toThrow(InventoryError);
    expect(inventory.listDevices()).toEqual([]);
    expect(events).toEqual([]);
    await inventory.observe([seen(PI, T0 + 1000, { ip: "192.0.2.116" })]);
    expect(inventory.getDevice(PI)?.firstSeen).toBe(T0 + 1000);
    expect(events).toHaveLength(1);
  });

  it("offers new-device events again when the sink failed: with the next batch, or at the next start", async () => {
    const path = await freshDb();
    let refuse = true;
    const delivered: BoxEvent[] = [];
    const emit = (e: BoxEvent[]) => {
      if (refuse) throw new Error("event store busy");
      delivered.push(...e);
    };
    const a = await start(path, { emit });
    await expect(a.inventory.observe([seen(PI, T0)])).rejects.toThrow(/refused 1 new-device event/);
    expect(a.inventory.getDevice(PI)).toBeDefined(); // the observation itself was taken
    refuse = false;
    const next = await a.inventory.observe([seen(INTEL, T0 + 1000)]);
    expect(next.announced).toBe(2);
    expect(delivered.map((e) => e.lanMac).sort()).toEqual([INTEL, PI]);

    refuse = true;
    await expect(a.inventory.observe([seen(PHONE, T0 + 2000)])).rejects.toThrow(InventoryError);
    closeDatabase(a.raw); // "crash": the event was never handed on
    open.splice(open.indexOf(a.raw), 1);
    refuse = false;
    await start(path, { emit });
    expect(delivered.map((e) => e.lanMac)).toEqual(expect.arrayContaining([PHONE]));
    expect(delivered).toHaveLength(3);
  });

  it("refuses new MACs beyond maxDevices and counts them (a MAC flood)", async () => {
    const { inventory, events } = await start(await freshDb(), { maxDevices: 2 });
    const r = await inventory.observe([seen(PI, T0), seen(INTEL, T0), seen(PHONE, T0), seen(PI, T0 + 1)]);
    expect(r).toMatchObject({ refused: 1, created: [PI, INTEL] });
    expect(events).toHaveLength(2);
  });

  it("is unusable before load(), with a clear error", async () => {
    const raw = await openDatabase(":memory:");
    open.push(raw);
    const inventory = new DeviceInventory({ database: raw, vendors, emit: () => {} });
    expect(() => inventory.listDevices()).toThrow(/call load\(\) first/);
    await expect(inventory.observe([])).rejects.toThrow(InventoryError);
  });
});
