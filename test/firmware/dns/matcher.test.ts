import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DomainTableBuilder, findFingerprint, ruleRef, SCOPE_EXACT } from "../../../firmware/dns/domain-table.ts";
import {
  clientCategories, compileDnsFilter, explainName, type BoxAddresses, type CompileInput, type DnsFilter,
} from "../../../firmware/dns/filter.ts";
import { formatNameExplanation } from "../../../firmware/dns/cli.ts";
import { hashTextName, newHashState } from "../../../firmware/dns/name-hash.ts";
import { DnsPolicy, type DnsLocalOverrides } from "../../../policies/schema.ts";

const listsDir = join(import.meta.dirname, "../../../policies/lists");
const sample = (f: string) => readFileSync(join(listsDir, f), "utf8");
const box: BoxAddresses = { management4: "192.0.2.1", management6: "2001:db8::1", blockPage4: "192.0.2.2" };

/** A policy's DNS section through the real schema (defaults applied). */
function policy(over: Record<string, unknown> = {}) {
  return DnsPolicy.parse({
    enabled: true, response: "blockpage", blockCategories: ["malware", "phishing", "ads"], allow: [], block: [], dohNames: ["doh.example"],
    dohAddresses: [], upstreams: [],
    lists: [
      { id: "mal", category: "malware", format: "hosts", match: "exact", url: "https://lists.example/mal" },
      { id: "phish", category: "phishing", format: "domains", match: "subdomain", url: "https://lists.example/phish" },
      { id: "ads", category: "ads", format: "adblock", match: "exact", url: "https://lists.example/ads" },
    ],
    ...over,
  });
}
const texts = new Map([["mal", sample("malware.hosts")], ["phish", sample("phishing.txt")], ["ads", sample("ads.adblock.txt")]]);

function compile(p = policy(), overrides?: DnsLocalOverrides, t: ReadonlyMap<string, string> = texts): DnsFilter {
  const r = compileDnsFilter({ policy: p, listTexts: t, overrides, box });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.filter;
}
const decide = (f: DnsFilter, name: string, ip?: string) => {
  const e = explainName(f, name, ip ? { ip } : undefined);
  if (!e.ok) throw new Error(e.problem);
  return e;
};

describe("domain table", () => {
  it("finds what it holds, merges duplicates into one slot, and misses what it does not", () => {
    const b = new DomainTableBuilder(100);
    const h = newHashState();
    const add = (n: string, src: number) => {
      hashTextName(h, n, 0, n.length);
      b.add(h[2]!, h[3]!, ruleRef(src, 0, SCOPE_EXACT));
    };
    add("a.example", 1);
    add("b.example", 1);
    add("a.example", 2);
    const t = b.finish()!;
    expect(t.size).toBe(2);
    const idx = (n: string) => {
      hashTextName(h, n, 0, n.length);
      return findFingerprint(t, h[2]!, h[3]!);
    };
    expect([...(t.palette[idx("a.example")] ?? [])]).toEqual([ruleRef(1, 0, 0), ruleRef(2, 0, 0)]);
    expect([...(t.palette[idx("b.example")] ?? [])]).toEqual([ruleRef(1, 0, 0)]);
    expect(idx("c.example")).toBe(-1);
    expect(idx("A.EXAMPLE")).toBe(idx("a.example"));
  });

  it("refuses names beyond its budget (a known name still takes more rules)", () => {
    const b = new DomainTableBuilder(2);
    expect(b.add(1, 1, 0)).toBe(true);
    expect(b.add(2, 2, 0)).toBe(true);
    expect(b.add(3, 3, 0)).toBe(false);
    expect(b.error).toEqual({ kind: "too-many-names", max: 2 });
    expect(b.add(2, 2, 8)).toBe(true);
  });

  it("grows past a low estimate and shrinks after a high one, finding everything either way", () => {
    const h = newHashState();
    for (const [expected, n] of [[10, 50_000], [1_000_000, 5_000]] as const) {
      const b = new DomainTableBuilder(10_000_000, expected);
      for (let i = 0; i < n; i++) {
        const name = `n${i}.example`;
        hashTextName(h, name, 0, name.length);
        b.add(h[2]!, h[3]!, ruleRef(i % 3, 0, SCOPE_EXACT));
      }
      const t = b.finish()!;
      expect(t.size).toBe(n);
      expect(t.slots.byteLength / n).toBeLessThan(16);
      for (let i = 0; i < n; i++) {
        const name = `n${i}.example`;
        hashTextName(h, name, 0, name.length);
        expect([...(t.palette[findFingerprint(t, h[2]!, h[3]!)] ?? [])]).toEqual([ruleRef(i % 3, 0, SCOPE_EXACT)]);
      }
      hashTextName(h, "absent.example", 0, 14);
      expect(findFingerprint(t, h[2]!, h[3]!)).toBe(-1);
    }
  });
});

