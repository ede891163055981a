import { describe, expect, it } from "vitest";
import { blockPageResponse, escapeHtml, renderBlockPage } from "../../../firmware/dns/block-page.ts";
import { compileDnsFilter } from "../../../firmware/dns/filter.ts";
import { parsePolicy } from "../../../policies/schema.ts";
import baseline from "../../../policies/baseline.json" with { type: "json" };
import { dnsQueryEvents } from "../../../firmware/dns/events.ts";
import type { DnsQueryRecord } from "../../../firmware/dns/query-log.ts";

describe("block page", () => {
  it("answers 403 with the filter's reason for the site, strict headers, nothing cached", async () => {
    const p = parsePolicy({ ...baseline, dns: { ...baseline.dns, block: ["evil.example.test"], lists: [] } });
    if (!p.ok) throw new Error("policy");
    const box = { management4: "192.0.2.1", blockPage4: "192.0.2.1" };
    const r = compileDnsFilter({ policy: p.value.dns, listTexts: new Map(), box });
    if (!r.ok) throw new Error("filter");
    const res = blockPageResponse("www.evil.example.test", r.filter);
    expect(res.status).toBe(403);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const body = await res.text();
    expect(body).toContain("<code>www.evil.example.test</code>");
    expect(body).toContain("リスト: <code>policy</code>");
    // Without a running filter the page still explains, without a reason it cannot know.
    expect(await blockPageResponse("x.example.test", undefined).text()).toContain("危険と判定されたサイト");
  });

  it("escapes whatever the site name holds", () => {
    const page = renderBlockPage(`"><img src=x onerror=alert(1)>'\``, { category: "malware", list: "<b>list</b>" });
    expect(page).not.toMatch(/<img|<b>/);
    expect(page).toContain("&#60;img src=x onerror=alert(1)&#62;&#39;&#96;");
    expect(page).toContain("マルウェア配布");
    expect(escapeHtml(`&<>"'\``)).toBe("&#38;&#60;&#62;&#34;&#39;&#96;");
  });

  it("explains in Japanese first and English second", () => {
    const page = renderBlockPage("evil.example.test", undefined);
    expect(page.indexOf("このサイトはブロックされました")).toBeLessThan(page.indexOf("This site was blocked"));
    expect(page).toContain('lang="ja"');
  });
});

describe("DNS query log → events", () => {
  const rec = (o: Partial<DnsQueryRecord>): DnsQueryRecord =>
    ({ time: 1, client: "192.0.2.10", protocol: "udp", name: "x.example.test", qtype: 1, outcome: "forwarded", rcode: 0, ...o }) as DnsQueryRecord;
  it("turns blocked queries into events by the list's category, and only those", () => {
    const events = dnsQueryEvents([
      rec({ outcome: "forwarded" }), rec({ outcome: "cached" }),
      rec({ outcome: "blocked", category: "c2", source: "c2-domains" }),
      rec({ outcome: "blocked", category: "malware", source: "mal" }),
      rec({ outcome: "blocked", category: "ads", source: "ads" }),
      rec({ outcome: "blocked-cname", category: "phishing", source: "ph", cname: "bad.example.test" }),
      rec({ outcome: "doh", name: "dns.example.test" }),
    ], (ip) => (ip === "192.0.2.10" ? "02:00:00:00:00:0a" : undefined));
    expect(events.map((e) => [e.category, e.severity, e.ruleId, e.logId])).toEqual([
      ["c2", "high", "c2-domains", "dns-block"], ["malware", "medium", "mal", "dns-block"], ["web", "low", "ads", "dns-block"],
      ["web", "medium", "ph", "dns-block"], ["web", "low", "dns", "dns-doh-name"],
    ]);
    expect(events[3]!.domain).toBe("x.example.test → bad.example.test");
    expect(events.every((e) => e.lanMac === "02:00:00:00:00:0a" && e.lanIp === "192.0.2.10")).toBe(true);
  });
});
