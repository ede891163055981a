/**
 * The DNS wire codec (RFC 1035, RFC 6891 EDNS(0), RFC 2308 negative answers). Pure, and
 * defensive: every read is bounds-checked, compression pointers must point strictly
 * backwards (so a pointer loop is impossible, not merely detected), names are limited to
 * 255 bytes and labels to 63, section counts are checked against the bytes actually there.
 * A malformed message is a value (`drop` or an error rcode), never an exception.
 *
 * Queries are parsed without copying: a `Query` points into the datagram it came from.
 */

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_MX = 15;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const TYPE_SVCB = 64;
export const TYPE_HTTPS = 65;
export const TYPE_IXFR = 251;
export const TYPE_AXFR = 252;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;
/** Extended rcode 16 (needs an OPT record to carry its upper bits). */
export const RCODE_BADVERS = 16;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_AD = 0x0020;
const FLAG_CD = 0x0010;
const DO_BIT = 0x8000;

export const HEADER = 12;
/** The UDP payload size we advertise and accept from upstreams (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;
/** What a client without EDNS can take over UDP. */
export const CLASSIC_UDP_SIZE = 512;
export const MAX_MESSAGE = 65535;

/** A parsed query. Offsets point into `buf`, which is not copied. */
export type Query = {
  buf: Uint8Array;
  id: number;
  /** The header's flag word as received. */
  flags: number;
  rd: boolean;
  cd: boolean;
  ad: boolean;
  /** The question name starts at HEADER and ends (after its root byte) here. */
  qnameEnd: number;
  labelCount: number;
  qtype: number;
  qclass: number;
  /** End of the question section. */
  questionEnd: number;
  /** EDNS(0): the client's UDP payload size and DO bit; undefined without an OPT record. */
  edns: { udpSize: number; do: boolean } | undefined;
};

export type QueryParse =
  | { kind: "query"; query: Query }
  /** The header is readable but the rest is not usable: answer with this rcode. */
  | { kind: "error"; id: number; flags: number; rcode: number; edns: boolean }
  /** Not worth an answer (too short to have a header, or a response). */
  | { kind: "drop"; reason: "short" | "response" };

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function u32(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 255;
  b[o + 1] = v & 255;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 255;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/**
 * Walks a possibly compressed name. Keeps, for the last call, where the name ends in place
 * (`end`) and its labels' offsets leftmost first (`labels[0..count)`). Reused across calls:
 * one per owner, nothing allocated per name.
 */
export class NameReader {
  readonly labels = new Int32Array(128);
  count = 0;
  /** Offset just after the name where it was read (after the pointer, if any). */
  end = 0;
  /** Wire length of the expanded name (labels + root). */
  length = 0;

  /**
   * Reads the name at `off`. False when malformed: out of bounds, a label type other than
   * plain or pointer, a pointer that does not point strictly backwards (or into the
   * header), or an expanded name over 255 bytes.
   */
  read(buf: Uint8Array, off: number, limit = buf.length): boolean {
    let o = off;
    let count = 0;
    let length = 1;
    let end = -1;
    for (;;) {
      if (o >= limit) return false;
      const len = buf[o] ?? 0;
      if (len === 0) {
        if (end < 0) end = o + 1;
        break;
      }
      const top = len & 0xc0;
      if (top === 0xc0) {
        if (o + 1 >= limit) return false;
        const target = ((len & 0x3f) << 8) | (buf[o + 1] ?? 0);
        if (target >= o || target < HEADER) return false;
        if (end < 0) end = o + 2;
        o = target;
        continue;
      }
      if (top !== 0) return false;
      length += len + 1;
      if (length > 255) return false;
      if (o + len >= limit) return false;
      this.labels[count++] = o;
      o += len + 1;
    }
    this.count = count;
    this.end = end;
    this.length = length;
    return true;
  }
}

/** Skips the name at `off` (bounds and pointer rules as NameReader); the end offset, or -1. */
export function skipName(buf: Uint8Array, off: number, limit = buf.length): number {
  let o = off;
  let length = 1;
  for (;;) {
    if (o >= limit) return -1;
    const len = buf[o] ?? 0;
    if (len === 0) return o + 1;
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (o + 1 >= limit) return -1;
      const target = ((len & 0x3f) << 8) | (buf[o + 1] ?? 0);
      // Where the name ends in place is just after the pointer; the target only needs to
      // be a valid earlier offset (its contents are checked by whoever expands the name).
      return target < o && target >= HEADER ? o + 2 : -1;
    }
    if (top !== 0) return -1;
    length += len + 1;
    if (length > 255 || o + len >= limit) return -1;
    o += len + 1;
  }
}

