import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_DATAGRAM_BYTES } from "../../../firmware/logs/parse-result.ts";
import { ULOGD_DEVICE_PREFIX, parseUlogdJson } from "../../../firmware/logs/ulogd-json.ts";
import type { PacketRecord } from "../../../firmware/logs/types.ts";

// Real ulogd 2.0.8 output (see fixtures/README.md for how each was captured).
const FIXTURES = join(import.meta.dirname, "fixtures");
const fixture = (name: string): string[] => readFileSync(join(FIXTURES, name), "utf8").split("\n").filter((l) => l !== "");
const host = fixture("ulogd-host.jsonl");
const bridge = fixture("ulogd-bridge.jsonl");
const enc = new TextEncoder();
const NOW = 1_800_000_000_000;

function parsed(line: string): PacketRecord {
  // ulogd ends each datagram with a newline; the sink stored lines without it.
  const r = parseUlogdJson(enc.encode(`${line}\n`), NOW);
  if (!r.ok) throw new Error(`rejected: ${r.reason} ${r.detail}`);
  return r.record;
}

const byPrefix = (lines: string[], prefix: string) => lines.map(parsed).filter((r) => r.prefix === prefix);

describe("parseUlogdJson on real ulogd records", () => {
  it("accepts every captured record", () => {
    for (const line of [...host, ...bridge]) expect(parseUlogdJson(enc.encode(line), NOW).ok).toBe(true);
  });

  it("reads an inbound TCP SYN on the bridge (wan port mark, br0 both ways)", () => {
    const [syn] = byPrefix(bridge, "sk:inbound.scan:");
    expect(syn).toEqual({
      kind: "packet",
      time: 1795444897 * 1000 + 230, // oob.time.sec/usec, not the zone-less "timestamp"
      prefix: "sk:inbound.scan:",
      ipVersion: 4,
      src: "192.0.2.1",
      dst: "192.0.2.10",
      proto: "tcp",
      sport: 35382,
      dport: 3389,
      tcpFlags: ["SYN"],
      inIf: "br0",
      outIf: "br0",
      mark: 1,
      srcMac: "f2:47:5b:c7:c0:2c",
      length: 60,
    });
  });

  it("reads an IPv6 TCP SYN: length is the payload length plus the 40-byte header", () => {
    const v6 = byPrefix(bridge, "sk:inbound.scan:")[1]!;
    expect(v6).toMatchObject({ ipVersion: 6, src: "2001:db8:2::1", dst: "2001:db8:2::10", proto: "tcp", dport: 445, length: 80, tcpFlags: ["SYN"] });
  });

  it("reads an outbound UDP packet from the LAN port (mark 2)", () => {
    const [c2] = byPrefix(bridge, "sk:c2-feed.out:");
    expect(c2).toMatchObject({ proto: "udp", src: "192.0.2.10", dst: "192.0.2.1", sport: 59197, dport: 4444, mark: 2, srcMac: "9a:11:10:95:91:82", length: 35 });
    expect(c2!.tcpFlags).toBeUndefined();
  });

  it("reads ICMP and ICMPv6 types, and no ports for them", () => {
    const icmp = byPrefix(host, "sk:test.icmp:");
    expect(icmp.map((r) => r.icmpType).sort()).toEqual([3, 8]); // port unreachable, echo request
    const [icmp6] = byPrefix(host, "sk:test.icmp6:");
    expect(icmp6).toMatchObject({ ipVersion: 6, proto: "ipv6-icmp", icmpType: 128 });
    expect(icmp6!.sport).toBeUndefined();
    expect(icmp6!.dport).toBeUndefined();
  });

  it("gives other protocols as their number", () => {
    const [gre] = byPrefix(host, "sk:test.gre:");
    expect(gre).toMatchObject({ proto: "47", length: 27 });
    expect(gre!.sport).toBeUndefined();
  });

  it("reads a locally sent packet (output hook): no input interface, no MAC", () => {
    const [out] = byPrefix(host, "sk:test.out:");
    expect(out).toMatchObject({ outIf: "eth0", src: "192.0.2.2", dst: "192.0.2.10", dport: 9999 });
    expect(out!.inIf).toBeUndefined();
    expect(out!.srcMac).toBeUndefined();
  });

  it("has no group unless the device field names it (buildUlogdConfig does)", () => {
    expect(parsed(host[0]!).group).toBeUndefined();
    const withGroup = JSON.parse(host[0]!) as Record<string, unknown>;
    withGroup.dvc = `${ULOGD_DEVICE_PREFIX}7`;
    expect(parsed(JSON.stringify(withGroup)).group).toBe(7);
    withGroup.dvc = `${ULOGD_DEVICE_PREFIX}99999`;
    expect(parsed(JSON.stringify(withGroup)).group).toBeUndefined();
  });
});

