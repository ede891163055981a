import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { AlertConfigSchema, parseAlertConfig, type AlertConfigInput } from "../../../firmware/alerts/config.ts";
import { AlertEngine } from "../../../firmware/alerts/engine.ts";
import { transitionAlert } from "../../../firmware/alerts/states.ts";
import type { Alert, AlertChange, DeviceLookup } from "../../../firmware/alerts/types.ts";
import type { BoxEvent, Incident } from "../../../firmware/events/types.ts";
import {
  bruteSsh, c2, inbound, lookupRule, manualClock, newDevice, outSmb, packet, scanBan, scanBanned, sequentialIds, syslogFrom, T0,
} from "./fixtures.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function engineWith(config: AlertConfigInput = {}, lookupDevice?: DeviceLookup) {
  const clock = manualClock();
  const engine = new AlertEngine({
    clock: clock.now, config: AlertConfigSchema.parse(config), lookupRule, newId: sequentialIds(),
    ...(lookupDevice ? { lookupDevice } : {}),
  });
  return { engine, clock };
}

function incidentOf(e: BoxEvent, id: number): Incident {
  const i: Incident = {
    id, key: `${e.ruleId}|${e.lanIp ?? ""}|${e.remoteIp ?? ""}`, kind: e.kind, category: e.category, severity: e.severity,
    ruleId: e.ruleId, logId: e.logId, direction: e.direction, action: e.action, firstSeen: e.time, lastSeen: e.time, count: 1,
    ports: e.port === undefined ? [] : [e.port], portCount: e.port === undefined ? 0 : 1,
    lanHosts: e.lanIp ? [e.lanIp] : [], lanHostCount: e.lanIp ? 1 : 0, remotes: e.remoteIp ? [e.remoteIp] : [], remoteCount: e.remoteIp ? 1 : 0,
  };
  if (e.lanIp) i.lanIp = e.lanIp;
  if (e.lanMac) i.lanMac = e.lanMac;
  if (e.remoteIp) i.remoteIp = e.remoteIp;
  return i;
}

const only = (changes: AlertChange[]): AlertChange => {
  expect(changes).toHaveLength(1);
  return changes[0]!;
};

describe("C&C contact (category c2, outbound blocklist hit)", () => {
  it("raises one high alert on the first event, with the device, the remote and the rule", () => {
    const { engine } = engineWith({}, ({ ip }) => (ip === "192.0.2.10" ? { name: "KEIRI-PC", vendor: "Example Corp" } : undefined));
    const started = performance.now();
    const change = only(engine.process([c2(T0)]));
    const elapsed = performance.now() - started;
    expect(change.type).toBe("opened");
    expect(change.notification).toBe("opened");
    const a = change.alert;
    expect(a).toMatchObject({
      kind: "c2-contact", category: "c2", severity: "high", state: "open", count: 1, firstSeen: T0, lastSeen: T0,
      key: "c2-contact|192.0.2.10", version: 1,
      device: { ip: "192.0.2.10", mac: "02:00:5e:00:53:10", name: "KEIRI-PC", vendor: "Example Corp" },
    });
    expect(a.evidence.remotes).toEqual(["203.0.113.99"]);
    expect(a.evidence.ports).toEqual([443]);
    expect(a.evidence.rules[0]).toMatchObject({ id: "c2-feed", logId: "c2-feed.out" });
    expect(a.evidence.rules[0]!.title.ja).toContain("C&C");
    // The pipeline's budget is 5 s from packet to alert; the engine's share must be noise.
    expect(elapsed).toBeLessThan(100);
  });

  it("counts 50 more attempts into the same alert (count 51), one notification in all", () => {
    const { engine, clock } = engineWith();
    const first = only(engine.process([c2(T0)]));
    const all: AlertChange[] = [first];
    const times: number[] = [];
    for (let i = 1; i <= 50; i++) {
      clock.advance(SECOND);
      const t = performance.now();
      const c = only(engine.process([c2(T0 + i * SECOND)]));
      times.push(performance.now() - t);
      expect(c.type).toBe("updated");
      expect(c.alert.id).toBe(first.alert.id);
      all.push(c);
    }
    const last = all[all.length - 1]!.alert;
    expect(last.count).toBe(51);
    expect(last.lastSeen).toBe(T0 + 50 * SECOND);
    expect(last.version).toBe(51);
    expect(all.filter((c) => c.notification !== undefined)).toHaveLength(1);
    times.sort((x, y) => x - y);
    expect(times[Math.floor(times.length / 2)]!).toBeLessThan(5);
  });

  it("is one alert per LAN host whatever the remote or feed; another host gets its own", () => {
    const { engine } = engineWith();
    const changes = engine.process([
      c2(T0, "192.0.2.10", "203.0.113.99"),
      c2(T0 + 1, "192.0.2.10", "203.0.113.97"),
      packet("botnet-feed.out", { time: T0 + 2, src: "192.0.2.10", dst: "198.51.100.66", dport: 6667 }),
      c2(T0 + 3, "192.0.2.11", "203.0.113.99"),
    ]);
    // botnet-feed has no entries in the fixture policy but its log id exists: the engine
    // reads the rule from the event, not from the list contents.
    expect(changes).toHaveLength(2);
    const a = changes.find((c) => c.alert.device.ip === "192.0.2.10")!.alert;
    expect(a.count).toBe(3);
    expect(a.evidence.remotes).toEqual(["203.0.113.99", "203.0.113.97", "198.51.100.66"]);
    expect(a.evidence.rules.map((r) => r.logId)).toEqual(["c2-feed.out", "botnet-feed.out"]);
    expect(changes.every((c) => c.alert.severity === "high" && c.notification === "opened")).toBe(true);
  });

  it("handles a batch of 5,000 events in well under a second", () => {
    const { engine } = engineWith();
    const events = Array.from({ length: 5_000 }, (_, i) => c2(T0 + i, `192.0.2.${10 + (i % 50)}`, `203.0.113.${96 + (i % 4)}`));
    const t = performance.now();
    const changes = engine.process(events);
    const ms = performance.now() - t;
    expect(changes).toHaveLength(50);
    expect(changes.reduce((n, c) => n + c.alert.count, 0)).toBe(5_000);
    expect(ms).toBeLessThan(1_000);
  });
});

