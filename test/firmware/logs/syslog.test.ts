import { describe, expect, it } from "vitest";
import { MAX_DATAGRAM_BYTES } from "../../../firmware/logs/parse-result.ts";
import { parse5424Time, parseSyslog, SYSLOG_BOUNDS, type SyslogParseOptions } from "../../../firmware/logs/syslog.ts";
import type { SyslogRecord } from "../../../firmware/logs/types.ts";

const enc = new TextEncoder();
const BOM = "\ufeff";
const PEER = "192.0.2.10";
// 2026-11-23T14:40:00Z: a receive time for year inference.
const NOW = Date.UTC(2026, 10, 23, 14, 40, 0);

function ok(text: string | Uint8Array, options?: SyslogParseOptions, now = NOW): SyslogRecord {
  const r = parseSyslog(typeof text === "string" ? enc.encode(text) : text, PEER, now, options);
  if (!r.ok) throw new Error(`rejected: ${r.reason}: ${r.detail}`);
  return r.record;
}

function rejected(text: string | Uint8Array, options?: SyslogParseOptions): string {
  const r = parseSyslog(typeof text === "string" ? enc.encode(text) : text, PEER, NOW, options);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.record)}`);
  return r.reason;
}

describe("RFC 5424 §6.5 examples", () => {
  it("example 1: no STRUCTURED-DATA, BOM before the message", () => {
    const r = ok(`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${BOM}'su root' failed for lonvick on /dev/pts/8`);
    expect(r).toEqual({
      kind: "syslog",
      time: NOW,
      format: "rfc5424",
      peer: PEER,
      facility: 4,
      severity: 2,
      timestamp: Date.UTC(2003, 9, 11, 22, 14, 15, 3),
      hostname: "mymachine.example.com",
      appName: "su",
      msgId: "ID47",
      message: "'su root' failed for lonvick on /dev/pts/8",
    });
  });

  it("example 2: microseconds and a -07:00 offset, no BOM", () => {
    const r = ok("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    expect(r).toMatchObject({ facility: 20, severity: 5, hostname: "192.0.2.1", appName: "myproc", procId: "8710" });
    expect(r.timestamp).toBe(Date.UTC(2003, 7, 24, 12, 14, 15, 0));
    expect(r.msgId).toBeUndefined();
    expect(r.structuredData).toBeUndefined();
    expect(r.message).toBe("%% It's time to make the do-nuts.");
  });

  it("example 3: structured data and a message", () => {
    const r = ok(
      `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
    );
    expect(r.structuredData).toEqual({ "exampleSDID@32473": { iut: "3", eventSource: "Application", eventID: "1011" } });
    expect(r.procId).toBeUndefined();
    expect(r.message).toBe("An application event log entry...");
  });

  it("example 4: two SD-ELEMENTs and no message", () => {
    const r = ok(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    );
    expect(r.structuredData).toEqual({
      "exampleSDID@32473": { iut: "3", eventSource: "Application", eventID: "1011" },
      "examplePriority@32473": { class: "high" },
    });
    expect(r.message).toBe("");
  });
});

