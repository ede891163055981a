/**
 * Syslog datagrams → SyslogRecord (pure): RFC 5424 and RFC 3164 with the variants real
 * devices send.
 *
 * RFC 5424 is parsed strictly where its structure is concerned (a header field or
 * STRUCTURED-DATA that does not parse rejects the datagram) and leniently where only a
 * value is odd (a timestamp that is not a valid date is left out, an over-long field is
 * cut to its RFC bound). RFC 3164 has no real grammar, so its parser takes what it can
 * recognise: a BSD ("Oct 11 22:14:15", optional year and fraction) or ISO timestamp, then a
 * host name when the next word looks like one, then a TAG ("app[pid]:"); what it cannot
 * recognise stays in the message, as RFC 3164 §4.3.2 asks of a relay.
 *
 * Every text field is cleaned (control and bidi characters removed) and bounded; text that
 * is not UTF-8 is read as Shift_JIS when it is valid Shift_JIS, else with U+FFFD.
 */
import { MAX_DATAGRAM_BYTES, reject, type ParseResult } from "./parse-result.ts";
import { cleanField, cleanText, cleanValue, decodeText, trimLineEnd } from "./text.ts";
import type { SyslogRecord } from "./types.ts";

/** RFC 5424 §6 field bounds (also applied to what RFC 3164 messages carry). */
export const SYSLOG_BOUNDS = {
  hostname: 255,
  appName: 48,
  procId: 128,
  msgId: 32,
  sdName: 32,
  /** Our bounds: a device has no reason to send more, and each becomes a stored string. */
  sdElements: 32,
  sdParams: 64,
  sdValue: 1024,
  /** Message text kept per record (UTF-16 units); longer text is cut and ends with "…". */
  message: 2048,
} as const;

export type SyslogParseOptions = {
  /**
   * RFC 3164 §4.3.3: a relay treats a message without PRI as user.notice (`<13>`) with the
   * whole datagram as its text. Off by default: a datagram on the syslog port that does
   * not start with `<` is far more often garbage than a device that omits the PRI.
   */
  acceptMissingPri?: boolean;
  /**
   * Offset from UTC, in minutes, of the clocks that send RFC 3164 timestamps without a zone
   * (+540 for devices set to Japan time). Default 0 (UTC).
   */
  localOffsetMinutes?: number;
};

const NIL = "-";
const DEFAULT_FACILITY = 1; // user
const DEFAULT_SEVERITY = 5; // notice
const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};
const RFC5424_VERSION = /^([1-9]\d{0,2}) /;
const RFC5424_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/;
/** "Oct 11 22:14:15", "Feb  5 17:32:18", "Oct 11 2003 22:14:15", "Oct 11 22:14:15.123 2003", optional ':' after. */
const BSD_TIME =
  /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?: (\d{4}))?:?(?: |$)/;
/** rsyslog's high-precision 3164 variant and other ISO 8601 forms, zone optional. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?(?: |$)/;
/** A word that is a host name or an address, not a TAG ("sshd:", "cron[12]:"). */
const HOSTNAME = /^[A-Za-z0-9_:][A-Za-z0-9._%:-]*[A-Za-z0-9_.]$|^[A-Za-z0-9]$/;
/** TAG with optional [pid], then ':' (RFC 3164 §5.3, with the characters real tags use). */
const TAG = /^([A-Za-z0-9_.\/@-]{1,48})(?:\[([^\]\s]{1,128})\])?:(?: |$)/;
const SD_NAME = /^[\x21-\x7e]+$/;

/**
 * One syslog datagram as a SyslogRecord, or why not. `peer` is the sender's address as the
 * socket saw it; `now` (ms since epoch) is the receive time. Never throws.
 */