describe("outbound blocked ports (outbound.block rules): N attempts within a window", () => {
  it("stays quiet below the threshold and raises one medium alert when it is crossed", () => {
    const { engine } = engineWith({ outboundPort: { threshold: 5, windowMs: MINUTE } });
    for (let i = 0; i < 4; i++) expect(engine.process([outSmb(T0 + i * SECOND)])).toEqual([]);
    const c = only(engine.process([outSmb(T0 + 4 * SECOND)]));
    expect(c.type).toBe("opened");
    expect(c.notification).toBeUndefined(); // medium: the weekly summary, not an e-mail
    expect(c.alert).toMatchObject({ kind: "outbound-port", severity: "medium", category: "c2", count: 5, firstSeen: T0, lastSeen: T0 + 4 * SECOND });
    expect(c.alert.evidence.ports).toEqual([445]);
    expect(c.alert.evidence.rules[0]!.id).toBe("out-smb");
    // Once it exists, every attempt counts into it.
    const u = only(engine.process([outSmb(T0 + 5 * SECOND)]));
    expect(u).toMatchObject({ type: "updated", alert: { id: c.alert.id, count: 6 } });
  });

  it("does not count attempts that fell out of the window", () => {
    const { engine } = engineWith({ outboundPort: { threshold: 5, windowMs: MINUTE } });
    for (let i = 0; i < 20; i++) expect(engine.process([outSmb(T0 + i * 20 * SECOND)])).toEqual([]); // 3 per minute
  });

  it("counts per LAN host", () => {
    const { engine } = engineWith({ outboundPort: { threshold: 3, windowMs: MINUTE } });
    const events = [0, 1, 2, 3].flatMap((i) => [outSmb(T0 + i, "192.0.2.20"), ...(i < 2 ? [outSmb(T0 + i, "192.0.2.21")] : [])]);
    const changes = engine.process(events);
    expect(changes.map((c) => [c.alert.device.ip, c.alert.count])).toEqual([["192.0.2.20", 4]]);
  });

  it("escalates a worm-like burst to high: back to open, and a notification", () => {
    const { engine } = engineWith({ outboundPort: { threshold: 5, windowMs: MINUTE, escalateThreshold: 30, escalateWindowMs: 10 * SECOND } });
    const opened = engine.process(Array.from({ length: 5 }, (_, i) => outSmb(T0 + i)));
    const ack = transitionAlert(only(opened).alert, "acknowledge", T0 + 100);
    if (!ack.ok) throw new Error("ack");
    engine.sync([ack.alert]);
    const changes = engine.process(Array.from({ length: 25 }, (_, i) => outSmb(T0 + 1_000 + i)));
    const c = only(changes);
    expect(c.type).toBe("escalated");
    expect(c.notification).toBe("escalated");
    expect(c.alert).toMatchObject({ severity: "high", state: "open", count: 30 });
    expect(c.alert.acknowledgedAt).toBeUndefined();
  });
});

