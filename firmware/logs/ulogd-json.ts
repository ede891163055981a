/**
 * ulogd2's JSON output (stack NFLOG,BASE,IFINDEX,IP2STR,HWHDR,JSON) → PacketRecord (pure).
 *
 * One datagram is one logged packet: a flat JSON object whose keys are ulogd's key names
 * ("oob.prefix", "src_ip", "tcp.syn", …; real samples in test/firmware/logs/fixtures/).
 * What ulogd 2.0.8 sends, measured: numbers are JSON integers, addresses come from
 * inet_ntop, interface names are "" when absent, the MAC is "00:00:00:00:00:00" on
 * loopback, and "timestamp" is local time without a zone (its zone code is broken), so
 * the time is taken from "oob.time.sec"/"oob.time.usec" instead.
 *
 * Written by hand over `unknown` rather than with zod: this is the hot path of the event
 * pipeline (tens of thousands of datagrams per second), and only about twenty of the
 * fifty keys are read.
 */
import { parseIpv4 } from "../../policies/net.ts";
import { MAX_DATAGRAM_BYTES, reject, type ParseResult } from "./parse-result.ts";
import { cleanField, decodeUtf8 } from "./text.ts";
import type { PacketRecord } from "./types.ts";

/**
 * The `device` ulogd's JSON output writes as "dvc", followed by the NFLOG group number:
 * ulogd puts no group in its keys, so buildUlogdConfig names each group's stack this way.
 */
export const ULOGD_DEVICE_PREFIX = "sekisho-nflog-";

/** nft log prefixes are at most 127 bytes (NF_LOG_PREFIXLEN 128 with its NUL). */
const MAX_PREFIX = 127;
/** IFNAMSIZ 16 with its NUL. */
const MAX_IFNAME = 15;
const MAC = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;
const NO_MAC = "00:00:00:00:00:00";
const AF_INET = 2;
const AF_INET6 = 10;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const PROTO_NAMES: Readonly<Record<number, string>> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp" };
const PORT_PROTOS = new Set([6, 17, 132, 136]); // tcp, udp, sctp, udplite: BASE fills src_port/dest_port
const TCP_FLAGS = [
  ["tcp.syn", "SYN"],
  ["tcp.ack", "ACK"],
  ["tcp.fin", "FIN"],
  ["tcp.rst", "RST"],
  ["tcp.psh", "PSH"],
  ["tcp.urg", "URG"],
] as const;

type Fields = Record<string, unknown>;

/** An integer in [min, max], or undefined (wrong type, fraction, out of range). */
function int(o: Fields, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : undefined;
}

function str(o: Fields, key: string): string | undefined {
  const v = o[key];
  return typeof v === "string" ? v : undefined;
}

function ipVersionOf(o: Fields): 4 | 6 | undefined {
  const family = int(o, "oob.family", 0, 255);
  if (family === AF_INET) return 4;
  if (family === AF_INET6) return 6;
  // A bridge-family rule logs with family 7: the ethertype says what the packet is.
  const ethertype = int(o, "oob.protocol", 0, 0xffff);
  if (ethertype === ETH_P_IP) return 4;
  if (ethertype === ETH_P_IPV6) return 6;
  return undefined;
}

function isAddress(text: string, version: 4 | 6): boolean {
  return version === 4 ? parseIpv4(text) !== undefined : isIpv6(text);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Whether `text` is an IPv6 address (any valid text form, embedded IPv4 included). The same
 * grammar as policies/net.ts parseIpv6 without building the bigint, which cost more than
 * the rest of a record's parse together (measured: 2 µs of 5).
 */
export function isIpv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const double = text.indexOf("::");
  if (double !== -1 && text.indexOf("::", double + 1) !== -1) return false;
  const parts = double === -1 ? [text] : [text.slice(0, double), text.slice(double + 2)];
  let groups = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part === "") continue;
    const words = part.split(":");
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (HEX_GROUP.test(w)) groups += 1;
      // An embedded IPv4 address ends the address and counts as two groups.
      else if (p === parts.length - 1 && i === words.length - 1 && parseIpv4(w) !== undefined) groups += 2;
      else return false;
    }
  }
  return double === -1 ? groups === 8 : groups <= 7;
}

/**
 * One ulogd JSON datagram as a PacketRecord, or why not. `now` (ms since epoch) is used
 * when the datagram carries no usable packet time. Never throws.
 */