/**
 * Parses a datagram or TCP message that should be a query. Only standard queries (opcode 0)
 * with one question are answered; other opcodes get NOTIMP, anything malformed with a
 * readable header FORMERR, an EDNS version other than 0 BADVERS.
 */
export function parseQuery(buf: Uint8Array): QueryParse {
  if (buf.length < HEADER) return { kind: "drop", reason: "short" };
  const id = u16(buf, 0);
  const flags = u16(buf, 2);
  if (flags & FLAG_QR) return { kind: "drop", reason: "response" };
  const err = (rcode: number, edns = false): QueryParse => ({ kind: "error", id, flags, rcode, edns });
  if (((flags >>> 11) & 0xf) !== 0) return err(RCODE_NOTIMP);
  const qd = u16(buf, 4);
  const an = u16(buf, 6);
  const ns = u16(buf, 8);
  const ar = u16(buf, 10);
  if (qd !== 1) return err(RCODE_FORMERR);
  // The question name: queries never compress it (there is nothing before it to point at).
  let o = HEADER;
  let labels = 0;
  for (;;) {
    if (o >= buf.length) return err(RCODE_FORMERR);
    const len = buf[o] ?? 0;
    if (len === 0) break;
    if (len & 0xc0) return err(RCODE_FORMERR);
    o += len + 1;
    labels++;
    if (o - HEADER + 1 > 255) return err(RCODE_FORMERR);
  }
  const qnameEnd = o + 1;
  if (qnameEnd + 4 > buf.length) return err(RCODE_FORMERR);
  const qtype = u16(buf, qnameEnd);
  const qclass = u16(buf, qnameEnd + 2);
  const questionEnd = qnameEnd + 4;
  o = questionEnd;
  // Answer and authority records in a query are unusual but legal; skip them, bounds-checked.
  for (let k = 0; k < an + ns; k++) {
    o = skipRecord(buf, o);
    if (o < 0) return err(RCODE_FORMERR);
  }
  let edns: Query["edns"];
  let badVersion = false;
  for (let k = 0; k < ar; k++) {
    const nameEnd = skipName(buf, o);
    if (nameEnd < 0 || nameEnd + 10 > buf.length) return err(RCODE_FORMERR, edns !== undefined);
    const type = u16(buf, nameEnd);
    const rdlen = u16(buf, nameEnd + 8);
    const next = nameEnd + 10 + rdlen;
    if (next > buf.length) return err(RCODE_FORMERR, edns !== undefined);
    if (type === TYPE_OPT) {
      // One OPT, owned by the root name, options well formed (RFC 6891 6.1.1).
      if (edns !== undefined || nameEnd !== o + 1) return err(RCODE_FORMERR, true);
      if (!optionsWellFormed(buf, nameEnd + 10, next)) return err(RCODE_FORMERR, true);
      const ttl = u32(buf, nameEnd + 4);
      edns = { udpSize: Math.max(CLASSIC_UDP_SIZE, u16(buf, nameEnd + 2)), do: (ttl & DO_BIT) !== 0 };
      if (((ttl >>> 16) & 0xff) !== 0) badVersion = true;
    }
    o = next;
  }
  if (badVersion) return err(RCODE_BADVERS, true);
  if (qtype === TYPE_AXFR || qtype === TYPE_IXFR || qtype === 0) return err(qtype === 0 ? RCODE_FORMERR : RCODE_REFUSED, edns !== undefined);
  if (qtype === 253 || qtype === 254) return err(RCODE_NOTIMP, edns !== undefined);
  return {
    kind: "query",
    query: {
      buf, id, flags, rd: (flags & FLAG_RD) !== 0, cd: (flags & FLAG_CD) !== 0, ad: (flags & FLAG_AD) !== 0,
      qnameEnd, labelCount: labels, qtype, qclass, questionEnd, edns,
    },
  };
}

