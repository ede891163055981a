import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  classify, classifyRecord, cleanText, createClassifier, endpointSeverity, isLanAddress, isLoopback, lanNetworks,
  MAX_APP_LENGTH, MAX_MESSAGE_LENGTH,
} from "../../../firmware/events/classify.ts";
import type { EventKind } from "../../../firmware/events/types.ts";
import type { LogRecord } from "../../../firmware/logs/types.ts";
import { compileRuleset } from "../../../firmware/ruleset/compile.ts";
import { parseLogPrefix } from "../../../firmware/ruleset/meta.ts";
import { LAN, deviceOf, labPolicy, packet, syslog } from "./fixtures.ts";

/**
 * Every log id the compiler emits for the lab policy, and the kind of rule each must be
 * classified as. A new log id in the compiler fails the first test until someone decides.
 */
const EXPECTED_KIND: Record<string, EventKind> = {
  "port-scan": "scan", "port-scan.banned": "scan", "sys-inbound": "scan", "sys-box-inbound": "scan",
  "sys-tcp-flags": "scan", "sys-invalid": "scan",
  "bf-ssh": "brute-force", "bf-rdp": "brute-force", "bf-smb": "brute-force", "bf-vnc": "brute-force", "bf-ftp-telnet": "brute-force",
  "c2-feed.out": "blocklist", "c2-feed.in": "blocklist", "botnet-feed.out": "blocklist", "botnet-feed.in": "blocklist",
  "scanner-feed.in": "blocklist", "phish-feed.out": "blocklist", "malware-feed.out": "blocklist", "malware-feed.in": "blocklist",
  "out-smb": "outbound-port", "out-netbios-udp": "outbound-port", "out-telnet": "outbound-port", "out-irc": "outbound-port",
  "out-smtp": "outbound-port", "out-dot": "outbound-port",
  "sys-lan-out": "allowed", "web-in": "allowed",
  "dns-doh": "other",
  // A device the admin blocked: counted, never an alert (the admin already acted).
  "local-device-block.out": "other", "local-device-block.in": "other",
};
/** Log ids only one mode emits: the device block's ".in" needs the bridge table (a routed packet has no destination MAC in any inet hook). */
const ONLY_IN: Record<string, "bridge" | "router"> = { "local-device-block.in": "bridge" };

const loggedIds = (commands: unknown): string[] =>
  [...JSON.stringify(commands).matchAll(/"prefix":"([^"]*)"/g)].map((m) => parseLogPrefix(m[1]!)!);

