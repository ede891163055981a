import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classify } from "../../../firmware/events/classify.ts";
import { IncidentTracker, MAX_HOSTS_LISTED, MAX_PORTS_LISTED, incidentKey } from "../../../firmware/events/incidents.ts";
import type { BoxEvent } from "../../../firmware/events/types.ts";
import { LAN, labMeta, packet, syslog } from "./fixtures.ts";

const meta = labMeta();
const T0 = 1_763_900_000_000;
const ev = (logId: string, over: Parameters<typeof packet>[1] = {}): BoxEvent => {
  const e = classify(packet(logId, over), meta, LAN);
  if (!e) throw new Error(`not classified: ${logId}`);
  return e;
};
const tracker = (over: Partial<ConstructorParameters<typeof IncidentTracker>[0]> = {}) =>
  new IncidentTracker({ idleGapMs: 15 * 60_000, maxOpen: 10_000, firstId: 1, ...over });

/** xorshift: deterministic "random" ports. */
function ports(n: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: n }, () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return 1 + (x % 65535); });
}

describe("IncidentTracker", () => {
  it("collapses a 10k-packet port scan from one source into one incident with its count and ports", () => {
    const t = tracker();
    const ps = ports(10_000);
    const ids = new Set<number>();
    ps.forEach((p, i) => ids.add(t.observe(ev("port-scan.banned", { time: T0 + i * 5, src: "203.0.113.66", dst: "192.0.2.10", dport: p }))));
    const { opened, updated } = t.takeChanges();
    expect(ids).toEqual(new Set([1]));
    expect(updated).toEqual([]);
    expect(opened).toHaveLength(1);
    const inc = opened[0]!;
    const distinct = [...new Set(ps)];
    expect(inc).toMatchObject({
      id: 1, key: "scan|203.0.113.66", kind: "scan", category: "inbound", direction: "inbound", count: 10_000,
      firstSeen: T0, lastSeen: T0 + 9_999 * 5, remoteIp: "203.0.113.66", lanIp: "192.0.2.10",
      portCount: distinct.length, lanHosts: ["192.0.2.10"], lanHostCount: 1, remotes: ["203.0.113.66"], remoteCount: 1,
    });
    expect(distinct.length).toBeGreaterThan(9_000); // exact distinct count past the listed 64 (bitmap)
    expect(inc.ports).toEqual(distinct.slice(0, MAX_PORTS_LISTED).sort((a, b) => a - b));
  });

  it("one scanner is one incident across LAN hosts and across the scan rules (default drop → detected → banned)", () => {
    const t = tracker();
    const src = "203.0.113.5";
    t.observe(ev("sys-inbound", { time: T0, src, dst: "192.0.2.10", dport: 22 }));
    t.observe(ev("sys-tcp-flags", { time: T0 + 1, src, dst: "192.0.2.11", dport: 80 }));
    t.observe(ev("port-scan", { time: T0 + 2, src, dst: "192.0.2.12", dport: 23 }));
    for (let i = 0; i < 30; i++) t.observe(ev("port-scan.banned", { time: T0 + 3 + i, src, dst: `192.0.2.${20 + i}`, dport: 1000 + i }));
    const [inc, ...rest] = t.takeChanges().opened;
    expect(rest).toEqual([]);
    expect(inc).toMatchObject({
      count: 33, action: "ban", logId: "port-scan", ruleId: "port-scan", lanIp: "192.0.2.10",
      lanHostCount: 33, portCount: 33,
    });
    expect(inc!.lanHosts).toHaveLength(MAX_HOSTS_LISTED);
  });

  it("keys C&C by LAN host and server, risky ports by LAN host, brute force by source and target", () => {
    const t = tracker();
    const c2 = (lan: string, remote: string) => t.observe(ev("c2-feed.out", { src: lan, dst: remote, dport: 443 }));
    const a = c2("192.0.2.10", "203.0.113.99");
    expect(c2("192.0.2.10", "203.0.113.99")).toBe(a);
    const b = c2("192.0.2.11", "203.0.113.99");
    const c = c2("192.0.2.10", "203.0.113.98");
    expect(new Set([a, b, c]).size).toBe(3);
    const smtp = Array.from({ length: 40 }, (_, i) => t.observe(ev("out-smtp", { src: "192.0.2.30", dst: `198.51.100.${i}`, dport: 25 })));
    expect(new Set(smtp).size).toBe(1);
    const bf1 = t.observe(ev("bf-ssh", { src: "203.0.113.1", dst: "192.0.2.40" }));
    const bf2 = t.observe(ev("bf-ssh", { src: "203.0.113.1", dst: "192.0.2.41" }));
    expect(bf1).not.toBe(bf2);
    const changed = [...t.takeChanges().opened];
    const spam = changed.find((i) => i.id === smtp[0])!;
    expect(spam).toMatchObject({ key: "out-smtp|192.0.2.30", count: 40, remoteCount: 40, remoteIp: "198.51.100.0", severity: "medium" });
    expect(changed.find((i) => i.id === a)).toMatchObject({ key: "c2-feed|192.0.2.10|203.0.113.99", count: 2, severity: "high" });
  });

  it("keys endpoint syslog by device and app", () => {
    const s = (peer: string, appName: string) => classify(syslog({ peer, appName }), meta, LAN)!;
    expect(incidentKey(s("192.0.2.20", "sshd"))).toBe("endpoint|192.0.2.20|sshd");
    const t = tracker();
    expect(t.observe(s("192.0.2.20", "sshd"))).toBe(t.observe(s("192.0.2.20", "sshd")));
    expect(t.observe(s("192.0.2.20", "kernel"))).not.toBe(t.observe(s("192.0.2.21", "kernel")));
  });

  it("closes an incident after the idle gap: the next event opens a new one with a new id", () => {
    const t = tracker({ idleGapMs: 60_000, firstId: 500 });
    const e = (time: number) => ev("sys-inbound", { time, src: "203.0.113.9" });
    expect(t.observe(e(T0))).toBe(500);
    expect(t.observe(e(T0 + 60_000))).toBe(500); // exactly the gap: still the same
    expect(t.observe(e(T0 + 120_001))).toBe(501);
    expect(t.stats()).toMatchObject({ open: 1, opened: 2, closedIdle: 1 });
    expect(t.expire(T0 + 120_001 + 60_000)).toBe(0);
    expect(t.expire(T0 + 120_001 + 60_001)).toBe(1);
    expect(t.observe(e(T0 + 200_000))).toBe(502);
    expect(t.nextId).toBe(503);
  });

  it("reports opened and updated incidents separately, once per take", () => {
    const t = tracker();
    t.observe(ev("sys-inbound", { src: "203.0.113.1" }));
    expect(t.takeChanges()).toMatchObject({ opened: [{ id: 1, count: 1 }], updated: [] });
    expect(t.takeChanges()).toEqual({ opened: [], updated: [] });
    t.observe(ev("sys-inbound", { src: "203.0.113.1" }));
    t.observe(ev("sys-inbound", { src: "203.0.113.2" }));
    expect(t.takeChanges()).toMatchObject({ opened: [{ id: 2, count: 1 }], updated: [{ id: 1, count: 2 }] });
  });

  it("bounds memory: beyond maxOpen the least recently updated incident is closed", () => {
    const t = tracker({ maxOpen: 100 });
    const keep = "203.0.113.250";
    const first = t.observe(ev("sys-inbound", { src: keep }));
    for (let i = 0; i < 1000; i++) {
      t.observe(ev("sys-inbound", { src: `198.51.${i >> 8}.${i & 255}` }));
      if (i % 50 === 0) t.observe(ev("sys-inbound", { src: keep })); // kept busy: never the oldest
    }
    expect(t.stats()).toMatchObject({ open: 100, opened: 1001, evicted: 901 });
    expect(t.observe(ev("sys-inbound", { src: keep }))).toBe(first);
  });

  it("keeps firstSeen/lastSeen right when events arrive out of order, and the highest severity", () => {
    const t = tracker();
    t.observe(ev("c2-feed.in", { time: T0 + 10, src: "203.0.113.99" }));
    t.observe(ev("c2-feed.in", { time: T0, src: "203.0.113.99" }));
    t.observe({ ...ev("c2-feed.in", { time: T0 + 5, src: "203.0.113.99" }), severity: "high" });
    expect(t.takeChanges().opened[0]).toMatchObject({ firstSeen: T0, lastSeen: T0 + 10, count: 3, severity: "high" });
  });

  it("is deterministic, and its counts are exact (property)", () => {
    const event = fc.record({
      logId: fc.constantFrom("sys-inbound", "port-scan.banned", "c2-feed.out", "out-smtp", "bf-ssh"),
      src: fc.integer({ min: 1, max: 6 }), dst: fc.integer({ min: 1, max: 6 }), dport: fc.integer({ min: 1, max: 300 }),
      dt: fc.integer({ min: 0, max: 120_000 }),
    });
    fc.assert(fc.property(fc.array(event, { maxLength: 300 }), (spec) => {
      let time = T0;
      const events = spec.map((s) => {
        time += s.dt;
        return ev(s.logId, { time, src: s.logId.includes("out") ? `192.0.2.${s.src}` : `203.0.113.${s.src}`,
          dst: s.logId.includes("out") ? `198.51.100.${s.dst}` : `192.0.2.${s.dst}`, dport: s.dport });
      });
      const run = () => {
        const t = tracker({ idleGapMs: 300_000 });
        const ids = events.map((e) => t.observe(e));
        const { opened } = t.takeChanges();
        return { ids, opened };
      };
      const a = run();
      expect(run()).toEqual(a);
      // Every event is counted in exactly one incident, and each incident's numbers are its events'.
      expect(a.opened.reduce((s, i) => s + i.count, 0)).toBe(events.length);
      for (const inc of a.opened) {
        const mine = events.filter((_, k) => a.ids[k] === inc.id);
        expect(inc.count).toBe(mine.length);
        expect(inc.portCount).toBe(new Set(mine.map((e) => e.port)).size);
        expect(inc.lanHostCount).toBe(new Set(mine.map((e) => e.lanIp)).size);
        expect(inc.remoteCount).toBe(new Set(mine.map((e) => e.remoteIp)).size);
        expect(inc.firstSeen).toBe(Math.min(...mine.map((e) => e.time)));
        expect(inc.lastSeen).toBe(Math.max(...mine.map((e) => e.time)));
        expect(new Set(mine.map(incidentKey))).toEqual(new Set([inc.key]));
      }
    }), { numRuns: 200 });
  });
});
