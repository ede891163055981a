import { describe, expect, it } from "vitest";
import { escapeHtml, renderBlockPage, siteOf } from "../../../firmware/dns/block-page.ts";
import { dnsQueryEvents } from "../../../firmware/dns/events.ts";
import type { DnsQueryRecord } from "../../../firmware/dns/query-log.ts";

describe("block page", () => {
  it("takes the site from the Host header, without port, bounded", () => {
    expect(siteOf("Evil.Example.Test:8080")).toBe("evil.example.test");
    expect(siteOf("[2001:db8::1]:80")).toBe("2001:db8::1");
    expect(siteOf(undefined)).toBe("");
    expect(siteOf("a".repeat(5000)).length).toBeLessThanOrEqual(260);
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
