import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PolicyController, type ApplyMerged } from "../../../firmware/policy/controller.ts";
import { applyPolicyMigrations, MAX_HISTORY_ROWS, PolicyHistory } from "../../../firmware/policy/history.ts";
import { OverrideStore, overridesPath } from "../../../firmware/policy/override-store.ts";
import { closeDatabase, openDatabase, type Database } from "../../../firmware/store/database.ts";
import { EMPTY_OVERRIDES, type MergedPolicy, type OverrideChange } from "../../../policies/overrides.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";
import { policyOf } from "../../policies/baseline-fixture.ts";


const MAC_A = "02:00:00:00:00:0a";
const MAC_B = "02:00:00:00:00:0b";

/** A deferred result, so a test decides when an apply finishes. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}
/** Waits for a condition with a deadline (no fixed sleeps). */
async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}

describe("PolicyController (a real libsql file and a real override file)", () => {
  let dir: string;
  let database: Database;
  let policy: Policy;
  let now: number;
  let applied: MergedPolicy[];
  let applyImpl: ApplyMerged;
  let logs: string[];
  const make = () => new PolicyController({
    store: new OverrideStore({ dataDir: dir }), database, policy: () => policy,
    apply: (m) => { applied.push(m); return applyImpl(m); },
    clock: () => now, log: (l) => logs.push(l),
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "sekisho-policy-"));
    database = await openDatabase(join(dir, "sekisho.db"));
    await applyPolicyMigrations(database);
    policy = policyOf();
    now = 1_800_000_000_000;
    applied = [];
    logs = [];
    applyImpl = async () => ({ ok: true });
  });
  afterEach(() => {
    closeDatabase(database);
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies a change merged with the provider's policy, then keeps it and records it", async () => {
    const c = make();
    expect(await c.load()).toEqual({ ok: true, found: false });
    const r = await c.change({ kind: "block-device", mac: MAC_A });
    expect(r).toEqual({ ok: true, overrides: { ...EMPTY_OVERRIDES, blockedDevices: [MAC_A] } });
    expect(applied).toHaveLength(1);
    expect(applied[0]!.blockedDevices).toEqual([MAC_A]);
    expect(applied[0]!.policy).toBe(policy);
    now += 1000;
    await c.change({ kind: "allow-domain", domain: "Shop.Example." });
    expect(applied[1]).toMatchObject({ blockedDevices: [MAC_A], dnsOverrides: { allow: ["shop.example"], block: [] } });

    // Kept on disk: a new controller (a restart) starts with them.
    const again = make();
    expect(await again.load()).toEqual({ ok: true, found: true });
    expect(again.overrides()).toEqual({ dns: { allow: ["shop.example"], block: [], categories: {} }, blockedDevices: [MAC_A] });
    expect(again.merged().blockedDevices).toEqual([MAC_A]);

    expect(await c.history(10)).toEqual([
      { id: 2, time: now, source: "local", policyId: "baseline-sme", serial: 1, change: { kind: "allow-domain", domain: "shop.example" } },
      { id: 1, time: now - 1000, source: "local", policyId: "baseline-sme", serial: 1, change: { kind: "block-device", mac: MAC_A } },
    ]);
    expect(await c.history(1)).toHaveLength(1);
    expect(await c.history(0)).toEqual([]);
  });

  for (const how of ["returns an error", "throws"] as const) {
    it(`keeps nothing when the apply ${how}: not the file, not memory, not the history`, async () => {
      const c = make();
      await c.change({ kind: "block-domain", domain: "bad.example" });
      const kept = readFileSync(overridesPath(dir), "utf8");
      applyImpl = async () => {
        if (how === "throws") throw new Error("nft: Could not process rule");
        return { ok: false, error: "nft: Could not process rule" };
      };
      const r = await c.change({ kind: "block-device", mac: MAC_A });
      expect(r).toEqual({ ok: false, error: "the change was not applied: nft: Could not process rule" });
      expect(applied.at(-1)!.blockedDevices).toEqual([MAC_A]); // it was tried
      expect(c.overrides().blockedDevices).toEqual([]);
      expect(readFileSync(overridesPath(dir), "utf8")).toBe(kept);
      expect((await c.history(10)).map((h) => h.change?.kind)).toEqual(["block-domain"]);
    });
  }

  it("refuses bad changes before applying anything", async () => {
    policy = policyOf((p) => { p.dns.localSwitchable = ["social"]; });
    const c = make();
    expect(await c.change({ kind: "set-category", category: "malware", blocked: false }))
      .toEqual({ ok: false, error: "the provider's policy does not let the box switch category malware" });
    // A hand-built value that never went through the schema: refused, never reaches nft.
    const bad = await c.change({ kind: "block-device", mac: "02:00:00:00:00:0a; nft flush ruleset" } as OverrideChange);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatch(/^not a valid change: mac: must be a MAC address/);
    expect(applied).toEqual([]);
    expect(existsSync(overridesPath(dir))).toBe(false);
    expect(await c.history(10)).toEqual([]);
  });

  it("applies and records nothing for a change that changes nothing", async () => {
    const c = make();
    await c.change({ kind: "block-device", mac: MAC_A });
    expect(await c.change({ kind: "block-device", mac: MAC_A })).toEqual({ ok: true, overrides: { ...EMPTY_OVERRIDES, blockedDevices: [MAC_A] } });
    expect(await c.change({ kind: "unblock-device", mac: MAC_B })).toMatchObject({ ok: true });
    expect(applied).toHaveLength(1);
    expect(await c.history(10)).toHaveLength(1);
  });

  it("runs changes one at a time, in the order asked, and a failed one does not stop the queue", async () => {
    const c = make();
    const gates: { resolve: (v: { ok: true } | { ok: false; error: string }) => void }[] = [];
    applyImpl = () => {
      const d = deferred<{ ok: true } | { ok: false; error: string }>();
      gates.push(d);
      return d.promise;
    };
    const first = c.change({ kind: "block-device", mac: MAC_A });
    const second = c.change({ kind: "block-device", mac: MAC_B });
    const third = c.change({ kind: "allow-domain", domain: "ok.example" });
    await waitFor(() => applied.length === 1);
    // The second must not start while the first is in flight: give it every chance to.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(applied).toHaveLength(1);
    gates[0]!.resolve({ ok: false, error: "boom" });
    expect(await first).toEqual({ ok: false, error: "the change was not applied: boom" });
    await waitFor(() => applied.length === 2);
    // The second is computed from what is kept after the first failed: MAC_A is not in it.
    expect(applied[1]!.blockedDevices).toEqual([MAC_B]);
    gates[1]!.resolve({ ok: true });
    await waitFor(() => applied.length === 3);
    expect(applied[2]).toMatchObject({ blockedDevices: [MAC_B], dnsOverrides: { allow: ["ok.example"] } });
    gates[2]!.resolve({ ok: true });
    expect(await second).toMatchObject({ ok: true });
    expect(await third).toEqual({ ok: true, overrides: { dns: { allow: ["ok.example"], block: [], categories: {} }, blockedDevices: [MAC_B] } });
    expect((await c.history(10)).map((h) => h.change?.kind)).toEqual(["allow-domain", "block-device"]);
  });

  it("puts the previous overrides back when a change was applied but cannot be kept", async () => {
    const c = make();
    await c.change({ kind: "block-device", mac: MAC_A });
    // The policy directory becomes a file: the next save fails for real.
    rmSync(join(dir, "policy"), { recursive: true });
    writeFileSync(join(dir, "policy"), "");
    const r = await c.change({ kind: "block-device", mac: MAC_B });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^the change was applied but could not be kept \(.+\); the previous overrides are back in force$/);
    expect(applied.map((m) => m.blockedDevices)).toEqual([[MAC_A], [MAC_A, MAC_B], [MAC_A]]);
    expect(c.overrides().blockedDevices).toEqual([MAC_A]);
    expect(await c.history(10)).toHaveLength(1);
  });

  it("starts with no overrides when the kept file is invalid, says why, and keeps the bad file aside", async () => {
    mkdirSync(join(dir, "policy"));
    writeFileSync(overridesPath(dir), JSON.stringify({ blockedDevices: ["not-a-mac"] }));
    const c = make();
    const r = await c.load();
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.error).toMatch(/local overrides .*local\.json is not a valid set of local overrides: blockedDevices\.0/);
    expect(c.overrides()).toEqual(EMPTY_OVERRIDES);
    expect(await c.change({ kind: "block-device", mac: MAC_A })).toMatchObject({ ok: true });
    expect(readFileSync(`${overridesPath(dir)}.rejected`, "utf8")).toContain("not-a-mac");
  });

  it("records provider policies with what they changed, and answers from the policy in force", async () => {
    const c = make();
    await c.recordProviderPolicy(undefined, policy);
    const next = policyOf((p) => { p.serial = 2; p.portScan.rate = 10; p.dns.localSwitchable = ["ads"]; });
    now += 60_000;
    await c.recordProviderPolicy(policy, next);
    policy = next;
    expect(c.current()).toBe(next);
    expect(c.switchableCategories()).toEqual(["ads"]);
    const h = await c.history(10);
    expect(h[0]).toEqual({ id: 2, time: now, source: "provider", policyId: "baseline-sme", serial: 2,
      diff: { added: [], removed: [], changed: ["dns.localSwitchable", "port-scan"] } });
    expect(h[1]!.diff!.added).toContain("c2-feed");
    expect(h[1]!.change).toBeUndefined();
  });

  it("reapplies the policy in force with the kept overrides, in turn with changes", async () => {
    const c = make();
    await c.change({ kind: "block-device", mac: MAC_A });
    policy = policyOf((p) => { p.serial = 5; });
    expect(await c.reapply()).toEqual({ ok: true });
    expect(applied.at(-1)).toMatchObject({ blockedDevices: [MAC_A], policy: { serial: 5 } });
  });

  it("keeps only the newest rows, and shows rows it cannot read without their payload", async () => {
    const history = new PolicyHistory({ database, clock: () => now });
    for (let i = 0; i < MAX_HISTORY_ROWS + 5; i++) {
      await history.record({ source: "local", policy: { id: "p", serial: i }, change: { kind: "reset-domain", domain: `d${i}.example` } });
    }
    const rows = await history.list(MAX_HISTORY_ROWS + 100);
    expect(rows).toHaveLength(MAX_HISTORY_ROWS);
    expect(rows[0]!.serial).toBe(MAX_HISTORY_ROWS + 4);
    expect(rows.at(-1)!.serial).toBe(5);
    const count = await database.client.execute("SELECT count(*) AS n FROM policy_history");
    expect(Number(count.rows[0]!.n)).toBe(MAX_HISTORY_ROWS);

    await database.client.execute({ sql: "INSERT INTO policy_history (time, source, policy_id, serial, change) VALUES (?, 'local', 'p', 9999, ?)", args: [now, "{not json"] });
    const [newest] = await history.list(1);
    expect(newest).toEqual({ id: expect.any(Number), time: now, source: "local", policyId: "p", serial: 9999 });
  });
});
