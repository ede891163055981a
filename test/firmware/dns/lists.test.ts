import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listRules, parseDomainList, parseDomainListChunked } from "../../../firmware/dns/lists.ts";
import { normaliseName } from "../../../firmware/dns/names.ts";

const listsDir = join(import.meta.dirname, "../../../policies/lists");
const sample = (f: string) => readFileSync(join(listsDir, f), "utf8");
const names = (r: ReturnType<typeof listRules>) => r.rules.map((x) => `${x.kind} ${x.scope} ${x.name}`);

describe("list parsing", () => {
  it("reads the sample hosts file: addresses ignored, several names a line, comments, localhost skipped, case folded", () => {
    const r = listRules(sample("malware.hosts"), "hosts", "exact");
    expect(names(r)).toEqual([
      "block exact malware.example",
      "block exact dropper.malware.example",
      "block exact payload-cdn.test",
      "block exact update-check.trojan.test",
      "block exact ransom-keys.test",
      "block exact tracker.blocked.example",
      "block exact cloak-target.test",
    ]);
    expect(r.report).toMatchObject({ rejected: 0, rules: 7 });
    expect(r.report.skipped).toBeGreaterThanOrEqual(4); // comments and localhost
  });

  it("reads the sample domain list: trailing dots, *.name, IDN to punycode", () => {
    const r = listRules(sample("phishing.txt"), "domains", "subdomain");
    expect(names(r)).toEqual([
      "block subdomain login-bank.example",
      "block subdomain secure-login.example",
      "block subdomain paypa1.test",
      "block below wildcard-phish.test",
      "block subdomain xn--bcher-kva.example",
    ]);
    expect(r.report.rejected).toBe(0);
  });

  it("reads the sample adblock list: || and |, @@ allow rules, $important; unsupported rules are counted, not guessed", () => {
    const r = listRules(sample("ads.adblock.txt"), "adblock", "exact");
    expect(names(r)).toEqual([
      "block subdomain ads.example",
      "block subdomain adserver.test",
      "block exact pixel.tracking.test",
      "allow subdomain good.ads.example",
      "block subdomain tracker.example",
    ]);
    expect(r.report).toMatchObject({ rejected: 0, unsupported: 4, allowRules: 1 });
  });

  it("counts bad lines and reports the first five with line numbers, escaped; never stops", () => {
    const text = ["good.example", "bad name here", "-", "a..b.example", `${"x".repeat(64)}.example`, "192.0.2.1",
      "ctl\u0001.example", "also-good.test", `${"a.".repeat(130)}example`, "<html>"].join("\n");
    const r = listRules(text, "domains", "exact");
    expect(r.rules.map((x) => x.name)).toEqual(["good.example", "-", "also-good.test"]);
    expect(r.report.rejected).toBe(7);
    expect(r.report.firstRejected).toHaveLength(5);
    expect(r.report.firstRejected.map((x) => [x.line, x.problem])).toEqual([
      [2, "malformed-rule"], [4, "label-empty"], [5, "label-too-long"], [6, "ip-address"], [7, "bad-character"],
    ]);
    expect(r.report.firstRejected[4]?.text).toBe("ctl\\u0001.example");
  });

  it("hosts lines inside a domains list and domains lines inside a hosts file are read; other two-token lines are not", () => {
    expect(names(listRules("0.0.0.0 a.example b.example\n", "domains", "exact"))).toEqual(["block exact a.example", "block exact b.example"]);
    expect(names(listRules("a.example\n", "hosts", "subdomain"))).toEqual(["block subdomain a.example"]);
    expect(listRules("a.example b.example\n", "hosts", "exact").report.firstRejected[0]?.problem).toBe("bad-address");
    expect(names(listRules("2001:db8::1 v6.example\n::1 localhost\n", "hosts", "exact"))).toEqual(["block exact v6.example"]);
  });

  it("handles CRLF, a byte-order mark, tabs and a last line without a newline", () => {
    const r = listRules("\ufeff0.0.0.0\ta.example\r\n\r\n  b.example  \r\nc.example", "hosts", "exact");
    expect(r.rules.map((x) => x.name)).toEqual(["a.example", "b.example", "c.example"]);
    expect(r.report.lines).toBe(4);
  });

  it("stops cleanly when the sink refuses (name budget)", () => {
    let n = 0;
    const r = parseDomainList("a.example\nb.example\nc.example\n", "domains", "exact", () => ++n < 2);
    expect(r.truncated).toBe(true);
    expect(r.rules).toBe(1);
  });

  it("gives the same rules and report in slices as in one piece", () => {
    const lines: string[] = [];
    for (let i = 0; i < 120_000; i++) lines.push(i % 1000 === 7 ? "bad name" : `host${i}.example`);
    const text = lines.join("\n");
    const whole: string[] = [];
    const one = parseDomainList(text, "domains", "exact", (t, s, e) => whole.push(t.slice(s, e)) > 0);
    const sliced: string[] = [];
    const steps = parseDomainListChunked(text, "domains", "exact", (t, s, e) => sliced.push(t.slice(s, e)) > 0);
    let yields = 0;
    let r = steps.next();
    while (!r.done) {
      yields++;
      r = steps.next();
    }
    expect(yields).toBeGreaterThan(0);
    expect(sliced).toEqual(whole);
    expect(r.value).toEqual(one);
  });

  it("gives the same rules and report from pieces cut anywhere (mid-line, mid-name) as from the whole text", () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.domain(), fc.constant("# c"), fc.constant("bad name"), fc.constant("")), { maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (lines, cuts, bom) => {
        const text = (bom ? "\ufeff" : "") + lines.join("\n");
        const at = [...new Set(cuts.map((c) => (text.length === 0 ? 0 : c % text.length)))].sort((a, b) => a - b);
        const pieces = [0, ...at].map((s, i, all) => text.slice(s, all[i + 1] ?? text.length));
        const a: string[] = [];
        const one = parseDomainList(text, "hosts", "exact", (t, s, e) => a.push(t.slice(s, e)) > 0);
        const b: string[] = [];
        const steps = parseDomainListChunked(pieces, "hosts", "exact", (t, s, e) => b.push(t.slice(s, e)) > 0);
        let r = steps.next();
        while (!r.done) r = steps.next();
        expect(b).toEqual(a);
        expect(r.value).toEqual(one);
      }));
  });

  it("rejects an empty label anywhere, also before a trailing dot", () => {
    for (const line of ["._.", "..", "a..b.", ".a.", "a.b.."]) {
      for (const format of ["hosts", "domains", "adblock"] as const) {
        expect(listRules(line, format, "exact").rules, `${format}: ${line}`).toEqual([]);
      }
    }
    expect(listRules("a.example.", "domains", "exact").rules.map((r) => r.name)).toEqual(["a.example"]);
  });

  it("property: every name it accepts is what normaliseName makes of it, and any text parses without throwing", () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.domain(), fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 })), { maxLength: 30 }), (lines) => {
      for (const format of ["hosts", "domains", "adblock"] as const) {
        const r = listRules(lines.join("\n"), format, "exact");
        for (const rule of r.rules) {
          const n = normaliseName(rule.name);
          expect(n.ok && n.name).toBe(rule.name);
        }
        expect(r.report.rules + r.report.rejected + r.report.skipped + r.report.unsupported).toBeGreaterThanOrEqual(r.report.rules);
      }
    }), { numRuns: 300 });
  });

  it("property: a generated domain list round-trips (lower-cased, no trailing dot)", () => {
    fc.assert(fc.property(fc.array(fc.domain(), { maxLength: 50 }), (domains) => {
      const r = listRules(domains.map((d) => `${d.toUpperCase()}.`).join("\n"), "domains", "exact");
      expect(r.rules.map((x) => x.name)).toEqual(domains.map((d) => d.toLowerCase()));
    }));
  });
});