describe("exposed LAN host: inbound attacks concentrated on one host", () => {
  it("raises a medium alert at the pilot's threshold of 30 attempts within a day, not before", () => {
    const { engine } = engineWith();
    for (let i = 0; i < 29; i++) expect(engine.process([inbound(T0 + i * MINUTE, "198.51.100.5")])).toEqual([]);
    const c = only(engine.process([inbound(T0 + 29 * MINUTE, "198.51.100.5")]));
    expect(c.alert).toMatchObject({ kind: "exposed-host", severity: "medium", category: "inbound", count: 30, key: "exposed-host|192.0.2.30" });
    expect(c.alert.evidence.remotes).toEqual(["198.51.100.5"]);
    expect(c.alert.evidence.ports).toEqual([3389]);
  });

  it("raises it sooner when many different sources go for the same host", () => {
    const { engine } = engineWith({ exposedHost: { minSources: 4 } });
    const events = [1, 2, 3, 4].map((n) => inbound(T0 + n, `198.51.100.${n}`));
    const c = only(engine.process(events));
    expect(c.alert.count).toBe(4);
    expect(c.alert.evidence.remotes).toHaveLength(4);
  });

  it("counts brute force towards it, and forgets attempts older than the window", () => {
    const { engine } = engineWith({ exposedHost: { minAttempts: 3, windowMs: HOUR } });
    expect(engine.process([inbound(T0, "198.51.100.9", "192.0.2.50", 22)])).toEqual([]);
    expect(engine.process([inbound(T0 + 2 * HOUR, "198.51.100.9", "192.0.2.50", 22)])).toEqual([]);
    const changes = engine.process([bruteSsh(T0 + 2 * HOUR + 1, "198.51.100.9"), bruteSsh(T0 + 2 * HOUR + 2, "198.51.100.9")]);
    expect(changes.map((c) => c.alert.kind).sort()).toEqual(["brute-force", "exposed-host"]);
    expect(changes.find((c) => c.alert.kind === "exposed-host")!.alert.count).toBe(3);
  });

  it("does not count a scanner's probes as attacks on the host", () => {
    const { engine } = engineWith({ exposedHost: { minAttempts: 3 } });
    const remote = "203.0.113.7";
    const changes = engine.process([
      inbound(T0, remote, "192.0.2.40", 21), inbound(T0 + 1, remote, "192.0.2.40", 22), inbound(T0 + 2, remote, "192.0.2.40", 23),
      scanBan(T0 + 3, remote), scanBanned(T0 + 4, remote),
    ]);
    const c = only(changes);
    expect(c.alert.kind).toBe("port-scan");
    expect(c.alert.count).toBe(5); // the probes before the ban belong to the scan
    // Later probes from the same source go to the scan alert too.
    const later = only(engine.process([inbound(T0 + 10, remote, "192.0.2.41", 80)]));
    expect(later.alert.id).toBe(c.alert.id);
    expect(later.alert.evidence.targets).toEqual(["192.0.2.40", "192.0.2.41"]);
  });
});

