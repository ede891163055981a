import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Nft } from "../../../firmware/nftables/driver.ts";
import { buildReplaceBatch, compileRuleset } from "../../../firmware/ruleset/compile.ts";
import { parseLogPrefix } from "../../../firmware/ruleset/meta.ts";
import { parseDevice, type Device } from "../../../policies/device.ts";
import { formatPrefix } from "../../../policies/net.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";

const baselineRaw = JSON.parse(readFileSync(join(import.meta.dirname, "../../../policies/baseline.json"), "utf8"));

function policyOf(raw: unknown): Policy {
  const r = parsePolicy(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}
function deviceOf(mode: "bridge" | "router"): Device {
  const r = parseDevice({
    mode, interfaces: { wan: "wan0", lan: "lan0", ...(mode === "bridge" ? { bridge: "br0" } : {}) },
    lanPrefixes: ["192.0.2.0/24", "2001:db8:2::/64"], management: { address4: mode === "bridge" ? "192.0.2.2" : "192.0.2.1" },
    dataDir: "/var/lib/sekisho", runDir: "/run/sekisho",
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}
/** The baseline with lab addresses in its lists and one inbound allow rule. */
function labPolicy(): Policy {
  const p = structuredClone(baselineRaw);
  p.blocklists[0].entries = ["203.0.113.99", "203.0.113.96/29", "2001:db8:100::99", "2001:db8:66::/48"];
  p.inbound.allow = [{ id: "web-in", to: "192.0.2.10", protocol: "tcp", port: 8080, from: ["203.0.113.0/24"] }];
  return policyOf(p);
}

const logPrefixesOf = (batch: unknown): string[] =>
  [...JSON.stringify(batch).matchAll(/"prefix":"([^"]*)"/g)].map((m) => m[1]!);

describe("compileRuleset (pure)", () => {
  for (const mode of ["bridge", "router"] as const) {
    it(`is deterministic in ${mode} mode, whatever the order of blocklist entries`, () => {
      const p = labPolicy();
      const a = JSON.stringify(compileRuleset(p, deviceOf(mode)));
      const shuffled = structuredClone(p);
      shuffled.blocklists[0]!.entries.reverse();
      expect(JSON.stringify(compileRuleset(p, deviceOf(mode)))).toBe(a);
      expect(JSON.stringify(compileRuleset(shuffled, deviceOf(mode)))).toBe(a);
    });
  }

  it("gives every log prefix a metadata entry, and every entry a category and severity", () => {
    const c = compileRuleset(labPolicy(), deviceOf("bridge"));
    const prefixes = logPrefixesOf(c.commands);
    expect(prefixes.length).toBeGreaterThan(10);
    for (const prefix of prefixes) {
      const id = parseLogPrefix(prefix);
      expect(id, prefix).toBeDefined();
      expect(c.meta[id!], prefix).toBeDefined();
    }
    expect(c.meta["c2-feed.out"]).toMatchObject({ category: "c2", severity: "high", direction: "outbound", path: "blocklists[0]" });
    expect(c.meta["bf-ssh"]).toMatchObject({ category: "inbound", severity: "medium", action: "ban" });
    expect(c.meta["port-scan"]).toMatchObject({ category: "inbound", severity: "low", action: "ban" });
    expect(c.meta["sys-inbound"]).toMatchObject({ category: "inbound", severity: "low", source: "system" });
    expect(c.meta["out-smb"]).toMatchObject({ category: "c2", severity: "medium", direction: "outbound" });
  });

  it("puts single addresses in hash sets and prefixes in interval sets", () => {
    const c = compileRuleset(labPolicy(), deviceOf("bridge"));
    const v4 = c.elementSets.find((s) => s.name === "bl_c2_feed_v4");
    const v6 = c.elementSets.find((s) => s.name === "bl_c2_feed_v6");
    // 203.0.113.99 lies inside 203.0.113.96/29: the prefix covers it, the host entry goes.
    expect(v4?.elements).toEqual([]);
    expect(v6?.elements).toEqual(["2001:db8:100::99"]);
    const json = JSON.stringify(c.commands);
    expect(json).toContain('"name":"bl_c2_feed_n4","type":"ipv4_addr","flags":["interval"],"elem":[{"prefix":{"addr":"203.0.113.96","len":29}}]');
  });

  it("NATs and forwards ports only in router mode, marks ports only in bridge mode", () => {
    const bridge = JSON.stringify(compileRuleset(labPolicy(), deviceOf("bridge")).commands);
    const router = JSON.stringify(compileRuleset(labPolicy(), deviceOf("router")).commands);
    expect(bridge).toContain('"family":"bridge"');
    // DHCP offers from the office router are let through, but only from the LAN's prefix.
    expect(bridge).toContain('{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"192.0.2.0","len":24}}}},{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"udp"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"sport"}},"right":67}}');
    expect(bridge).not.toContain("masquerade");
    expect(router).not.toContain('"family":"bridge"');
    expect(router).toContain('{"masquerade":null}');
    expect(router).toContain('{"dnat":{"family":"ip","addr":"192.0.2.10","port":8080}}');
  });
});

// ---- against the real nft ----------------------------------------------------------------

const root = process.getuid?.() === 0;
const ns = `sk-unit-${process.pid}`;
const nft = new Nft({ argv: ["ip", "netns", "exec", ns, "nft"], runDir: join(tmpdir(), `sekisho-unit-${process.pid}`) });

/** Arbitrary but valid policies: random lists, allow rules, limits and port blocks. */
const arbPolicy = (): fc.Arbitrary<Policy> => {
  const id = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
  const v4 = fc.ipV4();
  const cidr4 = fc.tuple(fc.ipV4(), fc.integer({ min: 8, max: 32 })).map(([a, len]) => {
    const bits = a.split(".").reduce((n, x) => n * 256 + Number(x), 0);
    const masked = len === 0 ? 0 : Number((BigInt(bits) >> BigInt(32 - len)) << BigInt(32 - len));
    return formatPrefix({ family: 4, bits: BigInt(masked), len });
  });
  const v6 = fc.ipV6();
  const port = fc.integer({ min: 1, max: 65535 });
  return fc.record({
    ids: fc.uniqueArray(id, { minLength: 12, maxLength: 12 }),
    entries: fc.array(fc.oneof(v4, cidr4, v6), { maxLength: 60 }),
    allowTo: fc.array(fc.tuple(v4, port, fc.constantFrom("tcp", "udp")), { maxLength: 3 }),
    scan: fc.record({ enabled: fc.boolean(), rate: fc.integer({ min: 1, max: 1000 }), burst: fc.integer({ min: 1, max: 1000 }), banSeconds: fc.integer({ min: 10, max: 86400 }) }),
    bfPorts: fc.uniqueArray(port, { minLength: 1, maxLength: 4 }),
    outPorts: fc.array(fc.oneof(port, fc.tuple(fc.integer({ min: 1, max: 30000 }), fc.integer({ min: 1, max: 30000 })).map(([a, b]) => [a, a + b] as [number, number])), { minLength: 1, maxLength: 5 }),
    direction: fc.constantFrom("both", "inbound", "outbound"),
    category: fc.constantFrom("c2", "botnet", "malware", "phishing", "scanner", "other"),
  }).map((g) => {
    const p = structuredClone(baselineRaw);
    const [a, b, c, d, e, f, ...rest] = g.ids.map((x) => `g-${x}`);
    p.portScan = { id: a, ...g.scan };
    p.bruteForce = [{ id: b, service: "X", protocol: "tcp", ports: g.bfPorts, perMinute: 3, burst: 4, ban: g.scan.enabled }];
    p.blocklists = [{ id: c, category: g.category, direction: g.direction, entries: g.entries }];
    p.outbound.block = [{ id: d, protocol: "both", ports: g.outPorts.map((x) => (Array.isArray(x) && x[1] > 65535 ? 65535 : x)).filter((x) => !Array.isArray(x) || x[0] < x[1]), reason: { ja: "理由", en: "reason" } }];
    if (p.outbound.block[0].ports.length === 0) p.outbound.block[0].ports = [23];
    p.inbound.allow = g.allowTo.map(([to, port, protocol], i) => ({ id: rest[i] ?? `${e}-${i}`, to, port, protocol }));
    void f;
    return policyOf(p);
  });
};

describe.skipIf(!root)("compiled batches against the real nft -c", () => {
  beforeAll(() => execFileSync("ip", ["netns", "add", ns]));
  afterAll(() => execFileSync("ip", ["netns", "del", ns]));

  for (const mode of ["bridge", "router"] as const) {
    it(`accepts the baseline and the lab policy in ${mode} mode`, async () => {
      await nft.check(buildReplaceBatch(compileRuleset(policyOf(baselineRaw), deviceOf(mode))));
      await nft.check(buildReplaceBatch(compileRuleset(labPolicy(), deviceOf(mode))));
    });
  }

  it("accepts every generated policy in both modes", async () => {
    await fc.assert(
      fc.asyncProperty(arbPolicy(), fc.constantFrom("bridge", "router") as fc.Arbitrary<"bridge" | "router">, async (p, mode) => {
        await nft.check(buildReplaceBatch(compileRuleset(p, deviceOf(mode))));
      }),
      { numRuns: 40 },
    );
  });

  it("is not a check that accepts anything: a broken batch is refused", async () => {
    const batch = buildReplaceBatch(compileRuleset(labPolicy(), deviceOf("bridge")));
    const broken = JSON.parse(JSON.stringify(batch).replace('"jump":{"target":"log_sys_inbound"}', '"jump":{"target":"no_such_chain"}'));
    await expect(nft.check(broken)).rejects.toThrow(/No such file or directory|Could not process rule/);
  });
});
