import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSyslog, SYSLOG_BOUNDS } from "../../../firmware/logs/syslog.ts";
import { DEFAULT_SYSLOG_MAX_BYTES, formatSyslog5424, SyslogSender, type SyslogMessage } from "../../../firmware/logs/syslog-sender.ts";
import { createMemorySocket } from "./memory-socket.ts";

const dec = new TextDecoder();
const text = (msg: SyslogMessage, maxBytes?: number) => dec.decode(formatSyslog5424(msg, maxBytes === undefined ? {} : { maxBytes }));

describe("formatSyslog5424", () => {
  it("formats the RFC 5424 §6.5 example 3 shape", () => {
    expect(
      text({
        facility: 20,
        severity: 5,
        timestamp: Date.UTC(2003, 9, 11, 22, 14, 15, 3),
        hostname: "mymachine.example.com",
        appName: "evntslog",
        msgId: "ID47",
        structuredData: { "exampleSDID@32473": { iut: "3", eventSource: "Application", eventID: "1011" } },
        message: "An application event log entry...",
      }),
    ).toBe(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \ufeffAn application event log entry...',
    );
  });

  it("uses NILVALUE for everything absent, and sends no MSG when there is none", () => {
    expect(text({ facility: 0, severity: 0 })).toBe("<0>1 - - - - - -");
    expect(text({ facility: 1, severity: 5, timestamp: Number.NaN, hostname: "", structuredData: {} })).toBe("<13>1 - - - - - -");
  });

  it("escapes \" \\ and ] in PARAM-VALUE, and only those", () => {
    expect(text({ facility: 1, severity: 1, structuredData: { "a@32473": { v: 'say "hi" C:\\x [1] ok' } } })).toBe(
      '<9>1 - - - - - [a@32473 v="say \\"hi\\" C:\\\\x [1\\] ok"]',
    );
  });

  it("drops characters header fields and SD-NAMEs may not hold", () => {
    expect(text({ facility: 1, severity: 1, hostname: "box 1\n", appName: "ロ", structuredData: { 'a "b]=c': { "k=": "v", "": "x" } } })).toBe(
      '<9>1 - box1 - - - [abc k="v"]',
    );
  });

  it("replaces control characters in the message (no forged second line at the collector)", () => {
    expect(text({ facility: 1, severity: 1, message: "a\nb\u0000c" })).toBe("<9>1 - - - - - - \ufeffa b c");
  });

  it("stays within maxBytes: cuts the message on a UTF-8 boundary and marks it", () => {
    const bytes = formatSyslog5424({ facility: 1, severity: 1, message: "ログ".repeat(2000) });
    expect(bytes.length).toBeLessThanOrEqual(DEFAULT_SYSLOG_MAX_BYTES);
    const t = dec.decode(bytes);
    expect(t).not.toContain("\ufffd");
    expect(t.endsWith("\u2026")).toBe(true);
  });

  it("drops structured data that alone would exceed maxBytes", () => {
    const sd: Record<string, Record<string, string>> = {};
    for (let i = 0; i < 30; i++) sd[`e${i}@32473`] = { v: "x".repeat(200) };
    const bytes = formatSyslog5424({ facility: 1, severity: 1, structuredData: sd, message: "m" }, { maxBytes: 1000 });
    expect(bytes.length).toBeLessThanOrEqual(1000);
    expect(dec.decode(bytes)).toBe("<9>1 - - - - - - \ufeffm");
  });

  it("throws RangeError for an impossible facility, severity or bound", () => {
    expect(() => formatSyslog5424({ facility: 24, severity: 0 })).toThrow(RangeError);
    expect(() => formatSyslog5424({ facility: 0, severity: 8 })).toThrow(RangeError);
    expect(() => formatSyslog5424({ facility: 1.5, severity: 0 })).toThrow(RangeError);
    expect(() => formatSyslog5424({ facility: 0, severity: 0 }, { maxBytes: 100 })).toThrow(RangeError);
  });

  it("gives NILVALUE for a timestamp outside years 1-9999", () => {
    expect(text({ facility: 0, severity: 0, timestamp: 8.64e15 })).toBe("<0>1 - - - - - -");
  });
});

