import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildElementDiff, Enforcer, structureHash } from "../../../firmware/enforce/enforcer.ts";
import { Nft } from "../../../firmware/nftables/driver.ts";
import type { Command } from "../../../firmware/nftables/types.ts";
import {
  BLOCKED_DEVICES_SET, buildReplaceBatch, canonicalMacs, compileRuleset, TABLE, type CompiledRuleset,
} from "../../../firmware/ruleset/compile.ts";
import { parseLogPrefix } from "../../../firmware/ruleset/meta.ts";
import { parseDevice, type Device } from "../../../policies/device.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";

const baselineRaw = JSON.parse(readFileSync(join(import.meta.dirname, "../../../policies/baseline.json"), "utf8"));
const baseline = (): Policy => {
  const r = parsePolicy(baselineRaw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
};
function deviceOf(mode: "bridge" | "router", dataDir = "/var/lib/sekisho"): Device {
  const r = parseDevice({
    mode, interfaces: { wan: "wan0", lan: "lan0", ...(mode === "bridge" ? { bridge: "br0" } : {}) },
    lanPrefixes: ["192.0.2.0/24"], management: { address4: mode === "bridge" ? "192.0.2.2" : "192.0.2.1" },
    dataDir, runDir: join(dataDir, "run"),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";

type Cmd = Record<string, Record<string, Record<string, unknown>>>;
const adds = (c: CompiledRuleset, what: string): Record<string, unknown>[] =>
  (c.commands as unknown as Cmd[]).flatMap((x) => (x.add?.[what] ? [x.add[what]!] : []));
const setOf = (c: CompiledRuleset) => adds(c, "set").filter((s) => s.name === BLOCKED_DEVICES_SET);
const rulesOf = (c: CompiledRuleset, family: string, chain: string) =>
  adds(c, "rule").filter((r) => r.family === family && r.chain === chain).map((r) => JSON.stringify(r.expr));

describe("blocked devices in the compiled ruleset (pure)", () => {
  it("has an empty blocked_devices set in every ruleset, in the table that enforces it", () => {
    for (const [mode, family] of [["bridge", "bridge"], ["router", "inet"]] as const) {
      for (const c of [compileRuleset(baseline(), deviceOf(mode)), compileRuleset(baseline(), deviceOf(mode), { blockedDevices: [] })]) {
        const sets = setOf(c);
        expect(sets, mode).toEqual([{ family, table: TABLE, name: BLOCKED_DEVICES_SET, type: "ether_addr" }]);
        expect(c.elementSets.filter((s) => s.name === BLOCKED_DEVICES_SET)).toEqual([
          { family, table: TABLE, name: BLOCKED_DEVICES_SET, type: "ether_addr", elements: [] },
        ]);
      }
    }
  });

  it("puts the MACs in the set in canonical form, once each, sorted", () => {
    const c = compileRuleset(baseline(), deviceOf("bridge"), { blockedDevices: ["02-00-00-00-00-0B", A, "02:00:00:00:00:0A"] });
    expect(setOf(c)[0]?.elem).toEqual([A, B]);
    expect(c.elementSets.find((s) => s.name === BLOCKED_DEVICES_SET)?.elements).toEqual([A, B]);
  });

  it("is deterministic whatever the order and spelling of the MACs", () => {
    const mac = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
      .map((b) => [b[0]! & 0xfe, ...b.slice(1)].map((x) => x.toString(16).padStart(2, "0")).join(":"));
    fc.assert(fc.property(fc.array(mac, { maxLength: 20 }), fc.boolean(), (macs, upper) => {
      const spelled = macs.map((m) => (upper ? m.toUpperCase().replaceAll(":", "-") : m)).reverse();
      for (const mode of ["bridge", "router"] as const) {
        const a = JSON.stringify(compileRuleset(baseline(), deviceOf(mode), { blockedDevices: macs }));
        expect(JSON.stringify(compileRuleset(baseline(), deviceOf(mode), { blockedDevices: spelled }))).toBe(a);
      }
    }), { numRuns: 30 });
  });

  it("changes only the set's elements, so the enforcer blocks a device with an element diff", () => {
    for (const mode of ["bridge", "router"] as const) {
      const none = compileRuleset(baseline(), deviceOf(mode));
      const one = compileRuleset(baseline(), deviceOf(mode), { blockedDevices: [A] });
      expect(structureHash(one), mode).toBe(structureHash(none));
      const family = mode === "bridge" ? "bridge" : "inet";
      expect(buildElementDiff(none.elementSets, one.elementSets).commands).toEqual([
        { add: { element: { family, table: TABLE, name: BLOCKED_DEVICES_SET, elem: [A] } } },
      ]);
      expect(buildElementDiff(one.elementSets, none.elementSets).commands).toEqual([
        { delete: { element: { family, table: TABLE, name: BLOCKED_DEVICES_SET, elem: [A] } } },
      ]);
    }
  });

  it("bridge mode: drops frames from and to the MAC first in the bridge prerouting chain, logged under local-device-block", () => {
    const c = compileRuleset(baseline(), deviceOf("bridge"), { blockedDevices: [A] });
    const pre = rulesOf(c, "bridge", "pre");
    expect(pre[0]).toBe('[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"saddr"}},"right":"@blocked_devices"}},{"jump":{"target":"log_local_device_block__out"}}]');
    expect(pre[1]).toBe('[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"daddr"}},"right":"@blocked_devices"}},{"jump":{"target":"log_local_device_block__in"}}]');
    // Before the port marks: nothing after the block sees the device's frames.
    expect(pre[2]).toContain('"mangle"');
    // The log chains, with their counters, live in the bridge table and are rate-limited
    // like every other log chain.
    const out = rulesOf(c, "bridge", "log_local_device_block__out");
    expect(out).toEqual([
      '[{"limit":{"rate":200,"per":"second","burst":200}},{"counter":"local_device_block__out"},{"log":{"prefix":"sk:local-device-block.out:","group":1}},{"drop":null}]',
      '[{"counter":"local_device_block__out"},{"drop":null}]',
    ]);
    expect(adds(c, "counter").filter((x) => x.family === "bridge").map((x) => x.name)).toEqual(["local_device_block__in", "local_device_block__out"]);
    expect(c.meta["local-device-block.out"]).toMatchObject({
      ruleId: "local-device-block", source: "local", category: "endpoint", severity: "low", action: "drop", direction: "outbound",
      counter: "local_device_block__out",
    });
    expect(c.meta["local-device-block.in"]).toMatchObject({ ruleId: "local-device-block", category: "endpoint", severity: "low", direction: "inbound" });
    expect(parseLogPrefix("sk:local-device-block.out:")).toBe("local-device-block.out");
    // Nothing in the inet table for it.
    expect(rulesOf(c, "inet", "device_block")).toEqual([]);
  });

  it("router mode: drops frames from the MAC on the LAN interface at raw priority, before conntrack", () => {
    const c = compileRuleset(baseline(), deviceOf("router"), { blockedDevices: [A] });
    expect(adds(c, "chain").find((x) => x.name === "device_block")).toEqual({
      family: "inet", table: TABLE, name: "device_block", type: "filter", hook: "prerouting", prio: -300, policy: "accept",
    });
    expect(rulesOf(c, "inet", "device_block")).toEqual([
      '[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"lan0"}},{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"saddr"}},"right":"@blocked_devices"}},{"jump":{"target":"log_local_device_block__out"}}]',
    ]);
    expect(c.meta["local-device-block.out"]).toMatchObject({ category: "endpoint", severity: "low", direction: "outbound" });
    // The destination MAC of a routed packet is not known in any inet hook: no such rule.
    expect(c.meta["local-device-block.in"]).toBeUndefined();
    expect(c.tables).toEqual([{ family: "inet", name: TABLE }]);
  });

  it("gives every log prefix, the device block's included, a metadata entry", () => {
    for (const mode of ["bridge", "router"] as const) {
      const c = compileRuleset(baseline(), deviceOf(mode), { blockedDevices: [A] });
      const prefixes = [...JSON.stringify(c.commands).matchAll(/"prefix":"([^"]*)"/g)].map((m) => m[1]!);
      expect(prefixes).toContain("sk:local-device-block.out:");
      for (const p of prefixes) expect(c.meta[parseLogPrefix(p)!], p).toBeDefined();
    }
  });

  it("refuses what is not a device's MAC: malformed text, broadcast and multicast", () => {
    for (const bad of ["", "02:00:00:00:00", "02:00:00:00:00:0g", "02:00:00:00:00:0a; drop", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"]) {
      expect(() => canonicalMacs([bad]), bad).toThrow(/not a MAC address|group/);
      expect(() => compileRuleset(baseline(), deviceOf("bridge"), { blockedDevices: [bad] }), bad).toThrow();
    }
    expect(canonicalMacs(["00:11:22:33:44:55"])).toEqual(["00:11:22:33:44:55"]);
  });
});

// ---- against the real nft ----------------------------------------------------------------

const root = process.getuid?.() === 0;
const ns = `sk-devblk-${process.pid}`;

describe.skipIf(!root)("blocked devices against the real nft", () => {
  let dataDir: string;
  let nft: Nft;
  beforeAll(() => execFileSync("ip", ["netns", "add", ns]));
  afterAll(() => execFileSync("ip", ["netns", "del", ns]));
  beforeEach(() => {
    execFileSync("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]);
    dataDir = mkdtempSync(join(tmpdir(), "sekisho-devblk-"));
    nft = new Nft({ argv: ["ip", "netns", "exec", ns, "nft"], runDir: join(dataDir, "run") });
    return () => rmSync(dataDir, { recursive: true, force: true });
  });

  for (const mode of ["bridge", "router"] as const) {
    it(`nft -c accepts the ruleset with and without blocked devices in ${mode} mode`, async () => {
      for (const blockedDevices of [[], [A], [A, B, "00:1b:63:84:45:e6"]]) {
        await nft.check(buildReplaceBatch(compileRuleset(baseline(), deviceOf(mode), { blockedDevices })));
      }
      await nft.check(buildReplaceBatch(compileRuleset(baseline(), deviceOf(mode))));
    });

    it(`blocks and unblocks a device by element diff in the kernel (${mode} mode)`, async () => {
      const device = deviceOf(mode, dataDir);
      const family = mode === "bridge" ? "bridge" : "inet";
      const enforcer = new Enforcer({ nft, dataDir });
      expect(await enforcer.apply(compileRuleset(baseline(), device))).toMatchObject({ ok: true, kind: "replace" });
      expect(await nft.listSetElements(family, TABLE, BLOCKED_DEVICES_SET)).toEqual([]);

      expect(await enforcer.apply(compileRuleset(baseline(), device, { blockedDevices: [B, A] })))
        .toMatchObject({ ok: true, kind: "diff", added: 2, deleted: 0 });
      expect((await nft.listSetElements(family, TABLE, BLOCKED_DEVICES_SET)).sort()).toEqual([A, B]);

      expect(await enforcer.apply(compileRuleset(baseline(), device, { blockedDevices: [B] })))
        .toMatchObject({ ok: true, kind: "diff", added: 0, deleted: 1 });
      expect(await nft.listSetElements(family, TABLE, BLOCKED_DEVICES_SET)).toEqual([B]);

      // The rule that uses the set is really there, in the table the mode needs.
      const listing = execFileSync("ip", ["netns", "exec", ns, "nft", "list", "table", family, TABLE], { encoding: "utf8" });
      expect(listing).toContain("ether saddr @blocked_devices jump log_local_device_block__out");
      if (mode === "bridge") expect(listing).toContain("ether daddr @blocked_devices jump log_local_device_block__in");
      else expect(listing).toMatch(/chain device_block \{\s+type filter hook prerouting priority raw; policy accept;/);
    });
  }

  it("is not a check that accepts anything: a set of the wrong type is refused", async () => {
    const batch = buildReplaceBatch(compileRuleset(baseline(), deviceOf("bridge"), { blockedDevices: [A] }));
    const broken = JSON.parse(JSON.stringify(batch).replace('"name":"blocked_devices","type":"ether_addr"', '"name":"blocked_devices","type":"ipv4_addr"')) as Command[];
    await expect(nft.check(broken)).rejects.toThrow();
  });
});
