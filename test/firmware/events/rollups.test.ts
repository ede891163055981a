import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classify } from "../../../firmware/events/classify.ts";
import { FOLDED, FOLDED_PORT, HOUR_MS, RollupAccumulator, hourOf } from "../../../firmware/events/rollups.ts";
import type { BoxEvent, RollupRow } from "../../../firmware/events/types.ts";
import { LAN, labMeta, mixedRecords, packet } from "./fixtures.ts";

const meta = labMeta();
const H0 = hourOf(1_763_900_000_000);
const ev = (logId: string, over: Parameters<typeof packet>[1] = {}): BoxEvent => classify(packet(logId, over), meta, LAN)!;
const sumBy = (rows: RollupRow[], key: (r: RollupRow) => string) => {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + r.count);
  return m;
};

describe("RollupAccumulator", () => {
  it("sums a batch into one row per hour × category × severity × LAN host × remote × port × domain", () => {
    const acc = new RollupAccumulator();
    for (let i = 0; i < 5; i++) acc.add(ev("sys-inbound", { time: H0 + i, src: "203.0.113.1", dst: "192.0.2.10", dport: 22 }));
    acc.add(ev("sys-inbound", { time: H0 + HOUR_MS, src: "203.0.113.1", dst: "192.0.2.10", dport: 22 }));
    acc.add(ev("c2-feed.out", { time: H0 + 7, src: "192.0.2.10", dst: "203.0.113.99", dport: 443 }));
    const { sport: _s, dport: _d, ...icmp } = packet("sys-inbound", { time: H0 + 9, proto: "icmp" });
    acc.add(classify(icmp, meta, LAN)!);
    expect(acc.takeDeltas()).toEqual([
      { hour: H0, category: "inbound", severity: "low", lanIp: "192.0.2.10", remoteIp: "203.0.113.1", port: 22, domain: "", count: 5 },
      { hour: H0 + HOUR_MS, category: "inbound", severity: "low", lanIp: "192.0.2.10", remoteIp: "203.0.113.1", port: 22, domain: "", count: 1 },
      { hour: H0, category: "c2", severity: "high", lanIp: "192.0.2.10", remoteIp: "203.0.113.99", port: 443, domain: "", count: 1 },
      { hour: H0, category: "inbound", severity: "low", lanIp: "192.0.2.10", remoteIp: "203.0.113.7", port: 0, domain: "", count: 1 },
    ]);
    expect(acc.takeDeltas()).toEqual([]);
  });

  it("folds the ports of one pair beyond the limit into port -1, keeping every count", () => {
    const acc = new RollupAccumulator({ maxPortsPerPair: 32, maxKeysPerHour: 1000, maxFoldedHostsPerHour: 256 });
    for (let p = 1; p <= 1000; p++) acc.add(ev("port-scan.banned", { time: H0 + p, src: "203.0.113.66", dport: p }));
    // The limit holds across batches of the same hour.
    const first = acc.takeDeltas();
    for (let p = 1; p <= 100; p++) acc.add(ev("port-scan.banned", { time: H0 + 2000 + p, src: "203.0.113.66", dport: p }));
    const second = acc.takeDeltas();
    const rows = [...first, ...second];
    expect(rows.reduce((s, r) => s + r.count, 0)).toBe(1100);
    expect(new Set(rows.filter((r) => r.port !== FOLDED_PORT).map((r) => r.port))).toEqual(new Set(Array.from({ length: 32 }, (_, i) => i + 1)));
    expect(second.find((r) => r.port === FOLDED_PORT)!.count).toBe(68);
  });

  it("folds new keys beyond the hour's limit to the LAN host, then to everything", () => {
    const acc = new RollupAccumulator({ maxPortsPerPair: 32, maxKeysPerHour: 10, maxFoldedHostsPerHour: 2 });
    for (let i = 0; i < 50; i++) acc.add(ev("sys-inbound", { time: H0 + i, src: `198.51.100.${i}`, dst: `192.0.2.${10 + (i % 4)}`, dport: 80 }));
    // Another category has its own limit.
    acc.add(ev("c2-feed.out", { time: H0, src: "192.0.2.10", dst: "203.0.113.99", dport: 443 }));
    const rows = acc.takeDeltas();
    const inbound = rows.filter((r) => r.category === "inbound");
    expect(inbound.filter((r) => r.remoteIp !== FOLDED)).toHaveLength(10);
    const folded = inbound.filter((r) => r.remoteIp === FOLDED);
    expect(folded.map((r) => [r.lanIp, r.port, r.domain]).sort()).toEqual([
      ["*", -1, "*"], ["192.0.2.12", -1, "*"], ["192.0.2.13", -1, "*"],
    ].sort());
    expect(inbound.reduce((s, r) => s + r.count, 0)).toBe(50);
    expect(rows.find((r) => r.category === "c2")).toMatchObject({ remoteIp: "203.0.113.99", count: 1 });
  });

  it("never loses or invents a count: per hour and category the rows sum to the events (property)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 500 }), (n, seed, batch, ports, keys) => {
        const acc = new RollupAccumulator({ maxPortsPerPair: ports, maxKeysPerHour: keys, maxFoldedHostsPerHour: 3 });
        // Spread over a few hours, out of order at the edges.
        const events = mixedRecords(n, H0 - 1000, seed).map((r, i) => classify({ ...r, time: H0 + ((i * 7919) % (3 * HOUR_MS)) }, meta, LAN))
          .filter((e): e is BoxEvent => e !== undefined);
        const rows: RollupRow[] = [];
        events.forEach((e, i) => {
          acc.add(e);
          if (i % batch === 0) rows.push(...acc.takeDeltas());
        });
        rows.push(...acc.takeDeltas());
        const want = new Map<string, number>();
        for (const e of events) {
          const k = `${hourOf(e.time)}|${e.category}|${e.severity}`;
          want.set(k, (want.get(k) ?? 0) + 1);
        }
        expect(sumBy(rows, (r) => `${r.hour}|${r.category}|${r.severity}`)).toEqual(want);
        expect(rows.every((r) => r.count > 0)).toBe(true);
      }), { numRuns: 100 });
  });
});