// Strings made of characters every stage keeps: printable ASCII for header fields and names,
// any safe Unicode (no controls, no bidi, no surrogate halves) for values and messages.
const ascii = (min: number, max: number, except = "") =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max })
    .filter((s) => s !== "-" && ![...except].some((c) => s.includes(c)));
const safeChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0x60b }),
  fc.integer({ min: 0x3040, max: 0x30ff }),
  fc.integer({ min: 0x4e00, max: 0x9fff }),
  fc.constant(0x1f600),
).map((c) => String.fromCodePoint(c));
const prose = (max: number) => fc.string({ unit: safeChar, maxLength: max });

const message: fc.Arbitrary<SyslogMessage> = fc.record(
  {
    facility: fc.integer({ min: 0, max: 23 }),
    severity: fc.integer({ min: 0, max: 7 }),
    timestamp: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }),
    hostname: ascii(1, SYSLOG_BOUNDS.hostname),
    appName: ascii(1, SYSLOG_BOUNDS.appName),
    procId: ascii(1, SYSLOG_BOUNDS.procId),
    msgId: ascii(1, SYSLOG_BOUNDS.msgId),
    structuredData: fc.dictionary(
      ascii(1, 32, '= ]"'),
      fc.dictionary(ascii(1, 32, '= ]"'), prose(40), { maxKeys: 4 }),
      { minKeys: 1, maxKeys: 3 },
    ),
    message: prose(300).map((s) => s.trimEnd()),
  },
  { requiredKeys: ["facility", "severity"] },
);

describe("format → parse round trip (property)", () => {
  it("parseSyslog(formatSyslog5424(m)) gives back m", () => {
    fc.assert(
      fc.property(message, (m) => {
        const r = parseSyslog(formatSyslog5424(m, { maxBytes: 8192 }), "127.0.0.1", 0);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const back = r.record;
        expect(back.format).toBe("rfc5424");
        expect(back.facility).toBe(m.facility);
        expect(back.severity).toBe(m.severity);
        expect(back.timestamp).toBe(m.timestamp);
        expect(back.hostname).toBe(m.hostname);
        expect(back.appName).toBe(m.appName);
        expect(back.procId).toBe(m.procId);
        expect(back.msgId).toBe(m.msgId);
        expect(back.structuredData === undefined ? undefined : JSON.parse(JSON.stringify(back.structuredData))).toEqual(
          m.structuredData,
        );
        expect(back.message).toBe(m.message ?? "");
      }),
      { numRuns: 300 },
    );
  });
});

describe("SyslogSender", () => {
  it("sends to the collector and counts sent and failed", async () => {
    const socket = createMemorySocket();
    const sender = new SyslogSender(socket, { collector: { address: "192.0.2.99", port: 6514 } });
    sender.send({ facility: 1, severity: 2, message: "one" });
    sender.send({ facility: 1, severity: 2, message: "two" });
    await sender.flush();
    expect(sender.counters()).toEqual({ sent: 2, failed: 0 });
    expect(socket.sent.map((s) => [s.address, s.port, dec.decode(s.data)])).toEqual([
      ["192.0.2.99", 6514, "<10>1 - - - - - - \ufeffone"],
      ["192.0.2.99", 6514, "<10>1 - - - - - - \ufefftwo"],
    ]);
    socket.failSends("ENETUNREACH");
    sender.send({ facility: 1, severity: 2, message: "three" });
    await sender.flush();
    expect(sender.counters()).toEqual({ sent: 2, failed: 1 });
    expect(sender.lastError()?.message).toMatch(/ENETUNREACH/);
  });

  it("fails at once beyond maxInFlight instead of piling up", async () => {
    const socket = createMemorySocket();
    const sender = new SyslogSender(socket, { collector: { address: "192.0.2.99", port: 514 }, maxInFlight: 2 });
    for (let i = 0; i < 5; i++) sender.send({ facility: 1, severity: 1, message: String(i) });
    expect(sender.counters().failed).toBe(3);
    await sender.close();
    expect(sender.counters()).toEqual({ sent: 2, failed: 3 });
    expect(socket.closed).toBe(true);
  });

  it("throws for a message no collector could take", () => {
    const sender = new SyslogSender(createMemorySocket(), { collector: { address: "192.0.2.99", port: 514 } });
    expect(() => sender.send({ facility: 99, severity: 1 })).toThrow(RangeError);
  });
});