export function parseUlogdJson(bytes: Uint8Array, now: number): ParseResult<PacketRecord> {
  if (bytes.length === 0) return reject("empty", "empty datagram");
  if (bytes.length > MAX_DATAGRAM_BYTES) {
    return reject("too-large", `ulogd datagram of ${bytes.length} bytes (limit ${MAX_DATAGRAM_BYTES})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes));
  } catch {
    return reject("not-json", "ulogd datagram is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return reject("not-json", "ulogd datagram is not a JSON object");
  }
  const o = value as Fields;

  const ipVersion = ipVersionOf(o);
  if (ipVersion === undefined) return reject("not-ip-packet", "no IPv4/IPv6 family in ulogd record");
  const src = str(o, "src_ip");
  const dst = str(o, "dest_ip");
  if (src === undefined || dst === undefined || !isAddress(src, ipVersion) || !isAddress(dst, ipVersion)) {
    return reject("not-ip-packet", `ulogd record without valid IPv${ipVersion} src_ip/dest_ip`);
  }
  const protoNumber = int(o, "ip.protocol", 0, 255) ?? int(o, "ip6.nexthdr", 0, 255);
  if (protoNumber === undefined) return reject("not-ip-packet", "ulogd record without ip.protocol");

  const record: PacketRecord = {
    kind: "packet",
    time: packetTime(o) ?? now,
    prefix: cleanField(str(o, "oob.prefix") ?? "", MAX_PREFIX),
    ipVersion,
    src,
    dst,
    proto: PROTO_NAMES[protoNumber] ?? String(protoNumber),
  };
  const group = groupOf(o);
  if (group !== undefined) record.group = group;
  if (PORT_PROTOS.has(protoNumber)) {
    const sport = int(o, "src_port", 0, 0xffff);
    const dport = int(o, "dest_port", 0, 0xffff);
    if (sport !== undefined) record.sport = sport;
    if (dport !== undefined) record.dport = dport;
  }
  if (protoNumber === 6) {
    const flags: string[] = [];
    for (const [key, name] of TCP_FLAGS) if (o[key] === 1) flags.push(name);
    record.tcpFlags = flags;
  }
  const icmpType = protoNumber === 1 ? int(o, "icmp.type", 0, 255) : protoNumber === 58 ? int(o, "icmpv6.type", 0, 255) : undefined;
  if (icmpType !== undefined) record.icmpType = icmpType;
  const inIf = str(o, "oob.in");
  if (inIf) record.inIf = cleanField(inIf, MAX_IFNAME);
  const outIf = str(o, "oob.out");
  if (outIf) record.outIf = cleanField(outIf, MAX_IFNAME);
  const mark = int(o, "oob.mark", 0, 0xffffffff);
  if (mark !== undefined) record.mark = mark;
  const mac = str(o, "mac.saddr.str");
  // All zeroes is what loopback carries: not a device.
  if (mac !== undefined && MAC.test(mac) && mac !== NO_MAC) record.srcMac = mac.toLowerCase();
  const length = ipVersion === 4 ? int(o, "ip.totlen", 0, 0xffff) : plus40(int(o, "ip6.payloadlen", 0, 0xffff));
  const pktlen = length ?? int(o, "raw.pktlen", 0, 0xffffffff);
  if (pktlen !== undefined) record.length = pktlen;
  return { ok: true, record };
}

/** ms since epoch from the packet's own time (NFLOG's timestamp), when ulogd had one. */
function packetTime(o: Fields): number | undefined {
  const sec = int(o, "oob.time.sec", 1, 0xffffffffff);
  if (sec === undefined) return undefined;
  const usec = int(o, "oob.time.usec", 0, 999_999) ?? 0;
  return sec * 1000 + Math.floor(usec / 1000);
}

function groupOf(o: Fields): number | undefined {
  const dvc = str(o, "dvc");
  if (dvc === undefined || !dvc.startsWith(ULOGD_DEVICE_PREFIX)) return undefined;
  const digits = dvc.slice(ULOGD_DEVICE_PREFIX.length);
  if (!/^\d{1,5}$/.test(digits)) return undefined;
  const n = Number(digits);
  return n <= 0xffff ? n : undefined;
}

/** IPv6 total length: the payload length plus the fixed 40-byte header. */
function plus40(payload: number | undefined): number | undefined {
  return payload === undefined ? undefined : payload + 40;
}