function optionsWellFormed(buf: Uint8Array, start: number, end: number): boolean {
  let o = start;
  while (o < end) {
    if (o + 4 > end) return false;
    o += 4 + u16(buf, o + 2);
  }
  return o === end;
}

/** Skips one resource record at `o`; its end, or -1 when it overruns the message. */
export function skipRecord(buf: Uint8Array, o: number): number {
  const nameEnd = skipName(buf, o);
  if (nameEnd < 0 || nameEnd + 10 > buf.length) return -1;
  const next = nameEnd + 10 + u16(buf, nameEnd + 8);
  return next > buf.length ? -1 : next;
}

/** The header flags of our answer to `q` with `rcode` (the low 4 bits). */
function answerFlags(q: { flags: number }, rcode: number): number {
  return FLAG_QR | (q.flags & (FLAG_RD | FLAG_CD | 0x7800)) | FLAG_RA | (rcode & 0xf);
}

function writeOpt(out: Uint8Array, o: number, rcode: number, dnssecOk: boolean): number {
  out[o] = 0;
  put16(out, o + 1, TYPE_OPT);
  put16(out, o + 3, EDNS_UDP_SIZE);
  put32(out, o + 5, (((rcode >>> 4) & 0xff) << 24) | (dnssecOk ? DO_BIT : 0));
  put16(out, o + 9, 0);
  return o + 11;
}

/**
 * An error answer: the header (with the question when it was readable, `q` given) and an
 * OPT record when the query had one. Used for FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS.
 */
export function buildErrorResponse(
  header: { id: number; flags: number },
  rcode: number,
  q?: Query,
  ednsDo?: boolean | undefined,
): Uint8Array {
  const qlen = q ? q.questionEnd - HEADER : 0;
  const withOpt = ednsDo !== undefined || rcode > 15;
  const out = new Uint8Array(HEADER + qlen + (withOpt ? 11 : 0));
  put16(out, 0, header.id);
  put16(out, 2, answerFlags(header, rcode));
  put16(out, 4, q ? 1 : 0);
  put16(out, 10, withOpt ? 1 : 0);
  if (q) out.set(q.buf.subarray(HEADER, q.questionEnd), HEADER);
  if (withOpt) writeOpt(out, HEADER + qlen, rcode, ednsDo === true);
  return out;
}

/** The name our synthesised SOA records use as primary server and zone contact. */
const SOA_MNAME = encodeLiteral(["sekisho", "home", "arpa"]);
const SOA_RNAME = encodeLiteral(["hostmaster", "sekisho", "home", "arpa"]);

function encodeLiteral(labels: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const l of labels) {
    bytes.push(l.length);
    for (let i = 0; i < l.length; i++) bytes.push(l.charCodeAt(i));
  }
  bytes.push(0);
  return Uint8Array.from(bytes);
}

export type SynthAnswer =
  /** A records / AAAA records with these addresses (4 or 16 bytes each). */
  | { kind: "address"; type: typeof TYPE_A | typeof TYPE_AAAA; addresses: readonly Uint8Array[] }
  /** NOERROR with no answer (and a SOA for negative caching). */
  | { kind: "nodata" }
  /** NXDOMAIN (with a SOA for negative caching). */
  | { kind: "nxdomain" };

