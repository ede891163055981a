import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildClientResponse, buildErrorResponse, buildSynthResponse, buildUpstreamQuery, NameReader, parseQuery, parseUpstreamResponse,
  RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTIMP, RCODE_REFUSED, TYPE_A, TYPE_AAAA, type Query, type SynthAnswer,
} from "../../../firmware/dns/codec.ts";
import { buildQuery, decodeMessage, encodeName } from "./wire.ts";

function query(bytes: Uint8Array): Query {
  const p = parseQuery(bytes);
  if (p.kind !== "query") throw new Error(`not a query: ${JSON.stringify(p)}`);
  return p.query;
}

/** An upstream-style response to `sent`: answers given as [name bytes, type, ttl, rdata]. */
function response(sent: Uint8Array, opts: { rcode?: number; tc?: boolean; answers?: [number[], number, number, number[]][]; authority?: [number[], number, number, number[]][]; opt?: boolean; id?: number }): Uint8Array {
  const qEnd = 12 + encodeName(decodeMessage(sent).question!.name).length + 4;
  const answers = opts.answers ?? [];
  const authority = opts.authority ?? [];
  const id = opts.id ?? ((sent[0]! << 8) | sent[1]!);
  const flags = 0x8180 | (opts.tc ? 0x200 : 0) | (opts.rcode ?? 0);
  const b = [id >> 8, id & 255, flags >> 8, flags & 255, 0, 1, 0, answers.length, 0, authority.length, 0, opts.opt ? 1 : 0, ...sent.subarray(12, qEnd)];
  for (const [name, type, ttl, rdata] of [...answers, ...authority]) {
    b.push(...name, type >> 8, type & 255, 0, 1, ttl >>> 24, (ttl >>> 16) & 255, (ttl >>> 8) & 255, ttl & 255, rdata.length >> 8, rdata.length & 255, ...rdata);
  }
  if (opts.opt) b.push(0, 0, 41, 4, 208, 0, 0, 0x80, 0, 0, 0);
  return Uint8Array.from(b);
}
const PTR_Q = [0xc0, 12];

describe("parseQuery", () => {
  it("reads a query with EDNS(0) and the DO bit without copying it", () => {
    const bytes = buildQuery({ id: 7, name: "WWW.Example.test", type: TYPE_AAAA, edns: { size: 4096, do: true }, cd: true });
    const q = query(bytes);
    expect(q).toMatchObject({ id: 7, rd: true, cd: true, qtype: TYPE_AAAA, qclass: 1, labelCount: 3, edns: { udpSize: 4096, do: true } });
    expect(q.buf).toBe(bytes);
    expect(q.qnameEnd).toBe(12 + 18);
  });

  it("drops what cannot be answered: no header, or a response (never answer answers: no loops)", () => {
    expect(parseQuery(new Uint8Array(11))).toEqual({ kind: "drop", reason: "short" });
    const r = buildQuery({ name: "a.example", type: 1 });
    r[2]! |= 0x80;
    expect(parseQuery(r)).toEqual({ kind: "drop", reason: "response" });
  });

  it("answers malformed queries with a readable header with FORMERR, other opcodes with NOTIMP", () => {
    const rc = (b: Uint8Array) => {
      const p = parseQuery(b);
      return p.kind === "error" ? p.rcode : p.kind;
    };
    const good = buildQuery({ name: "a.example", type: 1 });
    expect(rc(good.slice(0, 12))).toBe(RCODE_FORMERR); // qdcount 1, no question
    expect(rc(good.slice(0, good.length - 1))).toBe(RCODE_FORMERR); // cut in the type/class
    const two = good.slice();
    two[5] = 2;
    expect(rc(two)).toBe(RCODE_FORMERR);
    const ptr = Uint8Array.from([...good.subarray(0, 12), 1, 97, 0xc0, 12, 0, 1, 0, 1]);
    expect(rc(ptr)).toBe(RCODE_FORMERR); // a pointer in a query's question
    const ext = Uint8Array.from([...good.subarray(0, 12), 0x41, 97, 0, 0, 1, 0, 1]);
    expect(rc(ext)).toBe(RCODE_FORMERR); // label type 01
    const long = Uint8Array.from([...good.subarray(0, 12), ...Array.from({ length: 128 }, () => [1, 97]).flat(), 0, 0, 1, 0, 1]);
    expect(rc(long)).toBe(RCODE_FORMERR); // 257-byte name
    const moreAr = good.slice();
    moreAr[11] = 1;
    expect(rc(moreAr)).toBe(RCODE_FORMERR); // counts more records than there are
    const op = good.slice();
    op[2]! |= 0x28; // opcode 5 (UPDATE)
    expect(rc(op)).toBe(RCODE_NOTIMP);
    expect(rc(buildQuery({ name: "a.example", type: 252 }))).toBe(RCODE_REFUSED); // AXFR
  });

  it("checks EDNS: one OPT owned by the root with well-formed options; version 0 only (BADVERS)", () => {
    const v1 = parseQuery(buildQuery({ name: "a.example", type: 1, edns: { version: 1 } }));
    expect(v1).toMatchObject({ kind: "error", rcode: RCODE_BADVERS, edns: true });
    const badOpt = parseQuery(buildQuery({ name: "a.example", type: 1, edns: { options: Uint8Array.of(0, 10, 0, 8, 1, 2) } }));
    expect(badOpt).toMatchObject({ kind: "error", rcode: RCODE_FORMERR });
    const okOpt = parseQuery(buildQuery({ name: "a.example", type: 1, edns: { options: Uint8Array.of(0, 10, 0, 2, 1, 2) } }));
    expect(okOpt.kind).toBe("query");
    const b = buildQuery({ name: "a.example", type: 1, edns: {} });
    const twice = Uint8Array.from([...b, ...b.subarray(b.length - 11)]);
    twice[11] = 2;
    expect(parseQuery(twice)).toMatchObject({ kind: "error", rcode: RCODE_FORMERR });
    const small = query(buildQuery({ name: "a.example", type: 1, edns: { size: 100 } }));
    expect(small.edns?.udpSize).toBe(512);
  });
});

