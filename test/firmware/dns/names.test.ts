import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NameReader } from "../../../firmware/dns/codec.ts";
import { hashTextName, hashWireLabel, newHashState, resetHash } from "../../../firmware/dns/name-hash.ts";
import { encodeWireName, normaliseName, presentLabels } from "../../../firmware/dns/names.ts";

describe("names", () => {
  it("normalises text names: case, trailing dot, IDN to punycode; refuses what is not a name", () => {
    expect(normaliseName(" WWW.Example.COM. ")).toEqual({ ok: true, name: "www.example.com" });
    expect(normaliseName("bücher.example")).toEqual({ ok: true, name: "xn--bcher-kva.example" });
    expect(normaliseName("例え.テスト")).toEqual({ ok: true, name: "xn--r8jz45g.xn--zckzah" });
    expect(normaliseName("会社。example")).toEqual({ ok: true, name: "xn--6oq404h.example" }); // ideographic full stop
    expect(normaliseName("")).toEqual({ ok: false, problem: "empty" });
    expect(normaliseName("a..b")).toEqual({ ok: false, problem: "label-empty" });
    expect(normaliseName(`${"a".repeat(64)}.example`)).toEqual({ ok: false, problem: "label-too-long" });
    expect(normaliseName(`${"abcdefghi.".repeat(26)}x`)).toEqual({ ok: false, problem: "too-long" });
    expect(normaliseName("192.0.2.1")).toEqual({ ok: false, problem: "ip-address" });
    expect(normaliseName("a b.example")).toEqual({ ok: false, problem: "bad-character" });
    expect(normaliseName("bü/cher.example")).toEqual({ ok: false, problem: "bad-idn" });
    expect(normaliseName("１９２.０.２.１").ok).toBe(false); // full-width digits become an IPv4 address
  });

  it("presents wire names with escapes: dots and backslashes inside labels, control and non-ASCII bytes", () => {
    const wire = Uint8Array.from([3, 97, 46, 98, 2, 0, 255, 3, 65, 92, 34, 0]);
    const r = new NameReader();
    // NameReader wants a header before pointers only; a plain name reads at any offset.
    expect(r.read(wire, 0)).toBe(true);
    expect(presentLabels(wire, r.labels, r.count)).toBe("a\\.b.\\000\\255.a\\\\\\034");
    expect(presentLabels(wire, r.labels, 0)).toBe(".");
  });

  it("hashes a text name and its wire form the same, and every suffix along the way", () => {
    fc.assert(fc.property(fc.domain(), (d) => {
      const n = normaliseName(d);
      if (!n.ok) return;
      const s = newHashState();
      hashTextName(s, n.name, 0, n.name.length);
      const text = [s[2], s[3]];
      const wire = encodeWireName(n.name);
      const r = new NameReader();
      r.read(wire, 0);
      const w = newHashState();
      resetHash(w);
      for (let k = r.count - 1; k >= 0; k--) hashWireLabel(w, wire, r.labels[k]!);
      expect([w[2], w[3]]).toEqual(text);
      // The upper-case wire form hashes the same (case folding is in the hash).
      const upper = encodeWireName(n.name.toUpperCase() as typeof n.name);
      resetHash(w);
      r.read(upper, 0);
      for (let k = r.count - 1; k >= 0; k--) hashWireLabel(w, upper, r.labels[k]!);
      expect([w[2], w[3]]).toEqual(text);
    }));
  });

  it("does not confuse a dot inside a label with a label boundary", () => {
    const s = newHashState();
    hashTextName(s, "a.b", 0, 3);
    const two = [s[2], s[3]];
    const one = Uint8Array.from([3, 97, 46, 98, 0]);
    resetHash(s);
    hashWireLabel(s, one, 0);
    expect([s[2], s[3]]).not.toEqual(two);
  });
});
