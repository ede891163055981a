/**
 * Fuzzing the DNS codec and the whole query path with malformed messages: no exception, no
 * hang, and every answer is a well-formed response (FORMERR, NOTIMP, an answer) or nothing.
 * About 2,000 cases per target by default; FUZZ_RUNS=100000 for the long run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildClientResponse, buildUpstreamQuery, NameReader, parseQuery, parseUpstreamResponse, type Query,
} from "../../../firmware/dns/codec.ts";
import { compileDnsFilter } from "../../../firmware/dns/filter.ts";
import { DnsServer } from "../../../firmware/dns/server.ts";
import { DnsPolicy } from "../../../policies/schema.ts";
import { buildQuery, decodeMessage } from "./wire.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
/** A case that takes longer than this is a hang in the making. */
const SLOW_MS = 100;

const label = fc.string({ unit: fc.constantFrom(..."abcxyzABC019-_.\\\u0000\u00ff"), minLength: 1, maxLength: 63 });
const validQuery = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  labels: fc.array(label, { maxLength: 5 }),
  type: fc.constantFrom(1, 28, 65, 64, 5, 16, 255, 41, 0, 252),
  qclass: fc.constantFrom(1, 1, 1, 3, 255),
  edns: fc.option(fc.record({ size: fc.integer({ min: 0, max: 65535 }), do: fc.boolean(), version: fc.constantFrom(0, 0, 1) }), { nil: undefined }),
}).map((q) => {
  const bytes: number[] = [];
  for (const l of q.labels) {
    const b = [...new TextEncoder().encode(l)].slice(0, 63);
    bytes.push(b.length, ...b);
  }
  const base = buildQuery({ id: q.id, name: "x", type: q.type, qclass: q.qclass, ...(q.edns ? { edns: q.edns } : {}) });
  // Replace the placeholder name "x" with the raw labels (which may hold dots and NULs).
  return Uint8Array.from([...base.subarray(0, 12), ...bytes, 0, ...base.subarray(15)]);
});

type Mutation = { at: number; kind: "set" | "pointer" | "cut" | "grow" | "count"; value: number };
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("set" as const, "pointer" as const, "cut" as const, "grow" as const, "count" as const),
  value: fc.integer({ min: 0, max: 255 }),
});
function mutate(b: Uint8Array, ms: Mutation[]): Uint8Array {
  let out = [...b];
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === "set") out[at] = m.value;
    else if (m.kind === "pointer") {
      out[at] = 0xc0 | (m.value & 0x3f);
      out[at + 1] = m.value;
    } else if (m.kind === "cut") out = out.slice(0, at);
    else if (m.kind === "grow") out.push(m.value, m.value ^ 0xc0, m.value);
    else out[4 + (m.value % 8)] = m.value & 7;
  }
  return Uint8Array.from(out);
}
const message = fc.oneof(
  fc.uint8Array({ maxLength: 700 }),
  validQuery,
  fc.tuple(validQuery, fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([b, ms]) => mutate(b, ms)),
);

function timed<T>(f: () => T): T {
  const t0 = performance.now();
  const r = f();
  expect(performance.now() - t0).toBeLessThan(SLOW_MS);
  return r;
}

describe(`DNS codec fuzzing (${RUNS} cases per target)`, () => {
  it("parseQuery: no throw, no hang; errors only with a readable header", () => {
    fc.assert(fc.property(message, (b) => {
      const p = timed(() => parseQuery(b));
      if (p.kind === "error") expect(b.length).toBeGreaterThanOrEqual(12);
      if (p.kind === "query") {
        expect(p.query.questionEnd).toBeLessThanOrEqual(b.length);
        expect(p.query.qnameEnd - 12).toBeLessThanOrEqual(255);
      }
    }), { numRuns: RUNS });
  });

  it("NameReader: any bytes, any offset: terminates, and what it reads is within bounds", () => {
    const r = new NameReader();
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.nat(), (b, off) => {
      const at = off % b.length;
      if (timed(() => r.read(b, at))) {
        expect(r.length).toBeLessThanOrEqual(255);
        for (let k = 0; k < r.count; k++) expect(r.labels[k]! + b[r.labels[k]!]!).toBeLessThan(b.length);
      }
    }), { numRuns: RUNS });
  });

  it("upstream answers: mutated responses are refused or parsed, and what is parsed builds a client answer", () => {
    const q = parseQuery(buildQuery({ id: 9, name: "www.example.test", type: 1, edns: {} }));
    if (q.kind !== "query") throw new Error("setup");
    const sent = buildUpstreamQuery(q.query, 0x1111);
    const answer = Uint8Array.from([
      0x11, 0x11, 0x81, 0x80, 0, 1, 0, 2, 0, 1, 0, 1, ...sent.subarray(12, sent.length - 11),
      0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 0, 0, 6, 3, 99, 100, 110, 0xc0, 16,
      0xc0, 40, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
      0xc0, 16, 0, 6, 0, 1, 0, 0, 0, 60, 0, 24, 0xc0, 16, 0xc0, 16, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9,
      0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0,
    ]);
    expect(parseUpstreamResponse(answer, sent).ok).toBe(true);
    fc.assert(fc.property(fc.array(mutation, { maxLength: 6 }), (ms) => {
      const b = mutate(answer, ms);
      const r = timed(() => parseUpstreamResponse(b, sent));
      if (r.ok) {
        const out = timed(() => buildClientResponse(q.query as Query, r.answer, 5, 512));
        expect(out.length).toBeGreaterThanOrEqual(12);
        const reader = new NameReader();
        for (const off of r.answer.cnameTargets) timed(() => reader.read(r.answer.message, off));
      }
    }), { numRuns: RUNS });
  });

  it("the whole query path (DnsServer.answer): every reply is a response to the query's id, or nothing", async () => {
    const policy = DnsPolicy.parse({
      enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block: ["x.abc", "*.abc"], dohNames: ["doh.abc"],
      dohAddresses: [], upstreams: [], lists: [{ id: "l", category: "malware", format: "domains", match: "subdomain", entries: ["abc", "xyz.abc"] }],
    });
    const f = compileDnsFilter({ policy, listTexts: new Map(), box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } });
    if (!f.ok) throw new Error("setup");
    // No upstream: a forwarded query ends in SERVFAIL at once, without a socket.
    const server = new DnsServer({ listen: { address: "127.0.0.1", port: 0 }, upstreams: [], filter: f.filter });
    await fc.assert(fc.asyncProperty(message, async (b) => {
      const t0 = performance.now();
      const out = await server.answer(b, "192.0.2.50");
      expect(performance.now() - t0).toBeLessThan(SLOW_MS);
      if (out) {
        const m = decodeMessage(out);
        expect(m.qr).toBe(true);
        expect(m.id).toBe((b[0]! << 8) | b[1]!);
      }
    }), { numRuns: RUNS });
    const log = server.drainLog();
    for (const r of log) expect(r.name).toMatch(/^[\x21-\x7e]*$/);
  }, 600_000);
});
