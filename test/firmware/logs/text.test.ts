import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanField, cleanText, cleanValue, decodeText, ELLIPSIS, trimLineEnd } from "../../../firmware/logs/text.ts";

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("text cleaning", () => {
  it("leaves printable ASCII alone", () => {
    expect(cleanField("sk:c2-feed.out:", 127)).toBe("sk:c2-feed.out:");
    expect(cleanText("hello world", 100)).toBe("hello world");
  });

  it("fields lose unsafe characters, prose turns them into spaces", () => {
    expect(cleanField("a\u0000b\nc\u202ed", 10)).toBe("abcd");
    expect(cleanValue("a\nb\tc", 10)).toBe("a b c");
    expect(cleanText("a\r\nb  \n", 10)).toBe("a  b");
  });

  it("keeps Japanese and emoji", () => {
    expect(cleanText("ログ😀", 10)).toBe("ログ😀");
  });

  it("bounds: fields are cut, prose is cut with an ellipsis", () => {
    expect(cleanField("abcdef", 3)).toBe("abc");
    expect(cleanText("abcdef", 4)).toBe(`abc${ELLIPSIS}`);
  });

  it("trims line ends and NULs, only at the end", () => {
    expect(trimLineEnd("a\nb\r\n\0")).toBe("a\nb");
    expect(trimLineEnd("\n\n")).toBe("");
    expect(trimLineEnd("x")).toBe("x");
  });

  it("decodeText: UTF-8, then Shift_JIS, then replacement", () => {
    expect(decodeText(new TextEncoder().encode("ログ"))).toBe("ログ");
    expect(decodeText(new Uint8Array([0x83, 0x8d, 0x83, 0x4f]))).toBe("ログ");
    expect(decodeText(new Uint8Array([0x41, 0xff, 0x42]))).toBe("A\ufffdB");
  });

  it("property: cleaned text is bounded, has no unsafe characters and no lone surrogates", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), fc.integer({ min: 2, max: 200 }), (s, max) => {
        for (const out of [cleanField(s, max), cleanValue(s, max), cleanText(s, max)]) {
          expect(out.length).toBeLessThanOrEqual(max);
          expect(UNSAFE.test(out)).toBe(false);
          expect(LONE.test(out)).toBe(false);
        }
      }),
    );
  });

  it("property: decodeText never throws and never yields a lone surrogate", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(LONE.test(decodeText(bytes))).toBe(false);
      }),
    );
  });
});