/**
 * Builds an answer the filter makes itself (a block, a built-in name). Negative answers
 * carry a SOA owned by the query name with `ttl` as its TTL and minimum, so stub resolvers
 * cache the "no" for as long as the filter wants (RFC 2308).
 */
export function buildSynthResponse(q: Query, answer: SynthAnswer, ttl: number): Uint8Array {
  const qlen = q.questionEnd - HEADER;
  const withOpt = q.edns !== undefined;
  const soaRdata = SOA_MNAME.length + SOA_RNAME.length + 20;
  const addrs = answer.kind === "address" ? answer.addresses : [];
  let size = HEADER + qlen + (withOpt ? 11 : 0);
  for (const a of addrs) size += 12 + a.length;
  if (answer.kind !== "address" || addrs.length === 0) size += 12 + soaRdata;
  const out = new Uint8Array(size);
  const rcode = answer.kind === "nxdomain" ? RCODE_NXDOMAIN : RCODE_NOERROR;
  put16(out, 0, q.id);
  put16(out, 2, answerFlags(q, rcode));
  put16(out, 4, 1);
  put16(out, 6, addrs.length);
  put16(out, 8, addrs.length === 0 ? 1 : 0);
  put16(out, 10, withOpt ? 1 : 0);
  out.set(q.buf.subarray(HEADER, q.questionEnd), HEADER);
  let o = HEADER + qlen;
  for (const a of addrs) {
    put16(out, o, 0xc000 | HEADER);
    put16(out, o + 2, answer.kind === "address" ? answer.type : TYPE_A);
    put16(out, o + 4, CLASS_IN);
    put32(out, o + 6, ttl);
    put16(out, o + 10, a.length);
    out.set(a, o + 12);
    o += 12 + a.length;
  }
  if (addrs.length === 0) {
    put16(out, o, 0xc000 | HEADER);
    put16(out, o + 2, TYPE_SOA);
    put16(out, o + 4, CLASS_IN);
    put32(out, o + 6, ttl);
    put16(out, o + 10, soaRdata);
    o += 12;
    out.set(SOA_MNAME, o);
    o += SOA_MNAME.length;
    out.set(SOA_RNAME, o);
    o += SOA_RNAME.length;
    put32(out, o, 1); // serial
    put32(out, o + 4, 3600); // refresh
    put32(out, o + 8, 600); // retry
    put32(out, o + 12, 86400); // expire
    put32(out, o + 16, ttl); // minimum: the negative TTL
    o += 20;
  }
  if (withOpt) o = writeOpt(out, o, rcode, q.edns?.do === true);
  return out;
}

/**
 * The query the filter sends upstream for `q`: a fresh id, the client's RD/CD/AD bits and
 * question, and always our own OPT record (our payload size, the client's DO bit, no
 * options: client cookies and subnet options stay on the LAN).
 */
export function buildUpstreamQuery(q: Query, id: number): Uint8Array {
  const qlen = q.questionEnd - HEADER;
  const out = new Uint8Array(HEADER + qlen + 11);
  put16(out, 0, id);
  put16(out, 2, q.flags & (FLAG_RD | FLAG_CD | FLAG_AD));
  put16(out, 4, 1);
  put16(out, 10, 1);
  out.set(q.buf.subarray(HEADER, q.questionEnd), HEADER);
  writeOpt(out, HEADER + qlen, 0, q.edns?.do === true);
  return out;
}

/** What the filter needs to know of an upstream's answer to cache it and check it. */
export type UpstreamAnswer = {
  id: number;
  flags: number;
  /** Full rcode, including the upper bits from the OPT record. */
  rcode: number;
  truncated: boolean;
  /** The message with the OPT record removed (arcount fixed); answers to clients are built from it. */
  message: Uint8Array;
  /** Offsets of every TTL field in `message` (OPT excluded), and their values. */
  ttlOffsets: Int32Array;
  ttls: Uint32Array;
  /** How long this may be cached (s): min answer TTL, or the SOA negative TTL; undefined: do not cache. */
  cacheTtl: number | undefined;
  /** Offsets in `message` of the target names of CNAME records in the answer (for the cloaking check). */
  cnameTargets: Int32Array;
};

