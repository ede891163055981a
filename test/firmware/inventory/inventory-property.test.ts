import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { BoxEvent } from "../../../firmware/events/types.ts";
import { DeviceInventory, readDevices } from "../../../firmware/inventory/inventory.ts";
import { OBSERVATION_SOURCES, type DeviceObservation } from "../../../firmware/inventory/observation.ts";
import { parseVendorRegistry, type VendorTable } from "../../../firmware/inventory/vendor.ts";
import { applyMigrations, closeDatabase, openDatabase } from "../../../firmware/store/database.ts";

const MIGRATIONS = join(import.meta.dirname ?? ".", "../../../firmware/inventory/migrations");
const MAX_ADDRESSES = 3;

let vendors: VendorTable;
beforeAll(() => {
  const r = parseVendorRegistry(new TextEncoder().encode(JSON.stringify({ "001B63": "Apple, Inc.\nCupertino" })));
  if (!r.ok) throw new Error(r.error);
  vendors = r.value;
});

// A small world, so that MACs and addresses collide often: addresses move, devices repeat.
const mac = fc.constantFrom("00:1b:63:00:00:01", "00:1b:63:00:00:02", "02:00:00:00:00:03", "3c:a9:f4:00:00:04", "da:00:00:00:00:05");
const ip = fc.constantFrom("192.0.2.10", "192.0.2.11", "192.0.2.12", "2001:db8:2::10", "2001:db8:2::11", "2001:db8:2::12");
const observation: fc.Arbitrary<DeviceObservation> = fc.record({
  time: fc.integer({ min: 1_800_000_000_000, max: 1_800_000_100_000 }),
  source: fc.constantFrom(...OBSERVATION_SOURCES),
  mac: fc.option(mac, { nil: undefined }),
  ip: fc.option(ip, { nil: undefined }),
  current: fc.option(fc.boolean(), { nil: undefined }),
  hostname: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
}, { requiredKeys: ["time", "source"] }).map((o) => (o.mac === undefined && o.ip === undefined ? { ...o, ip: "192.0.2.10" } : o));

describe("DeviceInventory under arbitrary batches", () => {
  it("keeps its invariants, and its memory and its table agree", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.array(observation, { maxLength: 12 }), { minLength: 1, maxLength: 6 }), async (batches) => {
      const database = await openDatabase(":memory:");
      try {
        await applyMigrations(database, MIGRATIONS, "inventory");
        const events: BoxEvent[] = [];
        const inventory = new DeviceInventory({
          database,
          vendors,
          emit: (e) => {
            events.push(...e);
          },
          baselineMs: 0,
          announceDelayMs: 0,
          maxAddressesPerDevice: MAX_ADDRESSES,
          lastSeenResolutionMs: 30_000,
        });
        await inventory.load();
        for (const batch of batches) await inventory.observe(batch);
        const devices = inventory.listDevices();
        // One event per device, ever.
        expect(events.map((e) => e.lanMac).sort()).toEqual(devices.map((d) => d.mac).sort());
        const holders = new Map<string, string>();
        for (const d of devices) {
          expect(d.firstSeen).toBeLessThanOrEqual(d.lastSeen);
          expect(d.addresses.length).toBeLessThanOrEqual(MAX_ADDRESSES);
          for (const a of d.addresses) {
            expect(holders.has(a.ip)).toBe(false); // an address has one holder
            holders.set(a.ip, d.mac);
          }
          if (d.dhcpHostname !== null) expect(Array.from(d.dhcpHostname).length).toBeLessThanOrEqual(63);
        }
        await inventory.flush();
        expect(await readDevices(database)).toEqual(devices);
      } finally {
        closeDatabase(database);
      }
    }), { numRuns: 60 });
  });
});
