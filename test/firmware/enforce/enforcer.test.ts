import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Enforcer, lkgPath } from "../../../firmware/enforce/enforcer.ts";
import { Nft } from "../../../firmware/nftables/driver.ts";
import { compileRuleset, TABLE } from "../../../firmware/ruleset/compile.ts";
import { parseDevice, type Device } from "../../../policies/device.ts";
import { formatIpv4 } from "../../../policies/net.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";

const root = process.getuid?.() === 0;
const ns = `sk-enf-${process.pid}`;
const baselineRaw = JSON.parse(readFileSync(join(import.meta.dirname, "../../../policies/baseline.json"), "utf8"));

function policyWith(entries: string[], serial = 1, patch: (p: any) => void = () => {}): Policy {
  const p = structuredClone(baselineRaw);
  p.serial = serial;
  p.blocklists[0].entries = entries;
  patch(p);
  const r = parsePolicy(p);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}
/** n distinct addresses in 100.64.0.0/10 (not the lab's ranges: these never carry packets). */
const hosts = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => formatIpv4(0x64400000 + offset + i));

describe.skipIf(!root)("Enforcer against the real nft", () => {
  let dataDir: string;
  let device: Device;
  let nft: Nft;
  let enforcer: Enforcer;
  const nftIn = (...args: string[]) => execFileSync("ip", ["netns", "exec", ns, "nft", ...args], { encoding: "utf8" });

  beforeAll(() => execFileSync("ip", ["netns", "add", ns]));
  afterAll(() => execFileSync("ip", ["netns", "del", ns]));
  beforeEach(() => {
    execFileSync("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]);
    dataDir = mkdtempSync(join(tmpdir(), "sekisho-enf-"));
    const d = parseDevice({ mode: "bridge", interfaces: { wan: "wan0", lan: "lan0", bridge: "br0" }, lanPrefixes: ["192.0.2.0/24"],
      management: { address4: "192.0.2.2" }, dataDir, runDir: join(dataDir, "run") });
    if (!d.ok) throw new Error("device");
    device = d.value;
    nft = new Nft({ argv: ["ip", "netns", "exec", ns, "nft"], runDir: device.runDir });
    enforcer = new Enforcer({ nft, dataDir });
    return () => rmSync(dataDir, { recursive: true, force: true });
  });

  it("replaces the table and keeps the last-known-good on disk", async () => {
    const o = await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device));
    expect(o).toMatchObject({ ok: true, kind: "replace" });
    expect(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4")).toEqual(["203.0.113.99"]);
    const lkg = await enforcer.readLastKnownGood();
    expect(lkg?.policy).toEqual({ id: "baseline-sme", serial: 1 });
  });

  it("leaves the running ruleset untouched when an apply fails, and says why", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device));
    const before = nftIn("list", "ruleset");
    const lkgBefore = readFileSync(lkgPath(dataDir), "utf8");
    // A device naming a log group the kernel cannot take makes nft refuse the batch at the
    // very end of a long transaction: everything before it must be rolled back too.
    const compiled = compileRuleset(policyWith(["203.0.113.99", "198.51.100.7"], 2), device);
    const broken = { ...compiled, commands: [...compiled.commands, { add: { rule: { family: "inet", table: TABLE, chain: "no_such_chain", expr: [{ accept: null }] } } } as never] };
    const o = await enforcer.apply(broken);
    expect(o.ok).toBe(false);
    if (!o.ok) {
      expect(o.error).toMatch(/running ruleset is unchanged/);
      expect(o.nftMessage).toMatch(/No such file or directory/);
    }
    expect(nftIn("list", "ruleset")).toBe(before);
    expect(readFileSync(lkgPath(dataDir), "utf8")).toBe(lkgBefore);
  });

  it("restores the last-known-good on the boot path", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"], 7), device));
    const applied = nftIn("-t", "list", "ruleset");
    execFileSync("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]); // a reboot: the kernel starts empty
    expect(await nft.tableExists("inet", TABLE)).toBe(false);
    const boot = await new Enforcer({ nft, dataDir }).applyLastKnownGood();
    expect(boot).toMatchObject({ ok: true, policy: { serial: 7 } });
    expect(nftIn("-t", "list", "ruleset")).toBe(applied);
  });

  it("reports a missing or corrupt last-known-good instead of applying it", async () => {
    expect(await enforcer.applyLastKnownGood()).toMatchObject({ ok: false, missing: true });
    await enforcer.apply(compileRuleset(policyWith([]), device));
    writeFileSync(lkgPath(dataDir), "{ truncated");
    expect(await enforcer.applyLastKnownGood()).toMatchObject({ ok: false, error: expect.stringMatching(/unreadable/) });
  });

  it("updates a 10k blocklist by element diff without recreating the table", async () => {
    const first = hosts(10_000);
    await enforcer.apply(compileRuleset(policyWith(first), device));
    nftIn("add", "element", "inet", TABLE, "banned_v4", "{ 203.0.113.66 }"); // dynamic state that a reload would lose
    const handle = (await nft.listTable("inet", TABLE)).table.handle;

    const next = [...hosts(9_900, 100), ...hosts(100, 50_000)]; // 1 % out, 1 % in
    const o = await enforcer.apply(compileRuleset(policyWith(next, 2), device));
    expect(o).toMatchObject({ ok: true, kind: "diff", added: 100, deleted: 100 });
    expect((await nft.listTable("inet", TABLE)).table.handle).toBe(handle);
    expect(await nft.listSetElements("inet", TABLE, "banned_v4")).toEqual(["203.0.113.66"]);
    const inKernel = await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4");
    expect(new Set(inKernel)).toEqual(new Set(next));
    expect(inKernel.length).toBe(10_000);
  });

  it("replaces the table when the structure changes, carrying bans over", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device));
    nftIn("add", "element", "inet", TABLE, "banned_v4", "{ 203.0.113.66 }");
    const handle = (await nft.listTable("inet", TABLE)).table.handle;
    const o = await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"], 2, (p) => { p.portScan.rate = 9; }), device));
    expect(o).toMatchObject({ ok: true, kind: "replace" });
    expect((await nft.listTable("inet", TABLE)).table.handle).not.toBe(handle);
    expect(await nft.listSetElements("inet", TABLE, "banned_v4")).toEqual(["203.0.113.66"]);
  });

  it("re-applies an unchanged policy in full when the table has gone", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device));
    expect(await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device))).toMatchObject({ ok: true, kind: "unchanged" });
    nftIn("flush", "ruleset");
    expect(await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device))).toMatchObject({ ok: true, kind: "replace" });
    expect(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4")).toEqual(["203.0.113.99"]);
  });

  it("applies a feed delta without compiling, and the boot path folds the journal back in", async () => {
    const first = hosts(10_000);
    await enforcer.apply(compileRuleset(policyWith([...first, "198.18.0.0/24"], 1), device));
    const handle = (await nft.listTable("inet", TABLE)).table.handle;
    const removed = first.slice(0, 100);
    const fresh = [...hosts(100, 60_000), "198.18.0.7", "2001:db8:66::1"]; // 198.18.0.7 is inside a listed prefix
    const o = await enforcer.applyListDeltas([{ list: "c2-feed", add: fresh, remove: [...removed, "203.0.113.250"] }], { id: "baseline-sme", serial: 2 });
    expect(o).toMatchObject({ ok: true, kind: "diff", added: 101, deleted: 100, policy: { serial: 2 } });
    expect((await nft.listTable("inet", TABLE)).table.handle).toBe(handle);
    const want = new Set([...first.slice(100), ...hosts(100, 60_000)]);
    expect(new Set(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4"))).toEqual(want);
    expect(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v6")).toEqual(["2001:db8:66::1"]);

    // A reboot: the kernel is empty and a fresh enforcer reads the LKG and its journal.
    nftIn("flush", "ruleset");
    const boot = await new Enforcer({ nft, dataDir }).applyLastKnownGood();
    expect(boot).toMatchObject({ ok: true, policy: { serial: 2 } });
    expect(new Set(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4"))).toEqual(want);

    // The next full save starts a new LKG and drops the journal.
    const journal = `${lkgPath(dataDir)}.journal`;
    expect(readFileSync(journal, "utf8").split("\n").filter(Boolean)).toHaveLength(1);
    await enforcer.apply(compileRuleset(policyWith([...want, "2001:db8:66::1", "198.18.0.0/24"], 3), device));
    expect(() => readFileSync(journal)).toThrow(/ENOENT/);
  });

  it("keeps its own view exact across deltas: the same content as a whole policy is 'unchanged'", async () => {
    const first = hosts(2_000);
    await enforcer.apply(compileRuleset(policyWith(first), device));
    await enforcer.applyListDeltas([{ list: "c2-feed", add: hosts(10, 9_000), remove: first.slice(0, 10) }], { id: "baseline-sme", serial: 2 });
    await enforcer.applyListDeltas([{ list: "c2-feed", add: hosts(5, 9_500), remove: hosts(5, 9_000) }], { id: "baseline-sme", serial: 3 });
    const now = [...first.slice(10), ...hosts(5, 9_005), ...hosts(5, 9_500)];
    expect(new Set(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4"))).toEqual(new Set(now));
    expect(await enforcer.apply(compileRuleset(policyWith(now, 4), device))).toMatchObject({ ok: true, kind: "unchanged" });
    expect(await enforcer.apply(compileRuleset(policyWith(first, 5), device))).toMatchObject({ ok: true, kind: "diff", added: 10, deleted: 10 });
    expect(new Set(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4"))).toEqual(new Set(first));
  });

  it("sends prefix changes and unknown lists to a full apply, changing nothing", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"]), device));
    const before = nftIn("list", "ruleset");
    expect(await enforcer.applyListDeltas([{ list: "c2-feed", add: ["203.0.113.0/28"], remove: [] }], { id: "x", serial: 2 }))
      .toMatchObject({ ok: false, needsFullApply: true });
    expect(await enforcer.applyListDeltas([{ list: "no-such-list", add: ["203.0.113.1"], remove: [] }], { id: "x", serial: 2 }))
      .toMatchObject({ ok: false, needsFullApply: true });
    expect(nftIn("list", "ruleset")).toBe(before);
  });

  it("falls back to a full replace when the kernel's set drifted from the last-known-good", async () => {
    await enforcer.apply(compileRuleset(policyWith(["203.0.113.99", "203.0.113.98"]), device));
    nftIn("delete", "element", "inet", TABLE, "bl_c2_feed_v4", "{ 203.0.113.98 }"); // someone edited the kernel
    const o = await enforcer.apply(compileRuleset(policyWith(["203.0.113.99"], 2), device));
    expect(o).toMatchObject({ ok: true, kind: "replace" });
    expect(await nft.listSetElements("inet", TABLE, "bl_c2_feed_v4")).toEqual(["203.0.113.99"]);
  });
});