export type UpstreamParse = { ok: true; answer: UpstreamAnswer } | { ok: false; problem: string };

/**
 * Parses an upstream's response to `sent` (the query we sent). Checks that it is a response,
 * to that id, for the same question (name case-insensitively, type, class): anything else is
 * refused as a problem, which the resolver treats like no answer (it might be spoofed).
 */
export function parseUpstreamResponse(buf: Uint8Array, sent: Uint8Array): UpstreamParse {
  if (buf.length < HEADER) return { ok: false, problem: "short" };
  const id = u16(buf, 0);
  const flags = u16(buf, 2);
  if (!(flags & FLAG_QR)) return { ok: false, problem: "not a response" };
  if (id !== u16(sent, 0)) return { ok: false, problem: "wrong id" };
  if (u16(buf, 4) !== 1) return { ok: false, problem: "question count is not 1" };
  const sentQEnd = skipName(sent, HEADER) + 4;
  const qEnd = skipName(buf, HEADER);
  if (qEnd < 0 || qEnd + 4 > buf.length || qEnd + 4 !== sentQEnd) return { ok: false, problem: "question differs" };
  for (let i = HEADER; i < sentQEnd; i++) {
    let a = buf[i] ?? 0;
    let b = sent[i] ?? 0;
    if (a >= 65 && a <= 90) a |= 32;
    if (b >= 65 && b <= 90) b |= 32;
    if (a !== b) return { ok: false, problem: "question differs" };
  }
  const an = u16(buf, 6);
  const ns = u16(buf, 8);
  const ar = u16(buf, 10);
  const ttlOffsets: number[] = [];
  const cnames: number[] = [];
  let o = sentQEnd;
  let minAnswerTtl = Infinity;
  let negTtl: number | undefined;
  let optStart = -1;
  let optEnd = -1;
  let optTtl = 0;
  let arKept = 0;
  const total = an + ns + ar;
  for (let k = 0; k < total; k++) {
    const nameEnd = skipName(buf, o);
    if (nameEnd < 0 || nameEnd + 10 > buf.length) return { ok: false, problem: "record overruns the message" };
    const type = u16(buf, nameEnd);
    const ttl = u32(buf, nameEnd + 4);
    const rdlen = u16(buf, nameEnd + 8);
    const rdata = nameEnd + 10;
    const next = rdata + rdlen;
    if (next > buf.length) return { ok: false, problem: "record overruns the message" };
    if (type === TYPE_OPT && k >= an + ns) {
      if (optStart >= 0) return { ok: false, problem: "two OPT records" };
      optStart = o;
      optEnd = next;
      optTtl = ttl;
    } else {
      if (k >= an + ns && optStart < 0) arKept++;
      ttlOffsets.push(nameEnd + 4);
      if (k < an) {
        minAnswerTtl = Math.min(minAnswerTtl, ttl);
        if (type === TYPE_CNAME) {
          if (skipName(buf, rdata, next) !== next) return { ok: false, problem: "bad CNAME target" };
          cnames.push(rdata);
        }
      } else if (k < an + ns && type === TYPE_SOA) {
        // RFC 2308 5: the negative TTL is the smaller of the SOA's TTL and its MINIMUM.
        if (rdlen < 22) return { ok: false, problem: "short SOA" };
        negTtl = Math.min(ttl, u32(buf, next - 4));
      }
    }
    o = next;
  }
  // Drop the OPT (and, if anything followed it, the rest of the additional section, which is
  // optional data: nothing after it may be pointed into from before).
  let message: Uint8Array;
  if (optStart >= 0) {
    message = buf.slice(0, optStart);
    put16(message, 10, arKept);
    for (let i = ttlOffsets.length - 1; i >= 0 && (ttlOffsets[i] ?? 0) >= optStart; i--) ttlOffsets.pop();
  } else {
    message = buf.slice(0, o);
  }
  const rcode = (((optTtl >>> 24) & 0xff) << 4) | (flags & 0xf);
  const truncated = (flags & FLAG_TC) !== 0;
  let cacheTtl: number | undefined;
  if (!truncated) {
    if ((rcode === RCODE_NOERROR && an > 0)) cacheTtl = minAnswerTtl;
    else if (rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && an === 0)) cacheTtl = negTtl;
  }
  const ttls = new Uint32Array(ttlOffsets.length);
  ttlOffsets.forEach((off, i) => { ttls[i] = u32(message, off); });
  return {
    ok: true,
    answer: {
      id, flags, rcode, truncated, message, ttlOffsets: Int32Array.from(ttlOffsets), ttls, cacheTtl,
      cnameTargets: Int32Array.from(cnames),
    },
  };
}

