// Fuzzing the receiver's parse path: truncated, binary, huge and wrongly encoded datagrams,
// and mutations of real ones. Nothing may throw; every datagram is a record that keeps the
// bounds, or a rejection with a known reason; the receiver's books always balance.
//
// FUZZ_RUNS sets the number of cases per property (default 2,000; the fuzz project runs
// 100,000). FUZZ_SEED replays a failure fast-check reported.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDatagram, parseSourcePrefixes } from "../../../firmware/logs/datagram.ts";
import { MAX_DATAGRAM_BYTES, type ParseResult, type RejectReason } from "../../../firmware/logs/parse-result.ts";
import { LogReceiver } from "../../../firmware/logs/receiver.ts";
import { SYSLOG_BOUNDS } from "../../../firmware/logs/syslog.ts";
import type { LogRecord } from "../../../firmware/logs/types.ts";
import { createMemorySocket } from "./memory-socket.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED) };
// Roughly 0.3 ms per case on this VM; generous so a slow CI run is not a failure.
const TIMEOUT = Math.max(30_000, RUNS * 3);
const params = { numRuns: RUNS, ...SEED };

const enc = new TextEncoder();
const fixtures = ["ulogd-host.jsonl", "ulogd-bridge.jsonl"].flatMap((f) =>
  readFileSync(join(import.meta.dirname, "fixtures", f), "utf8").split("\n").filter((l) => l !== ""),
);
const SEEDS = [
  ...fixtures,
  "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8",
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \ufeffAn application event',
  String.raw`<13>1 - - - - - [x@32473 a="say \"hi\"" b="C:\\dir" c="[1\]"] m`,
  "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
  "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.",
  "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
  "<86>2026-11-23T23:39:58.123456+09:00 nas01 smbd[1]: login ok",
  "<189>Oct 11 22:14:15.123: %SYS-5-CONFIG_I: Configured from console",
].map((s) => enc.encode(s));

const OPTIONS = { syslogSources: parseSourcePrefixes(["127.0.0.0/8", "::1", "192.0.2.0/24"]) };
const OPTIONS_LENIENT = { ...OPTIONS, syslog: { acceptMissingPri: true, localOffsetMinutes: 540 } };
const REASONS = new Set<RejectReason>([
  "empty", "too-large", "unknown-format", "source-not-allowed", "not-json", "not-ip-packet",
  "no-pri", "bad-pri", "bad-header", "bad-structured-data",
]);
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function safe(s: string | undefined, max: number, what: string): void {
  if (s === undefined) return;
  if (typeof s !== "string" || s.length > max || UNSAFE.test(s) || LONE.test(s)) {
    throw new Error(`${what} breaks its bounds: ${JSON.stringify(s).slice(0, 200)}`);
  }
}

const isInt = (n: unknown, min: number, max: number) => typeof n === "number" && Number.isInteger(n) && n >= min && n <= max;

/** Every property a parsed record must have, whatever came in. */
function checkResult(r: ParseResult<LogRecord>, now: number): void {
  if (!r.ok) {
    if (!REASONS.has(r.reason) || typeof r.detail !== "string") throw new Error(`bad rejection ${JSON.stringify(r)}`);
    return;
  }
  const rec = r.record;
  if (!Number.isFinite(rec.time)) throw new Error("time not finite");
  if (rec.kind === "packet") {
    safe(rec.prefix, 127, "prefix");
    safe(rec.inIf, 15, "inIf");
    safe(rec.outIf, 15, "outIf");
    if (!(rec.ipVersion === 4 || rec.ipVersion === 6)) throw new Error("ipVersion");
    if (!/^[0-9a-fA-F:.]{2,45}$/.test(rec.src) || !/^[0-9a-fA-F:.]{2,45}$/.test(rec.dst)) throw new Error("address");
    for (const p of [rec.sport, rec.dport]) if (p !== undefined && !isInt(p, 0, 65535)) throw new Error("port");
    if (rec.srcMac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(rec.srcMac)) throw new Error("mac");
    if (rec.group !== undefined && !isInt(rec.group, 0, 65535)) throw new Error("group");
  } else {
    if (!isInt(rec.facility, 0, 23) || !isInt(rec.severity, 0, 7)) throw new Error("pri");
    if (rec.time !== now) throw new Error("syslog time is the receive time");
    safe(rec.message, SYSLOG_BOUNDS.message, "message");
    safe(rec.hostname, SYSLOG_BOUNDS.hostname, "hostname");
    safe(rec.appName, SYSLOG_BOUNDS.appName, "appName");
    safe(rec.procId, SYSLOG_BOUNDS.procId, "procId");
    safe(rec.msgId, SYSLOG_BOUNDS.msgId, "msgId");
    if (rec.timestamp !== undefined && !Number.isFinite(rec.timestamp)) throw new Error("timestamp");
    const sd = rec.structuredData ?? {};
    const ids = Object.keys(sd);
    if (ids.length > SYSLOG_BOUNDS.sdElements) throw new Error("too many SD elements");
    for (const id of ids) {
      safe(id, SYSLOG_BOUNDS.sdName, "SD-ID");
      const params = Object.entries(sd[id]!);
      if (params.length > SYSLOG_BOUNDS.sdParams) throw new Error("too many params");
      for (const [k, v] of params) {
        safe(k, SYSLOG_BOUNDS.sdName, "PARAM-NAME");
        safe(v, SYSLOG_BOUNDS.sdValue, "PARAM-VALUE");
      }
    }
  }
}