describe("NameReader", () => {
  it("follows backward pointers and refuses loops, forward pointers and pointers into the header", () => {
    const r = new NameReader();
    // header, then "a.example" at 12, then "www" + pointer to 12 at 23.
    const msg = Uint8Array.from([...new Array(12).fill(0), ...encodeName("a.example"), 3, 119, 119, 119, 0xc0, 12]);
    expect(r.read(msg, 23)).toBe(true);
    expect(r.count).toBe(3);
    expect(r.end).toBe(msg.length);
    expect(r.length).toBe(15);
    const self = Uint8Array.from([...new Array(12).fill(0), 0xc0, 12]);
    expect(r.read(self, 12)).toBe(false);
    const fwd = Uint8Array.from([...new Array(12).fill(0), 0xc0, 14, 1, 97, 0]);
    expect(r.read(fwd, 12)).toBe(false);
    const hdr = Uint8Array.from([...new Array(12).fill(0), 0xc0, 2]);
    expect(r.read(hdr, 12)).toBe(false);
    expect(r.read(Uint8Array.from([...new Array(12).fill(0), 5, 97]), 12)).toBe(false);
  });
});

describe("answers the filter makes", () => {
  const a4 = Uint8Array.of(192, 0, 2, 2);
  it("A / AAAA records pointing at the question, RD/CD echoed, RA set, OPT echoed with DO", () => {
    const q = query(buildQuery({ id: 99, name: "Blocked.Example", type: TYPE_A, edns: { do: true }, cd: true }));
    const m = decodeMessage(buildSynthResponse(q, { kind: "address", type: TYPE_A, addresses: [a4] }, 60));
    expect(m).toMatchObject({ id: 99, qr: true, rd: true, ra: true, cd: true, aa: false, rcode: 0, question: { name: "Blocked.Example", type: 1 } });
    expect(m.answers).toEqual([expect.objectContaining({ name: "Blocked.Example", type: 1, ttl: 60, text: "192.0.2.2" })]);
    expect(m.opt).toMatchObject({ size: 1232, do: true, version: 0 });
  });

  it("NODATA and NXDOMAIN carry a SOA with the TTL as negative TTL (RFC 2308)", () => {
    const q = query(buildQuery({ name: "x.example", type: 65 }));
    const nodata = decodeMessage(buildSynthResponse(q, { kind: "nodata" }, 30));
    expect(nodata).toMatchObject({ rcode: 0, answers: [] });
    expect(nodata.authority).toHaveLength(1);
    expect(nodata.authority[0]).toMatchObject({ type: 6, ttl: 30 });
    const soa = nodata.authority[0]!.data;
    expect((soa[soa.length - 4]! << 24) | (soa[soa.length - 3]! << 16) | (soa[soa.length - 2]! << 8) | soa[soa.length - 1]!).toBe(30);
    expect(nodata.opt).toBeUndefined();
    const nx = decodeMessage(buildSynthResponse(q, { kind: "nxdomain" }, 30));
    expect(nx).toMatchObject({ rcode: 3, answers: [] });
    expect(nx.authority[0]?.type).toBe(6);
  });

  it("error answers: header and question when readable, OPT (with the upper rcode bits) when needed", () => {
    const q = query(buildQuery({ id: 5, name: "a.example", type: 1, edns: {} }));
    expect(decodeMessage(buildErrorResponse(q, 2, q, false))).toMatchObject({ id: 5, rcode: 2, question: { name: "a.example" }, opt: { extRcode: 0 } });
    const bad = decodeMessage(buildErrorResponse({ id: 6, flags: 0x0100 }, RCODE_BADVERS, undefined, false));
    expect(bad).toMatchObject({ id: 6, rcode: 0, opt: { extRcode: 1 } });
    expect(bad.question).toBeUndefined();
  });
});

