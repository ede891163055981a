import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NftParseError } from "../../../firmware/nftables/errors.ts";
import {
  formatSetElement,
  parseCounters,
  parseListing,
  parseSetListing,
  parseTableListing,
  parseTables,
} from "../../../firmware/nftables/listing.ts";
import type { Expr, Literal, Rule, SetElement, Stmt } from "../../../firmware/nftables/types.ts";

// ---- arbitraries for the typed subset of nft JSON ------------------------------------------

const literal: fc.Arbitrary<Literal> = fc.oneof(fc.string(), fc.integer(), fc.boolean());
const payload = fc.record({
  payload: fc.record({
    protocol: fc.constantFrom("ether", "ip", "ip6", "tcp", "udp", "th", "icmp", "icmpv6" as const),
    field: fc.constantFrom("saddr", "daddr", "sport", "dport"),
  }),
});
const meta = fc.record({ meta: fc.record({ key: fc.constantFrom("iifname", "oifname", "mark", "l4proto", "nfproto" as const) }) });
const ct = fc.record({ ct: fc.record({ key: fc.constantFrom("state", "status", "mark", "direction" as const) }) });
const prefix = fc.record({ prefix: fc.record({ addr: fc.ipV4(), len: fc.integer({ min: 0, max: 32 }) }) });

const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    literal,
    fc.array(literal, { maxLength: 3 }),
    payload,
    meta,
    ct,
    prefix,
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]): Expr => ({ range: [a, b] })),
    fc.array(tie("expr"), { maxLength: 3 }).map((e): Expr => ({ concat: e })),
    fc.array(tie("expr"), { maxLength: 3 }).map((e): Expr => ({ set: e })),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]): Expr => ({ "&": [a, b] })),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]): Expr => ({ "|": [a, b] })),
  ),
}));

const limit = fc.record(
  {
    rate: fc.nat(),
    per: fc.constantFrom("second", "minute", "hour", "day", "week" as const),
    burst: fc.nat(),
    rate_unit: fc.constantFrom("packets", "bytes" as const),
  },
  { requiredKeys: ["rate", "per"] },
);

const stmt: fc.Arbitrary<Stmt> = fc.oneof(
  fc.record({ match: fc.record({ op: fc.constantFrom("==", "!=", "<", ">", "<=", ">=", "in" as const), left: expr, right: expr }) }),
  fc.record({ counter: fc.oneof(fc.string(), fc.record({ packets: fc.nat(), bytes: fc.nat() })) }),
  fc.record({ limit }),
  fc.record({ log: fc.record({ prefix: fc.string(), group: fc.nat(), level: fc.constantFrom("info", "warn") }, { requiredKeys: [] }) }),
  fc.record({
    set: fc.record(
      {
        op: fc.constantFrom("add", "update", "delete" as const),
        elem: expr,
        set: fc.string().map((s): `@${string}` => `@${s}`),
        stmt: fc.array(fc.record({ limit }), { maxLength: 1 }),
      },
      { requiredKeys: ["op", "elem", "set"] },
    ),
  }),
  fc.record({ mangle: fc.record({ key: fc.oneof(meta, ct, payload), value: expr }) }),
  fc.record({
    reject: fc.option(
      fc.record({ type: fc.constantFrom("tcp reset", "icmpx", "icmp", "icmpv6" as const), expr: fc.string() }, { requiredKeys: [] }),
    ),
  }),
  fc.record({ masquerade: fc.option(fc.record({ port: fc.nat() }, { requiredKeys: [] })) }),
  fc.record({ snat: fc.record({ addr: fc.ipV4(), family: fc.constant("ip" as const), port: fc.nat() }, { requiredKeys: ["addr"] }) }),
  fc.constantFrom<Stmt>({ accept: null }, { drop: null }, { return: null }, { continue: null }, { notrack: null }),
  fc.record({ jump: fc.record({ target: fc.string() }) }),
);

const rule: fc.Arbitrary<Rule> = fc.record({
  family: fc.constant("inet" as const),
  table: fc.string(),
  chain: fc.string(),
  handle: fc.nat(),
  expr: fc.array(stmt, { maxLength: 5 }),
});

const doc = (...objects: unknown[]): string =>
  JSON.stringify({ nftables: [{ metainfo: { version: "1.0.6", json_schema_version: 1 } }, ...objects] });

// ---- properties ----------------------------------------------------------------------------

