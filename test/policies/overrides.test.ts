import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyOverrideChange, EMPTY_OVERRIDES, LocalOverrides, Mac, MAX_BLOCKED_DEVICES, MAX_LOCAL_DOMAINS, mergeOverrides,
  OverrideChange, OverrideDomain, parseOverrides, type LocalOverrides as Overrides,
} from "../../policies/overrides.ts";
import { DnsCategory, parsePolicy, type Policy } from "../../policies/schema.ts";
import { policyOf } from "./baseline-fixture.ts";

const baseline = policyOf();

const change = (c: unknown): OverrideChange => OverrideChange.parse(c);
/** Applies changes in order; a refused change leaves the overrides as they were. */
const applyAll = (policy: Policy, start: Overrides, changes: readonly OverrideChange[]): Overrides =>
  changes.reduce((o, c) => {
    const r = applyOverrideChange(policy, o, c);
    return r.ok ? r.overrides : o;
  }, start);
const must = (r: ReturnType<typeof applyOverrideChange>): Overrides => {
  if (!r.ok) throw new Error(r.error);
  return r.overrides;
};

// ---- arbitraries ----------------------------------------------------------------------------

const categories = DnsCategory.options;
const arbCategory = fc.constantFrom(...categories);
const arbCategories = fc.subarray([...categories]);
const arbDomain = fc.tuple(fc.stringMatching(/^[a-z0-9]{1,8}$/), fc.constantFrom("example", "test", "invalid"), fc.constantFrom("com", "jp", "co.jp"))
  .map(([a, b, c]) => `${a}.${b}.${c}`);
const arbMac = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((b) => [b[0]! & 0xfe, ...b.slice(1)].map((x) => x.toString(16).padStart(2, "0")).join(":"));
const arbChange: fc.Arbitrary<OverrideChange> = fc.oneof(
  arbDomain.map((domain) => ({ kind: "allow-domain" as const, domain })),
  arbDomain.map((domain) => ({ kind: "block-domain" as const, domain })),
  arbDomain.map((domain) => ({ kind: "reset-domain" as const, domain })),
  fc.tuple(arbCategory, fc.boolean()).map(([category, blocked]) => ({ kind: "set-category" as const, category, blocked })),
  arbCategory.map((category) => ({ kind: "reset-category" as const, category })),
  arbMac.map((mac) => ({ kind: "block-device" as const, mac })),
  arbMac.map((mac) => ({ kind: "unblock-device" as const, mac })),
);
/** Policies with random categories, client groups and switchable categories. */
const arbPolicy: fc.Arbitrary<Policy> = fc.record({
  block: arbCategories, switchable: arbCategories, groups: fc.array(arbCategories, { maxLength: 3 }),
}).map(({ block, switchable, groups }) => policyOf((p) => {
  p.dns.blockCategories = block;
  p.dns.localSwitchable = switchable;
  p.dns.groups = groups.map((g, i) => ({ id: `group-${i}`, clients: [`192.0.2.${10 + i}`], blockCategories: g }));
}));
/** Overrides reached through the admin page's own changes. */
const arbOverrides = (policy: Policy) => fc.array(arbChange, { maxLength: 25 }).map((cs) => applyAll(policy, EMPTY_OVERRIDES, cs));

// ---- tests ----------------------------------------------------------------------------------

describe("the override schemas", () => {
  it("keep MACs in the inventory's form and refuse group addresses", () => {
    expect(Mac.parse("02-00-00-AB-CD-EF")).toBe("02:00:00:ab:cd:ef");
    for (const bad of ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01", "02:00:00:00:00", "02:00:00:00:00:0a; reboot", "$(id)"]) {
      expect(Mac.safeParse(bad).success, bad).toBe(false);
    }
  });

  it("keep domains as a person types them, normalised, and refuse anything else", () => {
    expect(OverrideDomain.parse("  WWW.Example.COM. ")).toBe("www.example.com");
    for (const bad of ["", "a b.example", "<img src=x onerror=alert(1)>", "example.com/path", "x".repeat(254)]) {
      expect(OverrideDomain.safeParse(bad).success, bad).toBe(false);
    }
  });

  it("parse kept overrides, with a clear error naming the path when they are bad", () => {
    expect(parseOverrides({})).toEqual({ ok: true, value: EMPTY_OVERRIDES });
    const r = parseOverrides({ dns: { allow: ["ok.example", "not a domain"] }, blockedDevices: ["zz"] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/dns\.allow\.1: must be a domain name/);
      expect(r.error).toMatch(/blockedDevices\.0: must be a MAC address/);
    }
    expect(parseOverrides({ dns: { categories: { "no-such": true } } }).ok).toBe(false);
  });
});