describe("upstream answers", () => {
  const q = query(buildQuery({ id: 1, name: "www.Example.test", type: TYPE_A, edns: { do: false } }));
  const sent = buildUpstreamQuery(q, 0x4242);

  it("the query upstream: our id, the client's question, our own OPT with the client's DO bit and no options", () => {
    const m = decodeMessage(sent);
    expect(m).toMatchObject({ id: 0x4242, rd: true, question: { name: "www.Example.test", type: 1 }, opt: { size: 1232, do: false } });
    const withDo = decodeMessage(buildUpstreamQuery(query(buildQuery({ name: "a.example", type: 1, edns: { do: true, options: Uint8Array.of(0, 10, 0, 0) } })), 1));
    expect(withDo.opt?.do).toBe(true);
    expect(withDo.additional).toEqual([]);
  });

  it("accepts only the answer to the id and question asked (case-insensitively)", () => {
    const good = response(sent, { answers: [[PTR_Q, 1, 300, [192, 0, 2, 9]]] });
    expect(parseUpstreamResponse(good, sent).ok).toBe(true);
    expect(parseUpstreamResponse(response(sent, { id: 1 }), sent)).toEqual({ ok: false, problem: "wrong id" });
    const other = buildUpstreamQuery(query(buildQuery({ name: "other.example", type: 1 })), 0x4242);
    expect(parseUpstreamResponse(response(other, {}), sent)).toEqual({ ok: false, problem: "question differs" });
    const upper = good.slice();
    upper[13] = 87; // 'W'
    expect(parseUpstreamResponse(upper, sent).ok).toBe(true);
    expect(parseUpstreamResponse(sent, sent)).toEqual({ ok: false, problem: "not a response" });
    expect(parseUpstreamResponse(good.slice(0, good.length - 2), sent).ok).toBe(false);
  });

  it("finds TTLs, CNAME targets and the cache TTL; strips the OPT", () => {
    const target = [7, ...new TextEncoder().encode("tracker"), 0xc0, 16]; // tracker.example.test
    const r = parseUpstreamResponse(response(sent, { opt: true, answers: [[PTR_Q, 5, 600, target], [[7, ...new TextEncoder().encode("tracker"), 0xc0, 16], 1, 120, [192, 0, 2, 7]]] }), sent);
    if (!r.ok) throw new Error(r.problem);
    expect(r.answer.cacheTtl).toBe(120);
    expect(r.answer.cnameTargets).toHaveLength(1);
    expect(r.answer.ttlOffsets).toHaveLength(2);
    const m = decodeMessage(r.answer.message);
    expect(m.opt).toBeUndefined();
    expect(m.answers.map((a) => a.text)).toEqual(["tracker.Example.test", "192.0.2.7"]);
    const soa = [...encodeName("example.test"), ...encodeName("h.example.test"), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 45];
    const neg = parseUpstreamResponse(response(sent, { rcode: 3, authority: [[encodeName("example.test"), 6, 900, soa]] }), sent);
    expect(neg.ok && neg.answer.cacheTtl).toBe(45);
    const noSoa = parseUpstreamResponse(response(sent, { rcode: 3 }), sent);
    expect(noSoa.ok && noSoa.answer.cacheTtl).toBeUndefined();
    const tc = parseUpstreamResponse(response(sent, { tc: true }), sent);
    expect(tc.ok && [tc.answer.truncated, tc.answer.cacheTtl]).toEqual([true, undefined]);
  });

  it("builds the client's answer: its id and letter case, aged TTLs, its OPT, TC when too big for it", () => {
    const r = parseUpstreamResponse(response(sent, { opt: true, answers: [[PTR_Q, 1, 300, [192, 0, 2, 9]]] }), sent);
    if (!r.ok) throw new Error(r.problem);
    const client = query(buildQuery({ id: 777, name: "WWW.EXAMPLE.TEST", type: TYPE_A }));
    const m = decodeMessage(buildClientResponse(client, r.answer, 100, 512));
    expect(m).toMatchObject({ id: 777, tc: false, question: { name: "WWW.EXAMPLE.TEST" } });
    expect(m.answers[0]).toMatchObject({ ttl: 200, text: "192.0.2.9" });
    expect(m.opt).toBeUndefined();
    expect(decodeMessage(buildClientResponse(client, r.answer, 400, 512)).answers[0]?.ttl).toBe(0);
    const withEdns = query(buildQuery({ id: 8, name: "www.example.test", type: TYPE_A, edns: { do: true } }));
    expect(decodeMessage(buildClientResponse(withEdns, r.answer, 0, 1232)).opt).toMatchObject({ do: true });
    const tc = decodeMessage(buildClientResponse(client, r.answer, 0, 40));
    expect(tc).toMatchObject({ tc: true, answers: [], question: { name: "WWW.EXAMPLE.TEST" } });
  });
});