describe("parseListing", () => {
  it("reads back every typed rule unchanged", () => {
    fc.assert(
      fc.property(rule, (r) => {
        expect(parseListing(doc({ rule: r }), "test")).toEqual([{ kind: "rule", value: r }]);
      }),
    );
  });

  it("keeps keys it does not read (loose) but checks the ones it does (strict)", () => {
    const listed = { family: "inet", table: "t", chain: "c", handle: 3, expr: [{ limit: { rate: 1, per: "second", future: 1 } }], index: 9 };
    expect(parseListing(doc({ rule: listed }), "test")).toEqual([{ kind: "rule", value: listed }]);
    const bad = { ...listed, expr: [{ limit: { rate: "1", per: "second" } }] };
    expect(() => parseListing(doc({ rule: bad }), "test")).toThrow(/nftables\[1\]\.rule\.expr\[0\]\.limit\.rate/);
  });

  it("throws only NftParseError, whatever JSON it is given", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.jsonValue().map((v) => ({ nftables: [{ rule: v }, { set: v }] }))), (value) => {
        try {
          parseListing(JSON.stringify(value), "test");
        } catch (error) {
          expect(error).toBeInstanceOf(NftParseError);
        }
      }),
    );
  });

  it("throws NftParseError on text that is not JSON", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseListing(text, "test");
        } catch (error) {
          expect(error).toBeInstanceOf(NftParseError);
        }
      }),
    );
    expect(() => parseListing("Error: No such file", "test")).toThrow(NftParseError);
  });

  it("rejects a statement object with more than one key or an unknown kind", () => {
    const r = (expr: unknown) => doc({ rule: { family: "inet", table: "t", chain: "c", handle: 1, expr: [expr] } });
    expect(() => parseListing(r({ accept: null, drop: null }), "test")).toThrow(/expected one statement key/);
    expect(() => parseListing(r({ meter: {} }), "test")).toThrow(/unknown statement "meter"/);
    expect(() => parseListing(r({ match: { op: "==", left: { fib: {} }, right: 1 } }), "test")).toThrow(
      /expr\[0\]\.match\.left: unknown expression "fib"/,
    );
  });
});

describe("typed listings", () => {
  const table = { family: "inet", name: "t", handle: 1 };
  const counter = { family: "inet", name: "n", table: "t", handle: 4, packets: 7, bytes: 420 };
  const set = { family: "inet", name: "s", table: "t", type: "ipv4_addr", handle: 2, flags: ["interval"], elem: ["192.0.2.1"] };
  // Another table in the same ruleset, with a statement this driver does not type.
  const other = [
    { table: { family: "ip", name: "t", handle: 5 } },
    { counter: { family: "ip", name: "n", table: "t", handle: 1, packets: 1, bytes: 1 } },
    { rule: { family: "ip", table: "t", chain: "c", handle: 2, expr: [{ xt: { type: "match", name: "conntrack" } }] } },
  ];

  it("splits one table's objects by kind, out of a whole ruleset", () => {
    expect(parseTableListing(doc(...other, { table }, { counter }, { set }), "inet", "t")).toEqual({
      table, chains: [], rules: [], sets: [set], counters: [counter],
    });
    expect(parseTableListing(doc(...other), "inet", "t")).toBeUndefined();
    expect(() => parseTableListing(doc(...other), "ip", "t")).toThrow(/unknown statement "xt"/);
  });

  it("wants at most one table and exactly one set", () => {
    expect(parseTableListing(doc({ counter }), "inet", "t")).toBeUndefined();
    expect(() => parseTableListing(doc({ table }, { table }), "inet", "t")).toThrow(NftParseError);
    expect(() => parseSetListing(doc())).toThrow(/expected one set, found 0/);
    expect(parseSetListing(doc({ set })).elem).toEqual(["192.0.2.1"]);
  });

  it("reads tables, and counters without reading rules", () => {
    expect(parseTables(doc(...other, { table })).map((t) => `${t.family} ${t.name}`)).toEqual(["ip t", "inet t"]);
    expect(parseCounters(doc(...other, { table }, { counter }), "inet", "t")).toEqual([counter]);
    expect(parseCounters(doc(...other), "ip", "t")).toEqual([other[1]!.counter]);
    expect(parseCounters(doc(...other), "inet", "t")).toBeUndefined();
    expect(() => parseCounters(doc({ table }, { counter: { ...counter, bytes: "420" } }), "inet", "t")).toThrow(
      /nftables\[2\]\.counter\.bytes/,
    );
  });
});

describe("formatSetElement", () => {
  it("prints addresses, prefixes, ranges and concatenations as nft names them", () => {
    const cases: [SetElement, string][] = [
      ["203.0.113.9", "203.0.113.9"],
      [22, "22"],
      [{ prefix: { addr: "203.0.113.0", len: 24 } }, "203.0.113.0/24"],
      [{ range: ["10.0.0.1", "10.0.0.9"] }, "10.0.0.1-10.0.0.9"],
      [{ concat: ["192.0.2.1", 80] }, "192.0.2.1 . 80"],
      [{ elem: { val: "192.0.2.1", timeout: 60, expires: 59, comment: "x" } }, "192.0.2.1"],
      [{ elem: { val: { prefix: { addr: "2001:db8::", len: 32 } }, comment: "x" } }, "2001:db8::/32"],
    ];
    for (const [element, text] of cases) expect(formatSetElement(element)).toBe(text);
  });

  it("drops a timeout or comment and keeps the value", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6(), fc.record({ prefix: fc.record({ addr: fc.ipV4(), len: fc.integer({ min: 0, max: 32 }) }) })),
        fc.nat(),
        fc.string(),
        (val, timeout, comment) => {
          expect(formatSetElement({ elem: { val, timeout, comment } })).toBe(formatSetElement(val));
        },
      ),
    );
  });

  it("parses every element kind it prints", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.ipV4(), prefix, fc.tuple(fc.ipV4(), fc.ipV4()).map(([a, b]) => ({ range: [a, b] as [Expr, Expr] })))),
        (elem) => {
          const listed = parseSetListing(doc({ set: { family: "inet", name: "s", table: "t", type: "ipv4_addr", handle: 1, elem } }));
          expect(listed.elem).toEqual(elem);
        },
      ),
    );
  });
});