describe("RFC 5424 details", () => {
  it("§6.2.3.1 timestamps: valid ones", () => {
    expect(parse5424Time("1985-04-12T23:20:50.52Z")).toBe(Date.UTC(1985, 3, 12, 23, 20, 50, 520));
    expect(parse5424Time("1985-04-12T19:20:50.52-04:00")).toBe(Date.UTC(1985, 3, 12, 23, 20, 50, 520));
    expect(parse5424Time("2003-10-11T22:14:15.003Z")).toBe(Date.UTC(2003, 9, 11, 22, 14, 15, 3));
    expect(parse5424Time("2026-11-23T23:40:00+09:00")).toBe(Date.UTC(2026, 10, 23, 14, 40, 0));
  });

  it("§6.2.3.1 timestamps the RFC forbids are not parsed", () => {
    for (const t of [
      "1985-04-12T23:20:50.52", // no zone
      "2003-08-24T05:14:15.000000003-07:00", // more than 6 fraction digits
      "2003-10-11T22:14:15.003", // no zone
      "2003-10-11 22:14:15Z", // no T
      "2016-12-31T23:59:60Z", // leap second: MUST NOT
      "2026-02-30T00:00:00Z", // no such day
      "2026-13-01T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T00:00:00+24:00",
    ]) {
      expect(parse5424Time(t), t).toBeUndefined();
    }
  });

  it("keeps a message whose timestamp is not valid, without a timestamp", () => {
    const r = ok("<14>1 2016-12-31T23:59:60Z host app - - - text");
    expect(r.timestamp).toBeUndefined();
    expect(r.message).toBe("text");
  });

  it("the smallest message: every field NILVALUE", () => {
    const r = ok("<0>1 - - - - - -");
    expect(r).toEqual({ kind: "syslog", time: NOW, peer: PEER, format: "rfc5424", facility: 0, severity: 0, message: "" });
  });

  it("§6.3.3 escapes: \\\" \\\\ \\] are unescaped, any other backslash stays", () => {
    const r = ok(String.raw`<13>1 - - - - - [x@32473 a="say \"hi\"" b="C:\\dir" c="[1\]" d="\n stays" e=""] m`);
    expect(r.structuredData).toEqual({ "x@32473": { a: 'say "hi"', b: "C:\\dir", c: "[1]", d: "\\n stays", e: "" } });
  });

  it("an SD-PARAM value may hold UTF-8, spaces and ]", () => {
    const r = ok('<13>1 - - - - - [x@32473 msg="ログ イン\\] 失敗"] m');
    expect(r.structuredData?.["x@32473"]?.msg).toBe("ログ イン] 失敗");
  });

  it("SD-IDs and PARAM-NAMEs such as __proto__ are plain keys", () => {
    const r = ok('<13>1 - - - - - [__proto__ polluted="yes"][x@1 __proto__="v" constructor="c"]');
    expect(Object.keys(r.structuredData!)).toEqual(["__proto__", "x@1"]);
    expect(r.structuredData!["x@1"]!["__proto__"]).toBe("v");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a repeated PARAM-NAME keeps its first value", () => {
    expect(ok('<13>1 - - - - - [x@1 a="1" a="2"]').structuredData).toEqual({ "x@1": { a: "1" } });
  });

  it.each([
    ["unterminated value", '<13>1 - - - - - [x@1 a="1] m'],
    ["unterminated element", '<13>1 - - - - - [x@1 a="1" m'],
    ["value without quotes", "<13>1 - - - - - [x@1 a=1] m"],
    ["space in SD-ID", '<13>1 - - - - - [x y a="1"]'],
    ["SD-ID too long", `<13>1 - - - - - [${"a".repeat(33)}]`],
    ["repeated SD-ID", "<13>1 - - - - - [a][a]"],
    ["text right after SD", '<13>1 - - - - - [a b="c"]text'],
    ["SD neither - nor [", "<13>1 - - - - - x"],
    ["dash then text without space", "<13>1 - - - - - -text"],
    ["too many elements", `<13>1 - - - - - ${Array.from({ length: SYSLOG_BOUNDS.sdElements + 1 }, (_, i) => `[e${i}]`).join("")}`],
    ["too many params", `<13>1 - - - - - [e ${Array.from({ length: SYSLOG_BOUNDS.sdParams + 1 }, (_, i) => `p${i}="v"`).join(" ")}]`],
  ])("rejects structured data: %s", (_name, text) => {
    expect(rejected(text)).toBe("bad-structured-data");
  });

  it.each([
    ["missing fields", "<13>1 2003-10-11T22:14:15.003Z host"],
    ["two spaces (empty field)", "<13>1 -  - - - -"],
    ["version 2", "<13>2 - - - - - -"],
  ])("rejects a header with %s", (_name, text) => {
    expect(rejected(text)).toBe("bad-header");
  });

  it("cuts over-long header fields to their RFC bounds", () => {
    const r = ok(`<13>1 - ${"h".repeat(300)} ${"a".repeat(60)} ${"p".repeat(200)} ${"m".repeat(40)} - x`);
    expect(r.hostname).toHaveLength(255);
    expect(r.appName).toHaveLength(48);
    expect(r.procId).toHaveLength(128);
    expect(r.msgId).toHaveLength(32);
  });
});