describe("codec properties", () => {
  const label = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABC0123456789-_"), minLength: 1, maxLength: 63 });
  const name = fc.array(label, { minLength: 0, maxLength: 6 }).map((l) => l.join(".")).filter((n) => encodeName(n).length <= 255);

  it("every well-formed query parses back to what was written, and its synthesised answers decode", () => {
    fc.assert(fc.property(name, fc.integer({ min: 1, max: 250 }).filter((t) => t !== 41 && t < 251 && t !== 0), fc.integer({ min: 0, max: 0xffff }),
      fc.option(fc.record({ size: fc.integer({ min: 0, max: 65535 }), do: fc.boolean() }), { nil: undefined }), (n, type, id, edns) => {
        const q = query(buildQuery({ id, name: n, type, ...(edns ? { edns } : {}) }));
        expect(q).toMatchObject({ id, qtype: type, labelCount: n === "" ? 0 : n.split(".").length });
        expect(q.edns === undefined).toBe(edns === undefined);
        const answers: SynthAnswer[] = [{ kind: "nodata" }, { kind: "nxdomain" }, { kind: "address", type: TYPE_A, addresses: [Uint8Array.of(192, 0, 2, 1)] }];
        for (const a of answers) {
          const m = decodeMessage(buildSynthResponse(q, a, 10));
          expect(m.id).toBe(id);
          expect(m.question?.name).toBe(n);
          expect(m.opt !== undefined).toBe(edns !== undefined);
        }
      }));
  });

  it("random bytes never throw: a query, an error with a header, or a drop", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      const p = parseQuery(b);
      if (p.kind === "error") expect(buildErrorResponse(p, p.rcode).length).toBeGreaterThanOrEqual(12);
      if (p.kind === "drop") expect(b.length < 12 || (b[2]! & 0x80) !== 0).toBe(true);
      expect(parseUpstreamResponse(b, buildUpstreamQuery(query(buildQuery({ name: "a.example", type: 1 })), 1)).ok).toBeTypeOf("boolean");
    }), { numRuns: 2000 });
  });
});