// ---------------------------------------------------------------- generators

const seed = fc.constantFrom(...SEEDS);
const byte = fc.integer({ min: 0, max: 255 });

/** Edits of a real datagram: cut, overwrite, insert, splice two, repeat to huge. */
const mutated = fc.oneof(
  fc.tuple(seed, fc.nat()).map(([s, n]) => s.subarray(0, n % (s.length + 1))),
  fc.tuple(seed, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 8 })).map(([s, edits]) => {
    const out = s.slice();
    for (const [at, b] of edits) out[at % out.length] = b;
    return out;
  }),
  fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(([s, at, ins]) => {
    const i = at % (s.length + 1);
    return new Uint8Array([...s.subarray(0, i), ...ins, ...s.subarray(i)]);
  }),
  fc.tuple(seed, seed, fc.nat(), fc.nat()).map(([a, b, i, j]) => new Uint8Array([...a.subarray(0, i % (a.length + 1)), ...b.subarray(j % (b.length + 1))])),
  fc.tuple(seed, fc.integer({ min: 2, max: 80 })).map(([s, n]) => {
    const out = new Uint8Array(s.length * n);
    for (let k = 0; k < n; k++) out.set(s, k * s.length);
    return out;
  }),
);

/** The same text in encodings the parser does not expect. */
const wrongEncoding = fc.tuple(seed, fc.constantFrom("utf16le", "utf16be", "latin1", "truncated-utf8")).map(([s, how]) => {
  const text = new TextDecoder().decode(s);
  if (how === "latin1") return Uint8Array.from([...text].map((c) => c.codePointAt(0)! & 0xff));
  if (how === "truncated-utf8") {
    const b = enc.encode(`${text}ログ`);
    return b.subarray(0, b.length - 1);
  }
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 * i + (how === "utf16le" ? 0 : 1)] = c & 0xff;
    out[2 * i + (how === "utf16le" ? 1 : 0)] = c >> 8;
  }
  return out;
});

/** Strings made to break text handling: controls, bidi overrides, lone surrogates, length. */
const nastyChar = fc.oneof(
  fc.integer({ min: 0x00, max: 0x1f }),
  fc.constantFrom(0x7f, 0x85, 0x9b, 0x061c, 0x200e, 0x202e, 0x2066, 0xfeff, 0xd800, 0xdc00, 0xfffd),
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x3040, max: 0x30ff }),
).map((c) => String.fromCharCode(c));
const nastyString = fc.oneof(fc.string({ unit: nastyChar, maxLength: 40 }), fc.string({ unit: nastyChar, minLength: 100, maxLength: 3000 }));
/** Syslog-shaped text built from the pieces its grammar is made of. */
const piece = fc.constantFrom(
  "<", ">", "<13>", "<191>", "<192>", "1 ", "2 ", " ", "  ", "-", "- ", "[", "]", '"', "\\", "\\\"", "\\]", "=", "@32473",
  "2003-10-11T22:14:15.003Z ", "2026-02-30T00:00:00+09:00 ", "Oct 11 22:14:15 ", "Feb  5 ", "Dec 31 23:59:60 ", "2026 ",
  "host ", "app[12]: ", "su: ", "\ufeff", "\u202e", "\u0000", "\n", "\r\n", "ログ", "😀", "\ud800", "x".repeat(300), "[a b=\"c\"]",
);
const syslogish = fc.array(fc.oneof({ weight: 4, arbitrary: piece }, { weight: 1, arbitrary: nastyString }), { maxLength: 40 }).map((ps) => enc.encode(ps.join("")));

