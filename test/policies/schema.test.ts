import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDevice } from "../../policies/device.ts";
import { formatProblems, parsePolicy, parsePolicyText } from "../../policies/schema.ts";

const baselineText = readFileSync(join(import.meta.dirname, "../../policies/baseline.json"), "utf8");
const baseline = () => JSON.parse(baselineText) as Record<string, any>;

describe("policy schema", () => {
  it("accepts the shipped baseline", () => {
    const r = parsePolicyText(baselineText);
    expect(r.ok ? "" : formatProblems(r.problems)).toBe("");
    expect(r.ok && r.value.inbound.default).toBe("drop");
  });

  it("names the path and the problem of every error", () => {
    const p = baseline();
    p.portScan.rate = 0;
    p.blocklists[0].entries = ["203.0.113.99", "203.0.113.7/24", "not-an-ip"];
    p.outbound.block[0].ports = [70000];
    p.inbound.allow = [{ id: "Bad Id", to: "192.0.2.10", protocol: "tcp", port: 22 }];
    const r = parsePolicy(p);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.problems.map((x) => [x.path, x.message]));
    expect(byPath["portScan.rate"]).toMatch(/>=\s*1|at least|too small/i);
    expect(byPath["blocklists[0].entries[1]"]).toMatch(/host bits set.*203\.0\.113\.0\/24/);
    expect(byPath["blocklists[0].entries[2]"]).toMatch(/not an IPv4 or IPv6 address/);
    expect(byPath["outbound.block[0].ports[0]"]).toBeDefined();
    expect(byPath["inbound.allow[0].id"]).toMatch(/a-z/);
    expect(byPath["blocklists[0].entries[0]"]).toBeUndefined();
  });

  it("rejects duplicate rule ids, saying where the first one is", () => {
    const p = baseline();
    p.bruteForce[1].id = "bf-ssh";
    const r = parsePolicy(p);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(formatProblems(r.problems)).toContain('bruteForce[1].id: duplicate rule id "bf-ssh" (also at bruteForce.0)');
  });

  it("refuses to turn default-deny off and rejects unknown schema versions", () => {
    const p = baseline();
    p.inbound.default = "accept";
    p.schemaVersion = 2;
    const r = parsePolicy(p);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((x) => x.path).sort()).toEqual(["inbound.default", "schemaVersion"]);
  });

  it("reports broken JSON as a problem, not an exception", () => {
    const r = parsePolicyText('{"schemaVersion": 1,');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]?.message).toMatch(/not valid JSON/);
  });

  it("rejects rule ids that would collide as nft object names", () => {
    for (const id of ["a--b", "a_b", "a.b", "-a", "a-", "A"]) {
      const p = baseline();
      p.portScan.id = id;
      expect(parsePolicy(p).ok, id).toBe(false);
    }
  });
});

describe("device config", () => {
  const good = { mode: "bridge", interfaces: { wan: "wan0", lan: "lan0", bridge: "br0" }, lanPrefixes: ["192.0.2.0/24"],
    management: { address4: "192.0.2.2" }, dataDir: "/var/lib/sekisho", runDir: "/run/sekisho" };
  it("accepts a bridge device and fills defaults", () => {
    const r = parseDevice(good);
    expect(r.ok && r.value.management.ports).toEqual([80, 443]);
    expect(r.ok && r.value.logGroup).toBe(1);
  });
  it("needs a bridge name in bridge mode and different wan/lan", () => {
    const r = parseDevice({ ...good, interfaces: { wan: "eth0", lan: "eth0" } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(["interfaces.bridge", "interfaces.lan"]);
  });
  it("rejects relative paths and bad interface names", () => {
    const r = parseDevice({ ...good, dataDir: "data", interfaces: { ...good.interfaces, wan: "this-name-is-too-long" } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(["dataDir", "interfaces.wan"]);
  });
});
