import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDeviceName, sanitiseHostname, sanitiseText } from "../../../firmware/inventory/text.ts";

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/u;

describe("untrusted text from the network", () => {
  it("is always clean, well-formed and bounded, whatever comes in", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (s, max) => {
      const out = sanitiseText(s, max);
      expect(Array.from(out).length).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(UNSAFE);
      expect(out).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      expect(sanitiseText(out, max)).toBe(out); // idempotent
    }), { numRuns: 1000 });
  });

  it("decodes hostname bytes leniently and never throws", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const h = sanitiseHostname(bytes);
      if (h !== undefined) {
        expect(Array.from(h).length).toBeLessThanOrEqual(63);
        expect(h).not.toMatch(UNSAFE);
      }
    }), { numRuns: 2000 });
  });

  it("does not cut a character in half when bounding", () => {
    expect(sanitiseText("😀".repeat(10), 3)).toBe("😀😀😀");
    expect(sanitiseText("  a\u202eb  ", 10)).toBe("ab");
    expect(sanitiseText("e\u0301", 5)).toBe("é"); // NFC
  });
});

describe("parseDeviceName (what a person types)", () => {
  it("accepts Japanese and ordinary names, trims, and clears on blank", () => {
    expect(parseDeviceName(" 社長のiPhone ")).toEqual({ ok: true, value: "社長のiPhone" });
    expect(parseDeviceName("")).toEqual({ ok: true, value: null });
    expect(parseDeviceName(null)).toEqual({ ok: true, value: null });
    expect(parseDeviceName("x".repeat(64))).toMatchObject({ ok: true });
    expect(parseDeviceName("😀".repeat(64))).toMatchObject({ ok: true }); // 64 characters, 128 UTF-16 units
  });

  it("refuses, with a reason, what it would have to change", () => {
    expect(parseDeviceName("x".repeat(65))).toMatchObject({ ok: false, error: expect.stringContaining("at most 64") });
    expect(parseDeviceName("a\nb")).toMatchObject({ ok: false, error: expect.stringContaining("control") });
    expect(parseDeviceName("\ud800")).toEqual({ ok: false, error: "the name is not valid Unicode text" });
    expect(parseDeviceName({ name: "x" })).toEqual({ ok: false, error: "the name must be text" });
  });
});