export function parseSyslog(
  bytes: Uint8Array,
  peer: string,
  now: number,
  options: SyslogParseOptions = {},
): ParseResult<SyslogRecord> {
  if (bytes.length === 0) return reject("empty", "empty datagram");
  if (bytes.length > MAX_DATAGRAM_BYTES) {
    return reject("too-large", `syslog datagram of ${bytes.length} bytes (limit ${MAX_DATAGRAM_BYTES})`);
  }
  // Senders end lines with LF, CRLF or NUL; none of it is message text.
  const text = trimLineEnd(decodeText(bytes));
  const base = { kind: "syslog" as const, time: now, peer };

  const pri = readPri(text);
  if (pri.kind !== "ok") {
    if (options.acceptMissingPri !== true) {
      return pri.kind === "missing"
        ? reject("no-pri", "syslog datagram does not start with <PRI>")
        : reject("bad-pri", pri.detail);
    }
    // RFC 3164 §4.3.3: no (recognisable) PRI → <13>, the whole datagram is the message.
    return {
      ok: true,
      record: {
        ...base,
        format: "rfc3164",
        facility: DEFAULT_FACILITY,
        severity: DEFAULT_SEVERITY,
        message: cleanText(text, SYSLOG_BOUNDS.message),
      },
    };
  }
  const head = { ...base, facility: pri.value >> 3, severity: pri.value & 7 };
  const rest = text.slice(pri.end);
  const version = RFC5424_VERSION.exec(rest);
  if (version !== null) return parse5424(head, rest, version);
  return { ok: true, record: parse3164(head, rest, now, options.localOffsetMinutes ?? 0) };
}

type Head = Pick<SyslogRecord, "kind" | "time" | "peer" | "facility" | "severity">;

type PriResult = { kind: "ok"; value: number; end: number } | { kind: "missing" } | { kind: "bad"; detail: string };

function readPri(text: string): PriResult {
  if (!text.startsWith("<")) return { kind: "missing" };
  const close = text.indexOf(">");
  if (close < 2 || close > 4) return { kind: "bad", detail: "PRI must be 1-3 digits between < and >" };
  const digits = text.slice(1, close);
  if (!/^\d+$/.test(digits)) return { kind: "bad", detail: "PRI must be 1-3 digits between < and >" };
  const value = Number(digits);
  if (value > 191) return { kind: "bad", detail: `PRI ${value} is out of range 0-191` };
  return { kind: "ok", value, end: close + 1 };
}

// ---------------------------------------------------------------- RFC 5424

function parse5424(head: Head, rest: string, version: RegExpExecArray): ParseResult<SyslogRecord> {
  if (version[1] !== "1") return reject("bad-header", `unsupported syslog version ${version[1]}`);
  const fields: string[] = [];
  let at = version[0].length;
  // TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, each followed by one space.
  for (let i = 0; i < 5; i++) {
    const space = rest.indexOf(" ", at);
    if (space <= at) return reject("bad-header", "RFC 5424 header is missing a field or has an empty one");
    fields.push(rest.slice(at, space));
    at = space + 1;
  }
  const [timestamp, hostname, appName, procId, msgId] = fields as [string, string, string, string, string];
  const record: SyslogRecord = { ...head, format: "rfc5424", message: "" };
  const time = timestamp === NIL ? undefined : parse5424Time(timestamp);
  if (time !== undefined) record.timestamp = time;
  setField(record, "hostname", hostname, SYSLOG_BOUNDS.hostname);
  setField(record, "appName", appName, SYSLOG_BOUNDS.appName);
  setField(record, "procId", procId, SYSLOG_BOUNDS.procId);
  setField(record, "msgId", msgId, SYSLOG_BOUNDS.msgId);

  let msgStart: number;
  if (rest.startsWith(NIL, at)) {
    msgStart = at + 1;
  } else if (rest[at] === "[") {
    const sd = parseStructuredData(rest, at);
    if (!sd.ok) return reject("bad-structured-data", sd.detail);
    record.structuredData = sd.value;
    msgStart = sd.end;
  } else {
    return reject("bad-structured-data", "STRUCTURED-DATA must be - or start with [");
  }
  if (msgStart < rest.length) {
    if (rest[msgStart] !== " ") return reject("bad-structured-data", "no space between STRUCTURED-DATA and MSG");
    let msg = rest.slice(msgStart + 1);
    // MSG-UTF8 starts with a BOM (already decoded as U+FEFF); it is not part of the text.
    if (msg.startsWith("\ufeff")) msg = msg.slice(1);
    record.message = cleanText(msg, SYSLOG_BOUNDS.message);
  }
  return { ok: true, record };
}