describe("parseUlogdJson on bad input", () => {
  const base = JSON.parse(bridge[0]!) as Record<string, unknown>;
  const variant = (patch: Record<string, unknown>) => enc.encode(JSON.stringify({ ...base, ...patch }));

  it.each([
    ["empty", new Uint8Array(0), "empty"],
    ["not JSON", enc.encode("{not json"), "not-json"],
    ["truncated", enc.encode(bridge[0]!.slice(0, 200)), "not-json"],
    ["an array", enc.encode("[1,2]"), "not-json"],
    ["a string", enc.encode('"x"'), "not-json"],
    ["null", enc.encode("null"), "not-json"],
    ["no family", variant({ "oob.family": 7, "oob.protocol": 2054 }), "not-ip-packet"],
    ["v4 family with v6 addresses", variant({ src_ip: "2001:db8::1" }), "not-ip-packet"],
    ["address not a string", variant({ dest_ip: 3221225985 }), "not-ip-packet"],
    ["address with junk", variant({ src_ip: "192.0.2.1; rm -rf /" }), "not-ip-packet"],
    ["no protocol", variant({ "ip.protocol": "6" }), "not-ip-packet"],
    ["too large", new Uint8Array(MAX_DATAGRAM_BYTES + 1).fill(0x20), "too-large"],
  ])("rejects %s", (_name, bytes, reason) => {
    const r = parseUlogdJson(bytes, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it("takes the family from the ethertype for a bridge-family log rule", () => {
    const r = parseUlogdJson(variant({ "oob.family": 7, "oob.protocol": 0x0800 }), NOW);
    expect(r.ok && r.record.ipVersion).toBe(4);
  });

  it("drops fields of the wrong type or range instead of trusting them", () => {
    const r = parseUlogdJson(
      variant({ dest_port: 70000, src_port: -1, "oob.mark": 1.5, "mac.saddr.str": "zz:zz", "oob.in": 42, "tcp.syn": true }),
      NOW,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record.dport).toBeUndefined();
    expect(r.record.sport).toBeUndefined();
    expect(r.record.mark).toBeUndefined();
    expect(r.record.srcMac).toBeUndefined();
    expect(r.record.inIf).toBeUndefined();
    expect(r.record.tcpFlags).toEqual([]);
  });

  it("uses the receive time when the packet time is missing or absurd", () => {
    for (const patch of [{ "oob.time.sec": undefined }, { "oob.time.sec": -5 }, { "oob.time.sec": "1795444897" }]) {
      const r = parseUlogdJson(variant(patch), NOW);
      expect(r.ok && r.record.time).toBe(NOW);
    }
  });

  it("cleans and bounds the prefix and interface names", () => {
    const r = parseUlogdJson(variant({ "oob.prefix": `sk:x\u001b[31m\u202e:${"y".repeat(300)}`, "oob.in": "br0\nfake-line-of-log" }), NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record.prefix).toMatch(/^sk:x\[31m:y+$/);
    expect(r.record.prefix.length).toBe(127);
    expect(r.record.inIf).toBe("br0fake-line-of");
  });

  it("replaces a lone surrogate (valid JSON escape, invalid text)", () => {
    const text = JSON.stringify({ ...base, "oob.prefix": "sk:a:" }).replace("sk:a:", "sk:\\ud800:");
    const r = parseUlogdJson(enc.encode(text), NOW);
    expect(r.ok && r.record.prefix).toBe("sk:\ufffd:");
  });

  it("lower-cases the MAC and ignores the all-zero MAC of loopback", () => {
    const upper = parseUlogdJson(variant({ "mac.saddr.str": "AA:BB:CC:DD:EE:0F" }), NOW);
    expect(upper.ok && upper.record.srcMac).toBe("aa:bb:cc:dd:ee:0f");
    const zero = parseUlogdJson(variant({ "mac.saddr.str": "00:00:00:00:00:00" }), NOW);
    expect(zero.ok && zero.record.srcMac).toBeUndefined();
  });

  it("ignores a __proto__ key (JSON.parse makes it an own property, nothing more)", () => {
    const text = JSON.stringify(base).replace(/^\{/, '{"__proto__": {"src_ip": "6.6.6.6"}, ');
    const r = parseUlogdJson(enc.encode(text), NOW);
    expect(r.ok && r.record.src).toBe("192.0.2.1");
  });
});