describe("classify: every log id the compiler emits", () => {
  for (const mode of ["bridge", "router"] as const) {
    const compiled = compileRuleset(labPolicy(), deviceOf(mode));
    const meta = compiled.meta;

    it(`${mode}: the table covers exactly the compiler's log ids, and every logged prefix has metadata`, () => {
      expect(Object.keys(meta).sort()).toEqual(Object.keys(EXPECTED_KIND).filter((id) => (ONLY_IN[id] ?? mode) === mode).sort());
      const logged = loggedIds(compiled.commands);
      expect(logged.length).toBeGreaterThan(15);
      for (const id of logged) expect(meta[id], id).toBeDefined();
    });

    for (const [logId, kind] of Object.entries(EXPECTED_KIND).filter(([id]) => (ONLY_IN[id] ?? mode) === mode)) {
      it(`${mode}: ${logId} → ${kind}, ${meta[logId]?.category}/${meta[logId]?.severity}, hosts by direction`, () => {
        const m = meta[logId]!;
        const inbound = m.direction === "inbound";
        // The packet as the rule sees it: inbound rules from the internet to the LAN, outbound the reverse.
        const rec = inbound
          ? packet(logId, { src: "203.0.113.7", dst: "192.0.2.10", sport: 51000, dport: 445, srcMac: "02:00:00:00:00:99" })
          : packet(logId, { src: "192.0.2.10", dst: "198.51.100.9", sport: 51000, dport: 445, srcMac: "02:00:00:00:00:0a" });
        const e = classify(rec, meta, LAN);
        expect(e).toEqual({
          time: rec.time, category: m.category, severity: m.severity, kind, logId, ruleId: m.ruleId,
          direction: m.direction, action: m.action, proto: "tcp", port: 445,
          lanIp: "192.0.2.10", remoteIp: inbound ? "203.0.113.7" : "198.51.100.9",
          // Inbound, the source MAC is the router's: it is not the LAN host's.
          ...(inbound ? {} : { lanMac: "02:00:00:00:00:0a" }),
        });
      });
    }
  }

  it("uses the policy's categories: C&C out is high c2, phishing medium web, malware high malware", () => {
    const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;
    const out = (id: string) => classify(packet(id, { src: "192.0.2.10", dst: "198.51.100.9" }), meta, LAN)!;
    expect([out("c2-feed.out").category, out("c2-feed.out").severity]).toEqual(["c2", "high"]);
    expect([out("phish-feed.out").category, out("phish-feed.out").severity]).toEqual(["web", "medium"]);
    expect([out("malware-feed.out").category, out("malware-feed.out").severity]).toEqual(["malware", "high"]);
    expect([out("out-smtp").category, out("out-smtp").severity]).toEqual(["c2", "medium"]);
  });

  it("takes the service port from dport in both directions, and none for ICMP", () => {
    const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;
    expect(classify(packet("sys-inbound", { sport: 443, dport: 3389 }), meta, LAN)!.port).toBe(3389);
    expect(classify(packet("out-smtp", { src: "192.0.2.10", dst: "198.51.100.9", sport: 40000, dport: 25 }), meta, LAN)!.port).toBe(25);
    const { sport: _s, dport: _d, ...icmp } = packet("sys-inbound", { proto: "icmp", icmpType: 8 });
    const e = classify(icmp, meta, LAN)!;
    expect(e.port).toBeUndefined();
    expect(e.proto).toBe("icmp");
  });

  it("handles IPv6 packets the same way", () => {
    const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;
    const e = classify(packet("c2-feed.out", { ipVersion: 6, src: "2001:db8:2::10", dst: "2001:db8:100::99", dport: 443 }), meta, LAN)!;
    expect([e.lanIp, e.remoteIp, e.category]).toEqual(["2001:db8:2::10", "2001:db8:100::99", "c2"]);
  });
});

describe("classify: records that are not events", () => {
  const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;
  it.each([
    ["another program's prefix", "fw:drop:", "foreign-prefix"],
    ["no prefix", "", "foreign-prefix"],
    ["upper-case tag", "SK:sys-inbound:", "foreign-prefix"],
    ["no trailing colon", "sk:sys-inbound", "foreign-prefix"],
    ["an id this ruleset does not have", "sk:old-rule.out:", "unknown-log-id"],
    ["an id that is an Object.prototype name", "sk:constructor:", "unknown-log-id"],
  ])("%s (%j) → %s", (_what, prefix, reason) => {
    const rec = { ...packet("sys-inbound"), prefix };
    expect(classifyRecord(rec, meta, LAN)).toEqual({ ok: false, reason });
    expect(classify(rec, meta, LAN)).toBeUndefined();
  });

  it("the box's own syslog (loopback) and syslog from outside the LAN are not events", () => {
    for (const peer of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) {
      expect(classifyRecord(syslog({ peer }), meta, LAN), peer).toEqual({ ok: false, reason: "box-syslog" });
    }
    for (const peer of ["198.51.100.5", "2001:db8:99::1", "192.0.3.1", "::ffff:203.0.113.9", "not an address"]) {
      expect(classifyRecord(syslog({ peer }), meta, LAN), peer).toEqual({ ok: false, reason: "foreign-syslog" });
    }
  });
});