describe("filter decisions", () => {
  const f = compile();

  it("blocks listed names with the list's scope, and names the list, the rule and the category", () => {
    expect(decide(f, "malware.example")).toMatchObject({ decision: "blocked", answerA: "192.0.2.2", answerAAAA: "::", reason: { source: { id: "mal", category: "malware" }, rule: "malware.example", scope: "exact" } });
    expect(decide(f, "sub.malware.example").decision).toBe("forwarded"); // hosts list is exact here
    expect(decide(f, "a.b.login-bank.example")).toMatchObject({ decision: "blocked", reason: { source: { id: "phish" }, rule: "login-bank.example", scope: "subdomain" } });
    expect(decide(f, "wildcard-phish.test").decision).toBe("forwarded");
    expect(decide(f, "x.wildcard-phish.test")).toMatchObject({ decision: "blocked", reason: { rule: "*.wildcard-phish.test", scope: "below" } });
    expect(decide(f, "BÜCHER.example").decision).toBe("blocked");
    expect(decide(f, "Ads.Example.").decision).toBe("blocked");
  });

  it("the most specific rule wins, and allow beats block at the same name", () => {
    expect(decide(f, "good.ads.example")).toMatchObject({ decision: "allowed", reason: { action: "allow", rule: "good.ads.example" } });
    expect(decide(f, "x.good.ads.example").decision).toBe("allowed");
    expect(decide(f, "bad.ads.example").decision).toBe("blocked");
    const g = compile(policy({ block: ["both.example"], allow: ["both.example"] }));
    expect(decide(g, "both.example").decision).toBe("allowed");
    const h = compile(policy({ allow: ["example"], block: ["deep.x.example"] }));
    expect(decide(h, "deep.x.example").decision).toBe("blocked");
    expect(decide(h, "other.example").decision).toBe("allowed");
  });

  it("local overrides beat the provider, whatever the specificity", () => {
    const g = compile(policy(), { allow: ["malware.example", "ads.example"], block: ["safe.test", "*.good.ads.example"] });
    expect(decide(g, "malware.example")).toMatchObject({ decision: "allowed", reason: { source: { id: "local" } } });
    expect(decide(g, "deep.sub.ads.example").decision).toBe("allowed");
    expect(decide(g, "x.safe.test")).toMatchObject({ decision: "blocked", reason: { source: { id: "local" }, action: "block" } });
    expect(decide(g, "good.ads.example").decision).toBe("allowed"); // "*." does not include the name itself
    expect(decide(g, "x.good.ads.example").decision).toBe("blocked");
  });

  it("list rules count only for active categories; the policy's own allow/block always", () => {
    const g = compile(policy({ blockCategories: ["phishing"], block: ["always.example"] }));
    expect(decide(g, "malware.example").decision).toBe("forwarded");
    expect(decide(g, "ads.example").decision).toBe("forwarded");
    expect(decide(g, "login-bank.example").decision).toBe("blocked");
    expect(decide(g, "always.example")).toMatchObject({ decision: "blocked", reason: { source: { id: "policy" } } });
  });

  it("built-in names and DoH names: answers that no override changes", () => {
    const g = compile(policy(), { allow: ["use-application-dns.net", "doh.example", "sekisho.home.arpa"], block: [] });
    expect(decide(g, "use-application-dns.net")).toMatchObject({ decision: "builtin", answerA: "NXDOMAIN" });
    expect(decide(g, "mask.icloud.com")).toMatchObject({ decision: "builtin", answerA: "NXDOMAIN" });
    expect(decide(g, "mask-h2.icloud.com").answerAAAA).toBe("NXDOMAIN");
    expect(decide(g, "icloud.com").decision).toBe("forwarded");
    expect(decide(g, "resolver.arpa")).toMatchObject({ decision: "builtin", answerA: "NODATA" });
    expect(decide(g, "_dns.resolver.arpa").answerA).toBe("NODATA");
    expect(decide(g, "sekisho.home.arpa")).toMatchObject({ decision: "builtin", answerA: "192.0.2.1", answerAAAA: "2001:db8::1" });
    expect(decide(g, "doh.example")).toMatchObject({ decision: "doh-refused", answerA: "NXDOMAIN" });
    expect(decide(g, "x.doh.example").decision).toBe("doh-refused");
  });

  it("answers by the policy's response mode", () => {
    expect(decide(compile(policy({ response: "nxdomain" })), "malware.example")).toMatchObject({ answerA: "NXDOMAIN", answerAAAA: "NXDOMAIN" });
    expect(decide(compile(policy({ response: "null" })), "malware.example")).toMatchObject({ answerA: "0.0.0.0", answerAAAA: "::" });
    const withV6 = compileDnsFilter({ policy: policy(), listTexts: texts, box: { ...box, blockPage6: "2001:db8::2" } });
    expect(withV6.ok && explainName(withV6.filter, "malware.example")).toMatchObject({ answerAAAA: "2001:db8::2" });
  });

  it("a disabled policy blocks nothing but still answers the built-in names", () => {
    const g = compile(policy({ enabled: false }));
    expect(decide(g, "malware.example").decision).toBe("forwarded");
    expect(decide(g, "doh.example").decision).toBe("forwarded");
    expect(decide(g, "sekisho.home.arpa").decision).toBe("builtin");
  });

  it("per-client groups: MAC beats prefix, the longest prefix wins, ties go to the first group", () => {
    const p = policy({
      blockCategories: ["malware"],
      groups: [
        { id: "office", clients: ["192.0.2.0/24", "2001:db8::/32"], blockCategories: ["malware", "phishing"] },
        { id: "kiosk", clients: ["192.0.2.64/26"], blockCategories: ["malware", "ads"] },
        { id: "boss", clients: ["02:00:00:00:00:01"], blockCategories: [] },
        { id: "dup", clients: ["192.0.2.0/24"], blockCategories: ["ads"] },
      ],
    });
    const g = compile(p);
    expect(clientCategories(g, { ip: "192.0.2.10" }).group).toBe("office");
    expect(clientCategories(g, { ip: "::ffff:192.0.2.70" }).group).toBe("kiosk");
    expect(clientCategories(g, { ip: "192.0.2.70", mac: "02-00-00-00-00-01" }).group).toBe("boss");
    expect(clientCategories(g, { ip: "2001:db8::99" }).group).toBe("office");
    expect(clientCategories(g, { ip: "198.51.100.1" }).group).toBeUndefined();
    expect(decide(g, "login-bank.example", "192.0.2.10")).toMatchObject({ decision: "blocked", group: "office" });
    expect(decide(g, "login-bank.example", "192.0.2.70").decision).toBe("forwarded");
    expect(decide(g, "ads.example", "192.0.2.70").decision).toBe("blocked");
    expect(decide(g, "login-bank.example", "198.51.100.1").decision).toBe("forwarded");
  });

  it("a list that is missing or unreadable fails the compile (the caller keeps its filter) unless partial is allowed", () => {
    const input: CompileInput = { policy: policy(), listTexts: new Map([["mal", sample("malware.hosts")], ["ads", "<html>\n<body>404 Not Found</body>\n</html>\n"]]), box };
    const r = compileDnsFilter(input);
    expect(r.ok).toBe(false);
    if (r.ok || r.error.kind !== "lists-unusable") throw new Error("expected lists-unusable");
    expect(r.error.lists.map((l) => [l.id, l.status])).toEqual([["mal", "ok"], ["phish", "missing"], ["ads", "unreadable"]]);
    const partial = compileDnsFilter(input, { allowPartial: true });
    expect(partial.ok).toBe(true);
    if (!partial.ok) return;
    expect(decide(partial.filter, "malware.example").decision).toBe("blocked");
    expect(decide(partial.filter, "not").decision).toBe("forwarded"); // words of the error page were not kept
  });

  it("reports a bad entry in the policy or the overrides by where it is", () => {
    const r = compileDnsFilter({ policy: policy(), listTexts: texts, overrides: { allow: ["ok.example", "bad name"], block: [] }, box });
    expect(r.ok ? undefined : r.error).toMatchObject({ kind: "bad-name", where: "overrides.allow[1]" });
  });

  it("stays within its name budget and says so", () => {
    const r = compileDnsFilter({ policy: policy(), listTexts: texts, box }, { maxNames: 10 });
    expect(r.ok ? undefined : r.error).toMatchObject({ kind: "table", error: { kind: "too-many-names" } });
  });
});