describe("port scans", () => {
  it("are low alerts per scanning source, never notified", () => {
    const { engine } = engineWith();
    const changes = engine.process([scanBan(T0, "203.0.113.7"), scanBanned(T0 + 1, "203.0.113.7"), scanBan(T0 + 2, "198.51.100.8")]);
    expect(changes).toHaveLength(2);
    for (const c of changes) {
      expect(c.alert).toMatchObject({ kind: "port-scan", severity: "low", category: "inbound" });
      expect(c.notification).toBeUndefined();
    }
    expect(changes[0]!.alert).toMatchObject({ key: "port-scan|203.0.113.7", count: 2 });
    expect(changes[0]!.alert.evidence.ports).toEqual([22, 23]);
  });

  it("end by themselves: after an hour of quiet the next scan from that source is a new alert", () => {
    const { engine, clock } = engineWith();
    const first = only(engine.process([scanBan(T0, "203.0.113.7")]));
    clock.advance(30 * MINUTE);
    expect(only(engine.process([scanBanned(T0 + 30 * MINUTE, "203.0.113.7")])).alert.id).toBe(first.alert.id);
    clock.set(T0 + 2 * HOUR);
    const changes = engine.process([scanBan(T0 + 2 * HOUR, "203.0.113.7")]);
    expect(changes.map((c) => c.type)).toEqual(["closed", "opened"]);
    expect(changes[0]!.alert).toMatchObject({ id: first.alert.id, state: "resolved", resolvedBy: "system", resolvedAt: T0 + 30 * MINUTE + HOUR });
    expect(changes[1]!.alert.id).not.toBe(first.alert.id);
    expect(changes[1]!.base).toBe(changes[0]!.alert.version);
  });
});

describe("brute force, new devices, endpoint syslog", () => {
  it("brute force (bf-* rules) is medium, one alert per LAN host and service", () => {
    const { engine } = engineWith();
    const changes = engine.process([bruteSsh(T0, "198.51.100.1"), bruteSsh(T0 + 1, "198.51.100.2")]);
    const c = changes.find((x) => x.alert.kind === "brute-force")!;
    expect(c.alert).toMatchObject({ severity: "medium", key: "brute-force|192.0.2.50|bf-ssh", count: 2 });
    expect(c.alert.evidence.remotes).toEqual(["198.51.100.1", "198.51.100.2"]);
  });

  it("a new device (inventory's event) is a low alert with what inventory knows about it", () => {
    const { engine } = engineWith({}, ({ mac }) => (mac === "02:00:5e:00:53:77" ? { name: "iPhone", vendor: "Apple, Inc." } : undefined));
    const c = only(engine.process([newDevice(T0, "02:00:5e:00:53:77", "192.0.2.77")]));
    expect(c.alert).toMatchObject({
      kind: "new-device", severity: "low", category: "endpoint", key: "new-device|02:00:5e:00:53:77",
      device: { ip: "192.0.2.77", mac: "02:00:5e:00:53:77", name: "iPhone", vendor: "Apple, Inc." },
    });
    expect(c.notification).toBeUndefined();
  });

  it("endpoint syslog at severity 3 or more severe is medium; 4 and above is ignored", () => {
    const { engine } = engineWith();
    expect(engine.process([syslogFrom(T0, "192.0.2.60", 4, "link flapped")])).toEqual([]);
    const c = only(engine.process([syslogFrom(T0 + 1, "192.0.2.60", 3, "disk failure on /dev/sda", "smartd")]));
    expect(c.alert).toMatchObject({ kind: "endpoint-syslog", severity: "medium", category: "endpoint", device: { ip: "192.0.2.60" } });
    expect(c.alert.evidence).toMatchObject({ message: "disk failure on /dev/sda", app: "smartd" });
    // With the syslog severity passed on explicitly, it decides.
    expect(engine.process([{ ...syslogFrom(T0 + 2, "192.0.2.61", 2, "x"), syslogSeverity: 6 }])).toEqual([]);
  });

  it("allowed traffic and the box's own bookkeeping raise nothing", () => {
    const { engine } = engineWith();
    expect(engine.process([{ ...c2(T0), action: "accept", kind: "allowed" }])).toEqual([]);
  });
});