function setField(record: SyslogRecord, key: "hostname" | "appName" | "procId" | "msgId", value: string, max: number): void {
  if (value === NIL) return;
  const clean = cleanField(value, max);
  if (clean !== "") record[key] = clean;
}

/** RFC 5424 §6.2.3 TIMESTAMP → ms since epoch; undefined for anything the RFC forbids. */
export function parse5424Time(text: string): number | undefined {
  const m = RFC5424_TIME.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m as unknown as [string, string, string, string, string, string, string, string | undefined, string];
  let offset = 0;
  if (zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offset = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  return utcMillis(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), frac, offset);
}

/** Date fields → ms since epoch, or undefined when any field is out of range (no leap second: RFC 5424 forbids it). */
function utcMillis(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string | undefined,
  offsetMinutes: number,
): number | undefined {
  if (month < 0 || month > 11 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, second, fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000));
  // Date.UTC rolls 31 April over to 1 May: a round trip catches days the month lacks.
  const check = new Date(ms);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return undefined;
  return ms - offsetMinutes * 60_000;
}

type SdResult =
  | { ok: true; value: Record<string, Record<string, string>>; end: number }
  | { ok: false; detail: string };

/**
 * RFC 5424 §6.3 STRUCTURED-DATA starting at `start` (a `[`). Objects are created without a
 * prototype, so an SD-ID or PARAM-NAME such as "__proto__" is only ever a key. A repeated
 * PARAM-NAME (which the RFC allows) keeps its first value.
 */
function parseStructuredData(text: string, start: number): SdResult {
  const value: Record<string, Record<string, string>> = Object.create(null);
  let at = start;
  let elements = 0;
  while (text[at] === "[") {
    if (++elements > SYSLOG_BOUNDS.sdElements) return { ok: false, detail: `more than ${SYSLOG_BOUNDS.sdElements} SD-ELEMENTs` };
    at += 1;
    const id = readSdName(text, at, " ]");
    if (id === undefined) return { ok: false, detail: "bad SD-ID" };
    if (Object.hasOwn(value, id)) return { ok: false, detail: "SD-ID repeated in one message" };
    at += id.length;
    const params: Record<string, string> = Object.create(null);
    let count = 0;
    while (text[at] === " ") {
      if (++count > SYSLOG_BOUNDS.sdParams) return { ok: false, detail: `more than ${SYSLOG_BOUNDS.sdParams} SD-PARAMs in one element` };
      at += 1;
      const name = readSdName(text, at, "=");
      if (name === undefined) return { ok: false, detail: "bad PARAM-NAME" };
      at += name.length;
      if (text[at] !== "=" || text[at + 1] !== '"') return { ok: false, detail: 'PARAM-NAME must be followed by ="' };
      at += 2;
      let raw = "";
      let from = at;
      for (;;) {
        const c = text[at];
        if (c === undefined) return { ok: false, detail: "PARAM-VALUE not closed" };
        if (c === '"') break;
        if (c === "\\") {
          const next = text[at + 1];
          // §6.3.3: only \" \\ \] are escapes; any other backslash is an ordinary character.
          if (next === '"' || next === "\\" || next === "]") {
            raw += text.slice(from, at) + next;
            at += 2;
            from = at;
            continue;
          }
        }
        at += 1;
      }
      raw += text.slice(from, at);
      at += 1; // the closing quote
      if (!Object.hasOwn(params, name)) params[name] = cleanValue(raw, SYSLOG_BOUNDS.sdValue);
    }
    if (text[at] !== "]") return { ok: false, detail: "SD-ELEMENT not closed with ]" };
    at += 1;
    value[id] = params;
  }
  return { ok: true, value, end: at };
}

/** An SD-NAME (1-32 printable ASCII, none of = SP ] ") ending at one of `stops`, or undefined. */
function readSdName(text: string, start: number, stops: string): string | undefined {
  let end = start;
  while (end < text.length && end - start <= SYSLOG_BOUNDS.sdName && !stops.includes(text[end]!)) end += 1;
  const name = text.slice(start, end);
  if (name.length === 0 || name.length > SYSLOG_BOUNDS.sdName || !SD_NAME.test(name)) return undefined;
  if (name.includes("=") || name.includes("]") || name.includes('"')) return undefined;
  return name;
}