/** JSON objects with ulogd's keys and values of every type. */
const ulogdKeys = fc.constantFrom(
  "oob.family", "oob.protocol", "src_ip", "dest_ip", "ip.protocol", "ip6.nexthdr", "src_port", "dest_port", "oob.prefix",
  "oob.time.sec", "oob.time.usec", "oob.mark", "oob.in", "oob.out", "mac.saddr.str", "ip.totlen", "ip6.payloadlen",
  "raw.pktlen", "tcp.syn", "tcp.ack", "icmp.type", "icmpv6.type", "dvc", "__proto__", "constructor",
);
const jsonValue = fc.oneof(
  nastyString,
  fc.constantFrom(2, 10, 7, 2048, 34525, 6, 17, 1, 58, 0, -1, 65536, 2 ** 53, 1.5, "192.0.2.1", "2001:db8::1", "::", "", "sk:x:", "sekisho-nflog-1", null, true),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: "binary", maxLength: 200 }),
);
const ulogdish = fc.dictionary(ulogdKeys, jsonValue, { maxKeys: 25 }).map((o) => enc.encode(JSON.stringify(o)));
/** A real record with a few of its fields replaced: accepted often, so the bounds get tested. */
const ulogdPatched = fc
  .tuple(
    fc.constantFrom(...fixtures),
    fc.oneof(
      fc.dictionary(ulogdKeys, jsonValue, { minKeys: 1, maxKeys: 4 }),
      fc.dictionary(fc.constantFrom("oob.prefix", "oob.in", "oob.out", "mac.saddr.str", "dvc"), nastyString, { minKeys: 1 }),
    ),
  )
  .map(([line, patch]) => enc.encode(JSON.stringify({ ...(JSON.parse(line) as object), ...patch })));

const huge = fc.tuple(fc.integer({ min: MAX_DATAGRAM_BYTES - 2, max: 65_507 }), fc.constantFrom(0x7b, 0x3c, 0x00, 0xff)).map(([n, b]) => {
  const out = new Uint8Array(n).fill(0x41);
  out[0] = b;
  return out;
});

const datagram = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 600 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0x3c, 0x7b), fc.uint8Array({ maxLength: 600 })).map(([first, b]) => new Uint8Array([first, ...b])) },
  { weight: 4, arbitrary: mutated },
  { weight: 2, arbitrary: wrongEncoding },
  { weight: 3, arbitrary: syslogish },
  { weight: 2, arbitrary: ulogdish },
  { weight: 3, arbitrary: ulogdPatched },
  { weight: 1, arbitrary: huge },
);
const peer = fc.constantFrom("127.0.0.1", "::1", "192.0.2.10", "203.0.113.66", "::ffff:192.0.2.10", "fe80::1%br0", "garbage");
const now = fc.oneof(fc.constant(Date.UTC(2026, 10, 23, 14, 40)), fc.integer({ min: 0, max: 4_102_444_800_000 }));

describe(`fuzz: the receiver's parse path (${RUNS} cases per property)`, () => {
  it(
    "parseDatagram never throws and every result keeps the bounds",
    () => {
      const seen = new Map<string, number>();
      fc.assert(
        fc.property(datagram, peer, now, fc.boolean(), (bytes, p, t, lenient) => {
          const r = parseDatagram(bytes, p, t, lenient ? OPTIONS_LENIENT : OPTIONS);
          checkResult(r, t);
          const key = r.ok ? r.record.kind : r.reason;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }),
        params,
      );
      // The generators reach both kinds of record and the main ways to fail, so the checks
      // above ran on something.
      for (const key of ["packet", "syslog", "too-large", "not-json", "not-ip-packet", "unknown-format", "source-not-allowed", "bad-pri"]) {
        expect(seen.get(key) ?? 0, `${key} in ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
      }
    },
    TIMEOUT,
  );

  it(
    "the receiver's books balance on any stream, and the queue never exceeds its capacity",
    () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(datagram, peer), { maxLength: 30 }), fc.integer({ min: 1, max: 8 }), (stream, capacity) => {
          const socket = createMemorySocket();
          const receiver = new LogReceiver(socket, { capacity, syslogSources: ["127.0.0.0/8", "192.0.2.0/24"] });
          receiver.start();
          let taken = 0;
          stream.forEach(([bytes, address], i) => {
            socket.deliver(bytes, { address, port: 5000 });
            if (i % 7 === 6) taken += receiver.takeBatch(3).length;
            expect(receiver.pending).toBeLessThanOrEqual(capacity);
          });
          const c = receiver.counters();
          expect(c.received).toBe(stream.length);
          expect(c.received).toBe(c.accepted + c.rejected + c.dropped);
          expect(taken + receiver.pending).toBe(c.accepted);
          const byReason = Object.values(receiver.rejections()).reduce((a, b) => a + b, 0);
          expect(byReason).toBe(c.rejected);
        }),
        { ...params, numRuns: Math.max(100, Math.floor(RUNS / 10)) },
      );
    },
    TIMEOUT,
  );

  it(
    "any bytes after a valid PRI (and a version) are still just values",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 1000 }), fc.integer({ min: 0, max: 191 }), (bytes, pri) => {
          checkResult(parseDatagram(new Uint8Array([...enc.encode(`<${pri}>`), ...bytes]), "127.0.0.1", 0, OPTIONS), 0);
          checkResult(parseDatagram(new Uint8Array([...enc.encode(`<${pri}>1 `), ...bytes]), "127.0.0.1", 0, OPTIONS), 0);
        }),
        params,
      );
    },
    TIMEOUT,
  );
});