describe("dedupe window and reopening", () => {
  function resolved(a: Alert, at: number): Alert {
    const r = transitionAlert(a, "resolve", at);
    if (!r.ok) throw new Error(r.error.message);
    return r.alert;
  }

  it("a recurrence within the window after a person resolved it reopens the same alert, and notifies again", () => {
    const { engine, clock } = engineWith({ dedupeWindowMs: HOUR });
    const a = only(engine.process([c2(T0)])).alert;
    clock.set(T0 + 10 * MINUTE);
    engine.sync([resolved(a, T0 + 10 * MINUTE)]);
    clock.set(T0 + 40 * MINUTE);
    const c = only(engine.process([c2(T0 + 40 * MINUTE)]));
    expect(c.type).toBe("reopened");
    expect(c.notification).toBe("reopened");
    expect(c.alert).toMatchObject({ id: a.id, state: "open", count: 2, reopenCount: 1 });
    expect(c.alert.resolvedAt).toBeUndefined();
  });

  it("after the window it opens a new alert", () => {
    const { engine, clock } = engineWith({ dedupeWindowMs: HOUR });
    const a = only(engine.process([c2(T0)])).alert;
    engine.sync([resolved(a, T0 + 10 * MINUTE)]);
    clock.set(T0 + 2 * HOUR);
    const c = only(engine.process([c2(T0 + 2 * HOUR)]));
    expect(c.type).toBe("opened");
    expect(c.alert.id).not.toBe(a.id);
    expect(c.alert.count).toBe(1);
    expect(c.base).toBe(a.version + 1);
  });

  it("an acknowledged alert keeps counting and stays acknowledged", () => {
    const { engine } = engineWith();
    const a = only(engine.process([c2(T0)])).alert;
    const ack = transitionAlert(a, "acknowledge", T0 + 1);
    if (!ack.ok) throw new Error("ack");
    engine.sync([ack.alert]);
    const c = only(engine.process([c2(T0 + 2)]));
    expect(c).toMatchObject({ type: "updated", notification: undefined, alert: { id: a.id, state: "acknowledged", count: 2 } });
  });

  it("sync never goes back to an older version of a key", () => {
    const { engine } = engineWith();
    const a = only(engine.process([c2(T0)])).alert;
    const b = only(engine.process([c2(T0 + 1)])).alert;
    engine.sync([a]);
    expect(engine.alertFor(a.key)).toEqual(b);
  });
});

describe("incidents and bounds", () => {
  it("links the incidents of the batch to the alert they fed", () => {
    const { engine } = engineWith();
    const events = [c2(T0), c2(T0 + 1, "192.0.2.10", "203.0.113.97")];
    // The incidents the event writer reports with them (keyed rule + LAN host + remote).
    const incidents = events.map((e, i) => incidentOf(e, 41 + i));
    const unrelated = incidentOf(scanBan(T0, "198.51.100.3"), 99);
    const c = only(engine.process(events, [...incidents, unrelated]));
    expect(c.alert.evidence.incidentIds).toEqual([41, 42]);
  });

  it("keeps its memory bounded under a flood of distinct hosts and sources", () => {
    const { engine } = engineWith({ maxTrackedHosts: 100, maxRememberedAlerts: 200 });
    const events = [];
    for (let i = 0; i < 5_000; i++) {
      const host = `2001:db8:2::${i.toString(16)}`;
      events.push(packet("out-smb", { time: T0 + i, src: host, dst: "198.51.100.7", dport: 445 }));
      events.push(scanBan(T0 + i, `2001:db8:99::${i.toString(16)}`, "192.0.2.40"));
    }
    engine.process(events);
    const s = engine.stats();
    expect(s.outboundHosts).toBeLessThanOrEqual(100);
    expect(s.alerts).toBeLessThanOrEqual(200);
  });

  it("bounds evidence: a scan of 1,000 ports keeps the first 32 and says there were more", () => {
    const { engine } = engineWith();
    const events = Array.from({ length: 1_000 }, (_, i) => scanBanned(T0 + i, "203.0.113.7", "192.0.2.40", i + 1));
    const a = only(engine.process(events)).alert;
    expect(a.count).toBe(1_000);
    expect(a.evidence.ports).toHaveLength(32);
    expect(a.evidence.portsMore).toBe(true);
  });
});

describe("configuration", () => {
  it("parses the defaults and refuses nonsense with a path", () => {
    expect(parseAlertConfig(undefined)).toMatchObject({ ok: true, value: { dedupeWindowMs: 24 * HOUR, outboundPort: { threshold: 10 } } });
    const bad = parseAlertConfig({ outboundPort: { threshold: 0 }, timeZone: "Mars/Olympus" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toContain("outboundPort.threshold");
    const tz = parseAlertConfig({ timeZone: "Mars/Olympus" });
    expect(tz).toMatchObject({ ok: false });
  });
});
