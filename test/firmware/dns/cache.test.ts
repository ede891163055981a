import { describe, expect, it } from "vitest";
import { DnsCache } from "../../../firmware/dns/cache.ts";
import { buildUpstreamQuery, parseQuery, parseUpstreamResponse, type Query, type UpstreamAnswer } from "../../../firmware/dns/codec.ts";
import { hashTextName, newHashState } from "../../../firmware/dns/name-hash.ts";
import { buildQuery, encodeName } from "./wire.ts";

function q(name: string, type = 1, edns?: { do?: boolean }, cd = false): Query {
  const p = parseQuery(buildQuery({ name, type, cd, ...(edns ? { edns } : {}) }));
  if (p.kind !== "query") throw new Error("setup");
  return p.query;
}
const h = newHashState();
const fp = (name: string): [number, number] => {
  const n = name.toLowerCase();
  hashTextName(h, n, 0, n.length);
  return [h[2]!, h[3]!];
};

/** An upstream answer to `query` with one A record (ttl) or, with rcode 3, a SOA with the negative TTL. */
function answer(query: Query, ttl: number, rcode = 0, negTtl = 60): UpstreamAnswer {
  const sent = buildUpstreamQuery(query, 1);
  const qEnd = sent.length - 11;
  const b = [0, 1, 0x81, 0x80 | rcode, 0, 1, 0, rcode === 0 ? 1 : 0, 0, rcode === 0 ? 0 : 1, 0, 0, ...sent.subarray(12, qEnd)];
  if (rcode === 0) b.push(0xc0, 12, 0, 1, 0, 1, ttl >>> 24, (ttl >> 16) & 255, (ttl >> 8) & 255, ttl & 255, 0, 4, 192, 0, 2, 1);
  else {
    const soa = [...encodeName("test"), ...encodeName("h.test"), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, negTtl];
    b.push(...encodeName("test"), 0, 6, 0, 1, 0, 0, 0, ttl, 0, soa.length, ...soa);
  }
  const r = parseUpstreamResponse(Uint8Array.from(b), sent);
  if (!r.ok) throw new Error(r.problem);
  return r.answer;
}

describe("answer cache", () => {
  it("keeps an answer for its TTL, by name (any case), type and DO/CD bits", () => {
    const c = new DnsCache();
    const a = q("www.example.test");
    c.set(a, ...fp("www.example.test"), answer(a, 30), 1_000);
    expect(c.get(q("WWW.Example.TEST"), ...fp("www.example.test"), 1_000 + 29_999)?.ageSeconds).toBe(29);
    expect(c.get(a, ...fp("www.example.test"), 1_000 + 30_000)).toBeUndefined();
    c.set(a, ...fp("www.example.test"), answer(a, 30), 0);
    expect(c.get(q("www.example.test", 28), ...fp("www.example.test"), 1)).toBeUndefined();
    expect(c.get(q("www.example.test", 1, { do: true }), ...fp("www.example.test"), 1)).toBeUndefined();
    expect(c.get(q("www.example.test", 1, undefined, true), ...fp("www.example.test"), 1)).toBeUndefined();
    expect(c.get(q("www.example.test", 1, {}), ...fp("www.example.test"), 1)).toBeDefined(); // EDNS without DO: same answer
  });

  it("confirms a hit byte by byte: a fingerprint collision is a miss", () => {
    const c = new DnsCache();
    const a = q("a.example.test");
    c.set(a, 1, 2, answer(a, 300), 0);
    expect(c.get(q("b.example.test"), 1, 2, 1)).toBeUndefined();
    expect(c.get(q("a.example.test"), 1, 2, 1)).toBeDefined();
  });

  it("keeps negative answers for the SOA's negative TTL, capped", () => {
    const c = new DnsCache({ maxEntries: 10, maxTtl: 86_400, maxNegativeTtl: 30 });
    const a = q("nx.example.test");
    expect(c.set(a, ...fp("nx.example.test"), answer(a, 300, 3, 20), 0)).toBe(true);
    expect(c.get(a, ...fp("nx.example.test"), 19_999)).toBeDefined();
    expect(c.get(a, ...fp("nx.example.test"), 20_000)).toBeUndefined();
    c.set(a, ...fp("nx.example.test"), answer(a, 300, 3, 120), 0);
    expect(c.get(a, ...fp("nx.example.test"), 30_000)).toBeUndefined(); // capped at 30 s
  });

  it("does not keep TTL 0 answers, and stays within its size (oldest leave first)", () => {
    const c = new DnsCache({ maxEntries: 3, maxTtl: 86_400, maxNegativeTtl: 3600 });
    const z = q("zero.test");
    expect(c.set(z, ...fp("zero.test"), answer(z, 0), 0)).toBe(false);
    for (const n of ["a.test", "b.test", "c.test", "d.test"]) {
      const x = q(n);
      c.set(x, ...fp(n), answer(x, 300), 0);
    }
    expect(c.size).toBe(3);
    expect(c.get(q("a.test"), ...fp("a.test"), 1)).toBeUndefined();
    expect(c.get(q("d.test"), ...fp("d.test"), 1)).toBeDefined();
    expect([c.hits, c.misses]).toEqual([1, 1]);
  });
});