// ---------------------------------------------------------------- RFC 3164

function parse3164(head: Head, rest: string, now: number, localOffsetMinutes: number): SyslogRecord {
  const record: SyslogRecord = { ...head, format: "rfc3164", message: "" };
  let msg = rest;
  const stamp = readBsdTime(rest, now, localOffsetMinutes) ?? readIsoTime(rest, localOffsetMinutes);
  if (stamp !== undefined) {
    if (stamp.time !== undefined) record.timestamp = stamp.time;
    msg = rest.slice(stamp.length);
    // A HOSTNAME only follows a TIMESTAMP (§4.1.2), and only a word followed by more text
    // is one: "Oct 11 22:14:15 sshd[12]: x" has a TAG where the host name would be.
    const space = msg.indexOf(" ");
    if (space > 0) {
      const word = msg.slice(0, space);
      if (word.length <= SYSLOG_BOUNDS.hostname && HOSTNAME.test(word)) {
        record.hostname = word;
        msg = msg.slice(space + 1);
      }
    }
  }
  const tag = TAG.exec(msg);
  if (tag !== null) {
    record.appName = tag[1]!;
    if (tag[2] !== undefined) {
      const procId = cleanField(tag[2], SYSLOG_BOUNDS.procId);
      if (procId !== "") record.procId = procId;
    }
    msg = msg.slice(tag[0].length);
  }
  record.message = cleanText(msg, SYSLOG_BOUNDS.message);
  return record;
}

type Stamp = { time: number | undefined; length: number };

/**
 * A BSD timestamp at the start of `text`. It has no year (unless the device adds one) and
 * no zone: the year is the latest that does not put it in the future (two days' grace for
 * a clock that runs ahead), so "Dec 31 23:59:59" received on 1 January is last year and
 * "Feb 5" received in November is this year; the zone is `localOffsetMinutes`.
 */
function readBsdTime(text: string, now: number, localOffsetMinutes: number): Stamp | undefined {
  const m = BSD_TIME.exec(text);
  if (m === null) return undefined;
  const [whole, mon, d, yearBefore, h, mi, s, frac, yearAfter] = m;
  const month = MONTHS[mon!]!;
  const at = (year: number) => utcMillis(year, month, Number(d), Number(h), Number(mi), Number(s), frac, localOffsetMinutes);
  const explicitYear = yearBefore ?? yearAfter;
  if (explicitYear !== undefined) return { time: at(Number(explicitYear)), length: whole.length };
  const year = Number.isFinite(now) ? new Date(now).getUTCFullYear() : 1970;
  let time: number | undefined;
  // Newest first. Feb 29 outside these three years has no time (rather than a guess).
  for (const y of [year + 1, year, year - 1]) {
    const t = at(y);
    if (t !== undefined && t <= now + FUTURE_GRACE_MS) {
      time = t;
      break;
    }
  }
  return { time, length: whole.length };
}

/** How far ahead of our clock a device's clock may run before its timestamp means "last year". */
const FUTURE_GRACE_MS = 2 * 24 * 60 * 60 * 1000;

function readIsoTime(text: string, localOffsetMinutes: number): Stamp | undefined {
  const m = ISO_TIME.exec(text);
  if (m === null) return undefined;
  const [whole, y, mo, d, h, mi, s, frac, zone] = m;
  let offset = localOffsetMinutes;
  if (zone !== undefined && zone !== "Z") {
    const digits = zone.replace(":", "");
    const oh = Number(digits.slice(1, 3));
    const om = Number(digits.slice(3, 5));
    offset = oh > 23 || om > 59 ? Number.NaN : (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
  } else if (zone === "Z") {
    offset = 0;
  }
  const time = Number.isNaN(offset)
    ? undefined
    : utcMillis(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), frac?.slice(0, 6), offset);
  return { time, length: whole.length };
}