describe("applyOverrideChange", () => {
  it("allow then reset, block then reset, block-device then unblock restore what was there", () => {
    fc.assert(fc.property(arbPolicy.chain((p) => fc.tuple(fc.constant(p), arbOverrides(p), arbDomain, arbMac)), ([policy, start, domain, mac]) => {
      fc.pre(!start.dns.allow.includes(domain) && !start.dns.block.includes(domain) && !start.blockedDevices.includes(mac));
      for (const kind of ["allow-domain", "block-domain"] as const) {
        const after = applyAll(policy, start, [change({ kind, domain }), change({ kind: "reset-domain", domain })]);
        expect(after).toEqual(start);
      }
      expect(applyAll(policy, start, [change({ kind: "block-device", mac }), change({ kind: "unblock-device", mac })])).toEqual(start);
    }), { numRuns: 200 });
  });

  it("keeps a domain in at most one local list, the last one asked for", () => {
    fc.assert(fc.property(fc.array(arbChange, { maxLength: 40 }), (changes) => {
      const o = applyAll(baseline, EMPTY_OVERRIDES, changes);
      expect(o.dns.allow.filter((d) => o.dns.block.includes(d))).toEqual([]);
      for (const c of changes) {
        if (c.kind !== "allow-domain" && c.kind !== "block-domain") continue;
        const last = [...changes].reverse().find((x) => "domain" in x && x.domain === c.domain)!;
        if (last.kind === "allow-domain") expect(o.dns.allow).toContain(c.domain);
        else if (last.kind === "block-domain") expect(o.dns.block).toContain(c.domain);
        else expect([...o.dns.allow, ...o.dns.block]).not.toContain(c.domain);
      }
    }), { numRuns: 200 });
  });

  it("is idempotent: the same change twice is the change once", () => {
    fc.assert(fc.property(arbPolicy.chain((p) => fc.tuple(fc.constant(p), arbOverrides(p), arbChange)), ([policy, start, c]) => {
      const once = applyOverrideChange(policy, start, c);
      const twice = once.ok ? applyOverrideChange(policy, once.overrides, c) : once;
      expect(twice).toEqual(once);
    }), { numRuns: 200 });
  });

  it("always leaves overrides that survive the round trip through the kept file", () => {
    fc.assert(fc.property(arbPolicy.chain((p) => fc.tuple(fc.constant(p), arbOverrides(p))), ([, o]) => {
      expect(parseOverrides(JSON.parse(JSON.stringify(o)))).toEqual({ ok: true, value: o });
    }), { numRuns: 100 });
  });

  it("refuses to switch a category the provider keeps, but always lets a switch be reset", () => {
    const policy = policyOf((p) => { p.dns.localSwitchable = ["social"]; });
    const r = applyOverrideChange(policy, EMPTY_OVERRIDES, change({ kind: "set-category", category: "phishing", blocked: false }));
    expect(r).toEqual({ ok: false, error: "the provider's policy does not let the box switch category phishing" });
    const social = must(applyOverrideChange(policy, EMPTY_OVERRIDES, change({ kind: "set-category", category: "social", blocked: true })));
    expect(social.dns.categories).toEqual({ social: true });
    // A newer policy no longer lets the box switch "social": the stale switch can still go.
    const newer = policyOf((p) => { p.dns.localSwitchable = []; });
    expect(must(applyOverrideChange(newer, social, change({ kind: "reset-category", category: "social" }))).dns.categories).toEqual({});
  });

  it("refuses to grow a list past its limit (the kept file would not parse again), and changes nothing", () => {
    const domains = Array.from({ length: MAX_LOCAL_DOMAINS }, (_, i) => `d${i}.example`);
    const fullAllow: Overrides = { ...EMPTY_OVERRIDES, dns: { ...EMPTY_OVERRIDES.dns, allow: domains } };
    expect(applyOverrideChange(baseline, fullAllow, change({ kind: "allow-domain", domain: "one-more.example" })))
      .toEqual({ ok: false, error: `the local allow list is full (${MAX_LOCAL_DOMAINS} entries)` });
    // Asking again for one that is there is fine, and so is moving one to the other list.
    expect(applyOverrideChange(baseline, fullAllow, change({ kind: "allow-domain", domain: "d5.example" })).ok).toBe(true);
    expect(must(applyOverrideChange(baseline, fullAllow, change({ kind: "block-domain", domain: "d5.example" }))).dns.allow).toHaveLength(MAX_LOCAL_DOMAINS - 1);
    expect(fullAllow.dns.allow).toHaveLength(MAX_LOCAL_DOMAINS);

    const macs = Array.from({ length: MAX_BLOCKED_DEVICES }, (_, i) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`);
    const fullDevices: Overrides = { ...EMPTY_OVERRIDES, blockedDevices: macs };
    expect(parseOverrides(fullDevices).ok).toBe(true);
    expect(applyOverrideChange(baseline, fullDevices, change({ kind: "block-device", mac: "02:00:00:ff:ff:fe" })).ok).toBe(false);
  });
});

describe("mergeOverrides", () => {
  it("gives the provider's policy back unchanged when there are no overrides", () => {
    fc.assert(fc.property(arbPolicy, (policy) => {
      const m = mergeOverrides(policy, EMPTY_OVERRIDES);
      expect(m).toEqual({ policy, dnsOverrides: { allow: [], block: [] }, blockedDevices: [] });
    }), { numRuns: 50 });
  });

  it("never turns a category on or off that the provider does not let the box switch, for anyone", () => {
    fc.assert(fc.property(
      arbPolicy.chain((p) => fc.tuple(fc.constant(p), fc.dictionary(arbCategory, fc.boolean()), fc.array(arbChange, { maxLength: 10 }))),
      ([policy, rawSwitches, changes]) => {
        // Switches straight from a kept file too (made under an older policy), not only the page's.
        const start: Overrides = { ...EMPTY_OVERRIDES, dns: { ...EMPTY_OVERRIDES.dns, categories: rawSwitches } };
        const o = applyAll(policy, start, changes);
        const m = mergeOverrides(policy, o);
        const switchable = new Set(policy.dns.localSwitchable);
        const pairs: [readonly string[], readonly string[]][] = [
          [policy.dns.blockCategories, m.policy.dns.blockCategories],
          ...policy.dns.groups.map((g, i) => [g.blockCategories, m.policy.dns.groups[i]!.blockCategories] as [string[], string[]]),
        ];
        for (const [before, after] of pairs) {
          for (const c of categories) {
            if (!switchable.has(c)) expect(after.includes(c), c).toBe(before.includes(c));
            else if (o.dns.categories[c] !== undefined) expect(after.includes(c), c).toBe(o.dns.categories[c]);
            else expect(after.includes(c), c).toBe(before.includes(c));
          }
        }
        // Nothing else in the policy moves.
        expect({ ...m.policy, dns: { ...m.policy.dns, blockCategories: [], groups: [] } })
          .toEqual({ ...policy, dns: { ...policy.dns, blockCategories: [], groups: [] } });
      },
    ), { numRuns: 300 });
  });

  it("hands the local name rules and the blocked devices (sorted, once each) to the compilers", () => {
    const o: Overrides = {
      dns: { allow: ["a.example"], block: ["b.example"], categories: {} },
      blockedDevices: ["02:00:00:00:00:0b", "02:00:00:00:00:0a", "02:00:00:00:00:0b"],
    };
    expect(mergeOverrides(baseline, o)).toEqual({
      policy: baseline, dnsOverrides: { allow: ["a.example"], block: ["b.example"] },
      blockedDevices: ["02:00:00:00:00:0a", "02:00:00:00:00:0b"],
    });
  });

  it("switches a category for the default and every client group alike", () => {
    const policy = policyOf((p) => {
      p.dns.blockCategories = ["malware", "social"];
      p.dns.groups = [{ id: "staff", clients: ["192.0.2.10"], blockCategories: ["malware"] }];
    });
    const m = mergeOverrides(policy, { ...EMPTY_OVERRIDES, dns: { ...EMPTY_OVERRIDES.dns, categories: { social: false, ads: true } } });
    expect(m.policy.dns.blockCategories).toEqual(["malware", "ads"]);
    expect(m.policy.dns.groups[0]!.blockCategories).toEqual(["malware", "ads"]);
    expect(LocalOverrides.parse({}).dns.categories).toEqual({});
  });
});

describe("OverrideDomain", () => {
  it("refuses a whole top-level domain: a local allow beats the malware and C&C lists", () => {
    for (const domain of ["com", "jp", "*.com", "*.example.jp"]) {
      expect(OverrideChange.safeParse({ kind: "allow-domain", domain }).success, domain).toBe(false);
    }
    expect(OverrideChange.parse({ kind: "allow-domain", domain: " Example.JP. " })).toEqual({ kind: "allow-domain", domain: "example.jp" });
  });
});
