import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isIP } from "node:net";
import { collapsePrefixes, formatIpv6, formatIpv6Groups, formatPrefix, ipVersion, parseIpv4, parseIpv6, parseIpv6Groups, parsePrefix, splitAddressList } from "../../policies/net.ts";

describe("IP parsing and canonical text", () => {
  it("formats IPv6 as RFC 5952 says", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single 0 group stays
      ["::", "::"],
      ["::1", "::1"],
      ["2001:DB8::A", "2001:db8::a"],
      ["::ffff:192.0.2.1", "::ffff:c000:201"],
      ["fe80::", "fe80::"],
    ];
    for (const [input, want] of cases) expect(formatIpv6(parseIpv6(input)!), input).toBe(want);
  });

  it("rejects what is not an address", () => {
    for (const s of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", " 1.2.3.4"]) {
      expect(parseIpv4(s) === undefined && parseIpv6(s) === undefined, s).toBe(true);
    }
  });

  it("round-trips any IPv4 and IPv6 value", () => {
    fc.assert(fc.property(fc.ipV4(), (s) => formatPrefix({ family: 4, bits: BigInt(parseIpv4(s)!), len: 32 }) === s));
    fc.assert(fc.property(fc.ipV6(), (s) => {
      const v = parseIpv6(s);
      return v !== undefined && parseIpv6(formatIpv6(v)) === v;
    }));
  });

  it("collapses covered and duplicate prefixes, whatever the input order", () => {
    const input = ["203.0.113.5", "203.0.113.0/24", "10.0.0.0/8", "10.1.0.0/16", "203.0.113.0/24", "2001:db8::1", "2001:db8::/32", "198.51.100.1"];
    const parse = (xs: string[]) => xs.map((x) => { const r = parsePrefix(x); if (!r.ok) throw new Error(r.error); return r.value; });
    const want = ["10.0.0.0/8", "198.51.100.1", "203.0.113.0/24", "2001:db8::/32"];
    expect(collapsePrefixes(parse(input)).map(formatPrefix)).toEqual(want);
    fc.assert(fc.property(fc.shuffledSubarray(input, { minLength: input.length }), (shuffled) => {
      expect(collapsePrefixes(parse(shuffled)).map(formatPrefix)).toEqual(want);
    }));
  });
});

describe("splitAddressList (the compiler's fast path)", () => {
  /** The reference: the general, bigint-based collapse. */
  const reference = (entries: string[]) => {
    const parsed = entries.map(parsePrefix).flatMap((r) => (r.ok ? [r.value] : []));
    const c = collapsePrefixes(parsed);
    const host = (p: { family: number; len: number }) => p.len === (p.family === 4 ? 32 : 128);
    return {
      hosts4: c.filter((p) => p.family === 4 && host(p)).map(formatPrefix),
      nets4: c.filter((p) => p.family === 4 && !host(p)).map(formatPrefix),
      hosts6: c.filter((p) => p.family === 6 && host(p)).map(formatPrefix),
      nets6: c.filter((p) => p.family === 6 && !host(p)).map(formatPrefix),
    };
  };
  // Small address spaces so that duplicates and nesting happen often.
  const v4 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }))
    .map(([a, b]) => `10.${a}.${b >> 4}.${b}`);
  const net4 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 8, max: 32 })).map(([a, len]) => {
    const bits = (10 * 2 ** 24 + a * 2 ** 16) >>> 0;
    const size = 2 ** (32 - len);
    return formatPrefix({ family: 4, bits: BigInt(Math.floor(bits / size) * size), len });
  });
  const v6 = fc.integer({ min: 0, max: 20 }).map((n) => `2001:db8::${n.toString(16)}`);
  // Several IPv6 prefixes, nested and disjoint, over the same small space as the hosts.
  const net6 = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.constantFrom(120, 124, 126, 127)).map(([n, len]) => {
    const size = 2 ** (128 - len);
    return `2001:db8::${(Math.floor(n / size) * size).toString(16)}/${len}`;
  });
  // Host prefixes written with their length (/32, /128) are hosts too.
  const withLength = fc.oneof(v4.map((a) => `${a}/32`), v6.map((a) => `${a}/128`));
  const junk = fc.constantFrom("10.0.0.1/33", "10.0.0.1/24", "010.0.0.1", "1.2.3", "", "x");

  it("gives exactly what the general collapse gives, for any mix of entries", () => {
    fc.assert(fc.property(fc.array(fc.oneof(v4, net4, v6, fc.ipV6(), fc.constant("2001:db8::/120"), net6, withLength, junk), { maxLength: 200 }), (entries) => {
      const got = splitAddressList(entries);
      expect({ ...got, nets4: got.nets4.map(formatPrefix), nets6: got.nets6.map(formatPrefix) }).toEqual(reference(entries));
    }), { numRuns: 500 });
  });
});

describe("the IPv6 fast path", () => {
  const toBig = (g: Uint16Array) => g.reduce((v, x) => (v << 16n) | BigInt(x), 0n);
  it("parses exactly what parseIpv6 parses, to the same value, and formats the same text", () => {
    const junk = fc.constantFrom("", ":", ":::", "1::2::3", "12345::", "::g", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1::", "1::", "::1:", "fe80::1%eth0");
    fc.assert(fc.property(fc.oneof(fc.ipV6(), junk, fc.string({ maxLength: 20 })), (s) => {
      const g = parseIpv6Groups(s);
      const v = parseIpv6(s);
      expect(g === undefined ? undefined : toBig(g)).toBe(v);
      if (g) expect(formatIpv6Groups(g)).toBe(formatIpv6(v!));
    }), { numRuns: 3000 });
  });
});

describe("ipVersion (node:net's isIP without node:net)", () => {
  it("tells IPv4, IPv6 (with a zone) and everything else apart", () => {
    const cases: [string, 0 | 4 | 6][] = [
      ["192.0.2.1", 4], ["0.0.0.0", 4], ["::", 6], ["2001:db8::1", 6], ["::ffff:192.0.2.1", 6], ["fe80::1%eth0", 6],
      ["fe80::1%2", 6], ["", 0], ["example.test", 0], ["192.0.2.256", 0], ["192.0.2", 0], ["2001:db8:::1", 0], ["1.2.3.4%eth0", 0],
      [":::", 0], ["%eth0", 0], ["fe80::1%", 0], ["fe80::1%eth 0", 0], ["fe80::1%a%b", 0], ["fe80::1%eth0/64", 0],
    ];
    for (const [text, want] of cases) expect([text, ipVersion(text)]).toEqual([text, want]);
  });

  it("agrees with node:net's isIP on addresses it formats and on random text", () => {
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 50 })), (text) => {
      expect(ipVersion(text)).toBe(isIP(text));
    }), { numRuns: 2000 });
  });
});