/** The rules as plain data, and the semantics spelled out the slow way, to check the table against. */
type RefRule = { name: string; kind: "allow" | "block"; scope: "exact" | "subdomain" | "below"; tier: "local" | "provider"; active: boolean };
function referenceDecision(rules: RefRule[], name: string): "allow" | "block" | "pass" {
  const labels = name.split(".");
  const n = labels.length;
  for (const tier of ["local", "provider"] as const) {
    for (let d = n; d >= 1; d--) {
      const suffix = labels.slice(n - d).join(".");
      const here = rules.filter((r) => r.tier === tier && r.active && r.name === suffix
        && (r.scope === "subdomain" || (r.scope === "exact" && d === n) || (r.scope === "below" && d < n)));
      if (here.some((r) => r.kind === "allow")) return "allow";
      if (here.length > 0) return "block";
    }
  }
  return "pass";
}

describe("filter decisions against a reference model (property)", () => {
  const label = fc.constantFrom("a", "b", "c", "ex", "test");
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
  const rule = fc.record({
    name,
    kind: fc.constantFrom("allow" as const, "block" as const),
    scope: fc.constantFrom("exact" as const, "subdomain" as const, "below" as const),
    tier: fc.constantFrom("local" as const, "provider" as const),
    list: fc.constantFrom("ads" as const, "mal" as const, "policy" as const),
  });

  it("agrees with the slow model on random rule sets and names", () => {
    fc.assert(fc.property(fc.array(rule, { maxLength: 25 }), fc.array(name, { minLength: 1, maxLength: 10 }), fc.boolean(), (rules, queries, adsActive) => {
      const adblock = (r: (typeof rules)[number]) => `${r.kind === "allow" ? "@@" : ""}${r.scope === "subdomain" ? "||" : r.scope === "exact" ? "|" : "*."}${r.name}${r.scope === "below" ? "" : "^"}`;
      const provider = rules.filter((r) => r.tier === "provider");
      const local = rules.filter((r) => r.tier === "local");
      const entry = (r: (typeof rules)[number]) => (r.scope === "below" ? `*.${r.name}` : r.name);
      // Policy-level and local entries have no "exact" syntax: model them as subdomain.
      const modelled: RefRule[] = rules.map((r) => ({
        name: r.name, kind: r.kind, tier: r.tier,
        scope: (r.tier === "local" || r.list === "policy") && r.scope === "exact" ? "subdomain" : r.scope,
        active: r.tier === "local" || r.list !== "ads" || adsActive,
      }));
      // "*." in adblock lists is block-only syntax here: keep the model to what the lists can say.
      const usable = (r: (typeof rules)[number]) => !(r.tier === "provider" && r.list !== "policy" && r.scope === "below" && r.kind === "allow");
      const p = DnsPolicy.parse({
        enabled: true, response: "blockpage", blockCategories: adsActive ? ["ads", "malware"] : ["malware"], dohNames: [], dohAddresses: [], upstreams: [],
        allow: provider.filter((r) => r.list === "policy" && r.kind === "allow").map(entry),
        block: provider.filter((r) => r.list === "policy" && r.kind === "block").map(entry),
        lists: [
          { id: "ads", category: "ads", format: "adblock", match: "exact", entries: provider.filter((r) => r.list === "ads" && usable(r)).map(adblock) },
          { id: "mal", category: "malware", format: "adblock", match: "exact", entries: provider.filter((r) => r.list === "mal" && usable(r)).map(adblock) },
        ],
      });
      const r = compileDnsFilter({
        policy: p, listTexts: new Map(), box, overrides: {
          allow: local.filter((x) => x.kind === "allow").map(entry), block: local.filter((x) => x.kind === "block").map(entry),
        },
      }, { allowPartial: true });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      const kept = modelled.filter((_, i) => usable(rules[i]!));
      for (const q of queries) {
        const e = explainName(r.filter, q);
        const got = e.ok ? (e.decision === "blocked" ? "block" : e.decision === "allowed" ? "allow" : "pass") : "error";
        expect(got, `${q} with ${JSON.stringify(kept)}`).toBe(referenceDecision(kept, q));
      }
    }), { numRuns: 400 });
  });
});

describe("dns query (what the CLI prints)", () => {
  it("says what decided and what the answers are, without a packet", () => {
    const f = compile(policy({ groups: [{ id: "kiosk", clients: ["192.0.2.64/26"], blockCategories: ["ads"] }] }));
    const text = formatNameExplanation(explainName(f, "Tracker.Example", { ip: "192.0.2.70" }), "192.0.2.70");
    expect(text).toContain("decision: blocked by list ads, category ads");
    expect(text).toContain("rule:     tracker.example (this name and every name below it)");
    expect(text).toContain("answers:  A 192.0.2.2; AAAA ::");
    expect(text).toContain("client 192.0.2.70: group kiosk, categories blocked: ads");
    expect(formatNameExplanation(explainName(f, "unlisted.example"))).toContain("no rule: forwarded");
    expect(formatNameExplanation(explainName(f, "bad name"))).toMatch(/^not a domain name \(bad-character\)/);
    expect(formatNameExplanation(explainName(f, "doh.example"))).toContain("DNS-over-HTTPS");
  });
});
