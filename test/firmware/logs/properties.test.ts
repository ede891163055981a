// Properties of the parsers on arbitrary input (the fuzz project runs the heavy version:
// fuzz.test.ts). Whatever arrives, each parser returns a value and never throws.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDatagram, parseSourcePrefixes } from "../../../firmware/logs/datagram.ts";
import { parseSyslog } from "../../../firmware/logs/syslog.ts";
import { parseUlogdJson } from "../../../firmware/logs/ulogd-json.ts";

const enc = new TextEncoder();
const options = { syslogSources: parseSourcePrefixes(["0.0.0.0/0", "::/0"]) };
const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.string({ unit: "binary", maxLength: 500 }).map((s) => enc.encode(s)),
  fc.uint8Array({ maxLength: 500 }).map((b) => new Uint8Array([0x3c, ...b])),
  fc.uint8Array({ maxLength: 500 }).map((b) => new Uint8Array([0x7b, ...b])),
  fc.jsonValue().map((v) => enc.encode(JSON.stringify(v))),
);
const isResult = (r: { ok: boolean }) => r.ok === true || r.ok === false;

describe("parsers on arbitrary bytes", () => {
  it("parseUlogdJson, parseSyslog and parseDatagram always return a result", () => {
    fc.assert(
      fc.property(anyBytes, fc.integer(), fc.boolean(), (bytes, now, lenient) => {
        expect(isResult(parseUlogdJson(bytes, now))).toBe(true);
        expect(isResult(parseSyslog(bytes, "192.0.2.1", now, { acceptMissingPri: lenient }))).toBe(true);
        expect(isResult(parseDatagram(bytes, "127.0.0.1", now, options))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("a rejection always says why, in our words (never the datagram's)", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"), minLength: 20, maxLength: 60 }), (marker) => {
        for (const text of [`<13>1 - - - - - [${marker}`, `{"${marker}": 1}`, `<999>${marker}`, marker]) {
          const r = parseDatagram(enc.encode(text), "127.0.0.1", 0, options);
          if (!r.ok) expect(r.detail).not.toContain(marker);
        }
      }),
      { numRuns: 50 },
    );
  });
});
