import { describe, expect, it } from "vitest";
import { compileDnsFilter, matchLabels, MatchScratch } from "../../../firmware/dns/filter.ts";
import { QueryLog } from "../../../firmware/dns/query-log.ts";
import { markFailure, markSuccess, upstreamOrder } from "../../../firmware/dns/upstream.ts";
import { DnsPolicy } from "../../../policies/schema.ts";
import { encodeName } from "./wire.ts";

describe("query log ring", () => {
  const policy = DnsPolicy.parse({
    enabled: true, response: "blockpage", blockCategories: ["c2"], allow: [], block: [], dohNames: [], dohAddresses: [], upstreams: [],
    lists: [{ id: "feed", category: "c2", format: "domains", match: "subdomain", entries: ["cnc.example"] }],
  });
  const f = compileDnsFilter({ policy, listTexts: new Map(), box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } });
  if (!f.ok) throw new Error("setup");
  const filter = f.filter;

  it("names the deciding rule at drain time, from what the query path recorded", () => {
    const log = new QueryLog(8);
    const wire = Uint8Array.from(encodeName("bot.CNC.example"));
    const s = new MatchScratch();
    s.reader.read(wire, 0);
    expect(matchLabels(filter, wire, s.reader.labels, s.reader.count, 1 << 2, s)).toBe(2);
    log.record(1000, "192.0.2.50", "udp", wire, 1, "blocked", 0, filter, s, undefined);
    log.record(1001, "192.0.2.51", "tcp", Uint8Array.from([3, 97, 0, 10, 0]), 28, "forwarded", 0, filter, undefined, "g", "198.51.100.53", 1.234);
    expect(log.drain()).toEqual([
      { time: 1000, client: "192.0.2.50", protocol: "udp", name: "bot.cnc.example", qtype: 1, outcome: "blocked", rcode: 0, rule: "cnc.example", source: "feed", category: "c2", action: "block" },
      { time: 1001, client: "192.0.2.51", protocol: "tcp", name: "a\\000\\010", qtype: 28, outcome: "forwarded", rcode: 0, upstream: "198.51.100.53", upstreamMs: 1.23, group: "g" },
    ]);
    expect(log.drain()).toEqual([]);
  });

  it("is bounded: overwrites the oldest unread records and counts them; drains in batches, oldest first", () => {
    const log = new QueryLog(4);
    for (let i = 0; i < 10; i++) log.record(i, "c", "udp", Uint8Array.of(0), 1, "forwarded", 0, undefined, undefined, undefined);
    expect(log.overwritten).toBe(6);
    expect(log.pending).toBe(4);
    expect(log.drain(3).map((r) => r.time)).toEqual([6, 7, 8]);
    log.record(10, "c", "udp", Uint8Array.of(0), 1, "forwarded", 0, undefined, undefined, undefined);
    expect(log.drain().map((r) => r.time)).toEqual([9, 10]);
    expect(log.pending).toBe(0);
  });
});

describe("upstream order", () => {
  it("tries healthy upstreams in order, then the ones marked down (soonest back first); backs off and recovers", () => {
    const h = { failures: [0, 0, 0], downUntil: [0, 0, 0] };
    expect(upstreamOrder(h, 0)).toEqual([0, 1, 2]);
    markFailure(h, 0, 1000);
    expect(h.downUntil[0]).toBe(3000);
    markFailure(h, 0, 1000);
    expect(h.downUntil[0]).toBe(5000);
    markFailure(h, 1, 1000);
    expect(upstreamOrder(h, 1000)).toEqual([2, 1, 0]);
    expect(upstreamOrder(h, 4000)).toEqual([1, 2, 0]);
    expect(upstreamOrder(h, 5000)).toEqual([0, 1, 2]);
    markSuccess(h, 0);
    expect(h.failures[0]).toBe(0);
    for (let i = 0; i < 30; i++) markFailure(h, 2, 0);
    expect(h.downUntil[2]).toBe(60_000);
  });
});