describe("RFC 3164 §5.4 examples", () => {
  it("example 1", () => {
    const r = ok("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    expect(r).toEqual({
      kind: "syslog",
      time: NOW,
      format: "rfc3164",
      peer: PEER,
      facility: 4,
      severity: 2,
      timestamp: Date.UTC(2026, 9, 11, 22, 14, 15),
      hostname: "mymachine",
      appName: "su",
      message: "'su root' failed for lonvick on /dev/pts/8",
    });
  });

  it("example 2: no PRI is rejected by default, <13> and all text as message when accepted (§4.3.3)", () => {
    expect(rejected("Use the BFG!")).toBe("no-pri");
    const r = ok("Use the BFG!", { acceptMissingPri: true });
    expect(r).toMatchObject({ facility: 1, severity: 5, message: "Use the BFG!" });
    expect(r.hostname).toBeUndefined();
    expect(r.timestamp).toBeUndefined();
  });

  it("example 3: what follows the timestamp is taken as it comes", () => {
    const r = ok(
      "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jeans=OK  Pants=OK",
    );
    expect(r).toMatchObject({ facility: 20, severity: 5, hostname: "CST" });
    expect(r.timestamp).toBe(Date.UTC(2026, 7, 24, 5, 34, 0));
    expect(r.message).toBe("1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jeans=OK  Pants=OK");
  });

  it("example 4: no valid timestamp, so no host name: everything is the message (§4.3.2)", () => {
    const r = ok("<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
    expect(r).toMatchObject({ facility: 0, severity: 0, format: "rfc3164" });
    expect(r.timestamp).toBeUndefined();
    expect(r.hostname).toBeUndefined();
    expect(r.message).toBe("1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
  });

  it("example 5: a relayed message", () => {
    const r = ok("<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
    expect(r.hostname).toBe("scapegoat");
    expect(r.timestamp).toBe(Date.UTC(2026, 9, 22, 10, 52, 12));
    expect(r.message).toBe("1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
  });
});

describe("RFC 3164 as devices send it", () => {
  it("a space-padded day and a TAG with pid", () => {
    const r = ok("<38>Feb  5 17:32:18 gw sshd[4242]: Failed password for root from 203.0.113.66 port 4711 ssh2");
    expect(r).toMatchObject({ hostname: "gw", appName: "sshd", procId: "4242", message: "Failed password for root from 203.0.113.66 port 4711 ssh2" });
    expect(r.timestamp).toBe(Date.UTC(2026, 1, 5, 17, 32, 18));
  });

  it("no host name: the word after the timestamp is a TAG", () => {
    const r = ok("<30>Nov 23 14:39:00 dnsmasq[812]: query[A] example.test from 192.0.2.10");
    expect(r.hostname).toBeUndefined();
    expect(r).toMatchObject({ appName: "dnsmasq", procId: "812", message: "query[A] example.test from 192.0.2.10" });
  });

  it("no timestamp at all (embedded devices): TAG and message", () => {
    const r = ok("<30>udhcpd[99]: sending OFFER of 192.0.2.50");
    expect(r.timestamp).toBeUndefined();
    expect(r).toMatchObject({ appName: "udhcpd", procId: "99", message: "sending OFFER of 192.0.2.50" });
  });

  it("an ISO timestamp with zone (rsyslog's high-precision format)", () => {
    const r = ok("<86>2026-11-23T23:39:58.123456+09:00 nas01 smbd[1]: login ok");
    expect(r.timestamp).toBe(Date.UTC(2026, 10, 23, 14, 39, 58, 123));
    expect(r).toMatchObject({ hostname: "nas01", appName: "smbd" });
  });

  it("an ISO timestamp without zone uses the configured local offset", () => {
    const r = ok("<86>2026-11-23T23:39:58 nas01 x: y", { localOffsetMinutes: 540 });
    expect(r.timestamp).toBe(Date.UTC(2026, 10, 23, 14, 39, 58));
  });

  it("a BSD timestamp is local time of the configured offset (JST)", () => {
    const r = ok("<13>Nov 23 23:39:58 host x: y", { localOffsetMinutes: 540 });
    expect(r.timestamp).toBe(Date.UTC(2026, 10, 23, 14, 39, 58));
  });

  it("takes the latest year that is not in the future (December's log received on 1 January)", () => {
    const newYear = Date.UTC(2027, 0, 1, 0, 0, 5);
    expect(ok("<13>Dec 31 23:59:59 host x: y", {}, newYear).timestamp).toBe(Date.UTC(2026, 11, 31, 23, 59, 59));
    expect(ok("<13>Jan  1 00:00:01 host x: y", {}, newYear).timestamp).toBe(Date.UTC(2027, 0, 1, 0, 0, 1));
    // A device clock a few minutes ahead across New Year is still "now", not a year ago.
    expect(ok("<13>Jan  1 00:03:00 host x: y", {}, Date.UTC(2026, 11, 31, 23, 59)).timestamp).toBe(Date.UTC(2027, 0, 1, 0, 3));
  });

  it("a year and milliseconds (Cisco style), and a colon after the timestamp", () => {
    expect(ok("<189>Oct 11 2025 22:14:15 sw1 x: y").timestamp).toBe(Date.UTC(2025, 9, 11, 22, 14, 15));
    const cisco = ok("<189>Oct 11 22:14:15.123: %SYS-5-CONFIG_I: Configured from console");
    expect(cisco.timestamp).toBe(Date.UTC(2026, 9, 11, 22, 14, 15, 123));
    expect(cisco.message).toBe("%SYS-5-CONFIG_I: Configured from console");
  });

  it("Feb 29 lands in a leap year or nowhere", () => {
    expect(ok("<13>Feb 29 12:00:00 host x: y", {}, Date.UTC(2028, 2, 1)).timestamp).toBe(Date.UTC(2028, 1, 29, 12));
    expect(ok("<13>Feb 30 12:00:00 host x: y").timestamp).toBeUndefined();
  });

  it("an IPv6 address as host name", () => {
    expect(ok("<13>Oct 11 22:14:15 2001:db8::10 app: hi").hostname).toBe("2001:db8::10");
  });

  it("a single word after the timestamp is the message, not a host name", () => {
    const r = ok("<13>Oct 11 22:14:15 reboot");
    expect(r.hostname).toBeUndefined();
    expect(r.message).toBe("reboot");
  });

  it("trailing LF, CRLF and NUL are not part of the message", () => {
    expect(ok("<13>Oct 11 22:14:15 host app: hi\r\n").message).toBe("hi");
    expect(ok("<13>Oct 11 22:14:15 host app: hi\0").message).toBe("hi");
  });
});

describe("PRI", () => {
  it("facility and severity from PRI", () => {
    expect(ok("<191>x")).toMatchObject({ facility: 23, severity: 7 });
    expect(ok("<0>x")).toMatchObject({ facility: 0, severity: 0 });
    expect(ok("<013>x")).toMatchObject({ facility: 1, severity: 5 });
  });

  it.each(["<192>x", "<1000>x", "<>x", "<a>x", "<-1>x", "<13x", "<"])("rejects %j", (text) => {
    expect(rejected(text)).toBe("bad-pri");
  });

  it("§4.3.3: an unidentifiable PRI becomes <13> with the whole text when missing PRI is accepted", () => {
    expect(ok("<999>hello", { acceptMissingPri: true })).toMatchObject({ facility: 1, severity: 5, message: "<999>hello" });
  });
});

describe("untrusted text", () => {
  it("control characters in the message become spaces; bidi overrides go", () => {
    const r = ok("<13>Oct 11 22:14:15 host app: line1\nFAKE: line2\u001b[2J\u202eevil\u0007");
    expect(r.message).toBe("line1 FAKE: line2 [2J evil");
  });

  it("control characters in fields are removed", () => {
    const r = ok("<13>1 - ho\u0001st ap\u007fp - - - m");
    expect(r).toMatchObject({ hostname: "host", appName: "app" });
  });

  it("invalid UTF-8 becomes U+FFFD; nothing throws", () => {
    const bytes = new Uint8Array([...enc.encode("<13>Oct 11 22:14:15 host app: a"), 0xff, 0xfe, 0xc3, ...enc.encode("b")]);
    const r = ok(bytes);
    expect(r.message.startsWith("a")).toBe(true);
    expect(r.message).toContain("\ufffd");
  });

  it("Shift_JIS text from a Japanese device is read as Shift_JIS", () => {
    // "ログイン失敗" in Shift_JIS
    const sjis = [0x83, 0x8d, 0x83, 0x4f, 0x83, 0x43, 0x83, 0x93, 0x8e, 0xb8, 0x94, 0x73];
    const r = ok(new Uint8Array([...enc.encode("<13>Oct 11 22:14:15 rtx1200 "), ...sjis]));
    expect(r.message).toBe("ログイン失敗");
  });

  it("long messages are cut and marked", () => {
    const r = ok(`<13>1 - - - - - - ${"あ".repeat(2500)}`);
    expect(r.message).toHaveLength(SYSLOG_BOUNDS.message);
    expect(r.message.endsWith("\u2026")).toBe(true);
  });

  it("a cut never splits a surrogate pair", () => {
    const r = ok(`<13>1 - - - - - - ${"😀".repeat(2000)}`);
    expect(r.message.endsWith("\u2026")).toBe(true);
    expect(r.message.slice(0, -1)).toMatch(/^(?:😀)+$/u);
  });

  it("rejects datagrams above the size bound and empty ones", () => {
    expect(rejected(new Uint8Array(MAX_DATAGRAM_BYTES + 1).fill(0x41))).toBe("too-large");
    expect(rejected(new Uint8Array(0))).toBe("empty");
  });

  it("a long run of newlines is fast (no quadratic trimming)", () => {
    const text = `<13>x${"\n".repeat(8000)}y`;
    const started = performance.now();
    for (let i = 0; i < 50; i++) ok(text);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