describe("classify: syslog from LAN devices → endpoint", () => {
  const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;

  it("is an endpoint event for the socket's peer, not the hostname it claims", () => {
    const e = classify(syslog({ peer: "192.0.2.20", hostname: "ceo-laptop", severity: 3 }), meta, LAN);
    expect(e).toEqual({
      time: 1_763_900_000_000, category: "endpoint", severity: "medium", kind: "endpoint", logId: "syslog", ruleId: "syslog",
      direction: "outbound", action: "log", lanIp: "192.0.2.20", app: "sshd", message: "Failed password for admin from 192.0.2.99",
    });
  });

  it("maps syslog severity 0-3 to medium and 4-7 to low (never high: any LAN device can send anything)", () => {
    const got = [0, 1, 2, 3, 4, 5, 6, 7].map((s) => classify(syslog({ severity: s }), meta, LAN)!.severity);
    expect(got).toEqual(["medium", "medium", "medium", "medium", "low", "low", "low", "low"]);
    expect(endpointSeverity(4)).toBe("low");
  });

  it("accepts IPv6 LAN peers and IPv4-mapped peers from a dual-stack socket", () => {
    expect(classify(syslog({ peer: "2001:db8:2::20" }), meta, LAN)!.lanIp).toBe("2001:db8:2::20");
    expect(classify(syslog({ peer: "::ffff:192.0.2.21" }), meta, LAN)!.lanIp).toBe("192.0.2.21");
  });

  it("cleans untrusted text: control and bidi characters, lone surrogates, length", () => {
    const e = classify(syslog({
      appName: "a\u0000p\u001bp".padEnd(200, "x"),
      message: "line1\nline2\r\u0007bell \u202eevil\u202c \ud800 ok \ud83d\ude00".padEnd(5000, "y"),
    }), meta, LAN)!;
    expect(e.app).toBe("a p p".padEnd(MAX_APP_LENGTH, "x"));
    expect(e.message!.length).toBe(MAX_MESSAGE_LENGTH);
    expect(e.message!.startsWith("line1 line2  bell  evil  \ufffd ok \ud83d\ude00y")).toBe(true);
    expect(cleanText("ab\ud83d\ude00", 3)).toBe("ab"); // never half a surrogate pair
  });
});

describe("LAN and loopback membership", () => {
  it("matches prefixes of both families exactly at their edges", () => {
    const lan = lanNetworks(["10.1.0.0/16", "2001:db8:2::/64", "198.51.100.7/32", "not-a-prefix"]);
    expect(isLanAddress(lan, "10.1.0.0")).toBe(true);
    expect(isLanAddress(lan, "10.1.255.255")).toBe(true);
    expect(isLanAddress(lan, "10.2.0.0")).toBe(false);
    expect(isLanAddress(lan, "198.51.100.7")).toBe(true);
    expect(isLanAddress(lan, "198.51.100.8")).toBe(false);
    expect(isLanAddress(lan, "2001:db8:2::ffff")).toBe(true);
    expect(isLanAddress(lan, "2001:db8:2:1::1")).toBe(false);
    expect(isLanAddress(lanNetworks(["0.0.0.0/0"]), "203.0.113.1")).toBe(true);
    expect(isLoopback("127.255.0.1")).toBe(true);
    expect(isLoopback("128.0.0.1")).toBe(false);
  });
});

describe("classify: property tests", () => {
  const meta = compileRuleset(labPolicy(), deviceOf("bridge")).meta;
  const ids = Object.keys(meta);
  const ip4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."));
  const anyText = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }));
  const record: fc.Arbitrary<LogRecord> = fc.oneof(
    fc.record({
      kind: fc.constant("packet" as const), time: fc.nat(), ipVersion: fc.constant(4 as const),
      prefix: fc.oneof(fc.constantFrom(...ids).map((id) => `sk:${id}:`), anyText),
      src: fc.oneof(ip4, anyText), dst: fc.oneof(ip4, anyText), proto: fc.constantFrom("tcp", "udp", "icmp", "47"),
      dport: fc.option(fc.nat(65535), { nil: undefined }), srcMac: fc.option(anyText, { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant("syslog" as const), time: fc.nat(), format: fc.constantFrom("rfc3164" as const, "rfc5424" as const),
      peer: fc.oneof(ip4, fc.constant("192.0.2.5"), anyText), facility: fc.nat(23), severity: fc.nat(7),
      appName: fc.option(anyText, { nil: undefined }), message: fc.string({ unit: "binary", maxLength: 3000 }),
    }),
  );

  it("never throws, and the cached classifier agrees with the plain one", () => {
    const cached = createClassifier(meta, LAN);
    fc.assert(fc.property(record, (r) => {
      const a = classifyRecord(r, meta, LAN);
      expect(cached(r)).toEqual(a);
      expect(classify(r, meta, LAN)).toEqual(a.ok ? a.event : undefined);
      if (a.ok && a.event.message !== undefined) {
        expect(a.event.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
        expect(a.event.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
        expect(() => encodeURIComponent(a.event.message!)).not.toThrow(); // well-formed UTF-16
      }
    }), { numRuns: 2000 });
  });
});