/**
 * The answer to a client built from an upstream answer (fresh or cached): the client's id,
 * its question bytes (its letter case), RD/CD from its query, AD only if it asked for
 * DNSSEC data, TTLs aged by `ageSeconds`, and an OPT record if it sent one. When the result
 * would not fit `maxSize` (a UDP client's limit), a truncated answer (TC, no records) so the
 * client retries over TCP.
 */
export function buildClientResponse(q: Query, a: UpstreamAnswer, ageSeconds: number, maxSize: number): Uint8Array {
  const withOpt = q.edns !== undefined;
  const size = a.message.length + (withOpt ? 11 : 0);
  const rcode = a.rcode;
  const wantsAd = q.ad || q.edns?.do === true;
  const keepFlags = (a.flags & (FLAG_AA | FLAG_RA | (wantsAd ? FLAG_AD : 0)));
  if (size > maxSize) {
    const out = new Uint8Array(HEADER + (q.questionEnd - HEADER) + (withOpt ? 11 : 0));
    put16(out, 0, q.id);
    put16(out, 2, FLAG_QR | FLAG_TC | keepFlags | (q.flags & (FLAG_RD | FLAG_CD)) | (rcode & 0xf));
    put16(out, 4, 1);
    put16(out, 10, withOpt ? 1 : 0);
    out.set(q.buf.subarray(HEADER, q.questionEnd), HEADER);
    if (withOpt) writeOpt(out, q.questionEnd, rcode, q.edns?.do === true);
    return out;
  }
  const out = new Uint8Array(size);
  out.set(a.message, 0);
  put16(out, 0, q.id);
  put16(out, 2, FLAG_QR | keepFlags | (q.flags & (FLAG_RD | FLAG_CD)) | (rcode & 0xf));
  out.set(q.buf.subarray(HEADER, q.questionEnd), HEADER);
  if (ageSeconds > 0) {
    for (let i = 0; i < a.ttlOffsets.length; i++) {
      const t = (a.ttls[i] ?? 0) - ageSeconds;
      put32(out, a.ttlOffsets[i] ?? 0, t > 0 ? t : 0);
    }
  }
  if (withOpt) {
    put16(out, 10, u16(out, 10) + 1);
    writeOpt(out, a.message.length, rcode, q.edns?.do === true);
  }
  return out;
}

/** The largest answer a client may get over UDP. */
export function udpLimit(q: Query): number {
  return q.edns ? Math.min(q.edns.udpSize, 4096) : CLASSIC_UDP_SIZE;
}

/** The name at `off` (compressed or not) as uncompressed wire bytes, or undefined when malformed. */
export function expandName(buf: Uint8Array, off: number, reader: NameReader): Uint8Array | undefined {
  if (!reader.read(buf, off)) return undefined;
  const out = new Uint8Array(reader.length);
  let w = 0;
  for (let k = 0; k < reader.count; k++) {
    const o = reader.labels[k] ?? 0;
    const len = buf[o] ?? 0;
    out.set(buf.subarray(o, o + len + 1), w);
    w += len + 1;
  }
  out[w] = 0;
  return out;
}
