/**
 * The classifier: one log record → one event in the words of the pilot report (category,
 * severity, which host on the LAN, which remote, which service port). Pure: the compiler's
 * metadata and the LAN prefixes are plain values passed in.
 */
import type { LogRecord, PacketRecord, SyslogRecord } from "../logs/types.ts";
import { parseIpv4, parseIpv6, parsePrefix } from "../../policies/net.ts";
import { parseLogPrefix, type RuleMeta, type RuleMetaMap, type Severity } from "../ruleset/meta.ts";
import type { BoxEvent, EventKind } from "./types.ts";

/** The office LAN's prefixes, parsed once for fast membership tests. */
export type LanNetworks = {
  v4: { net: number; mask: number }[];
  v6: { bits: bigint; mask: bigint }[];
};

/** Why a record did not become an event; the event writer counts each reason. */
export type UnclassifiedReason =
  /** A packet whose log prefix is not "sk:<logId>:" (another program's NFLOG rule). */
  | "foreign-prefix"
  /** Our prefix, but a log id the current ruleset does not have (an older ruleset's rule). */
  | "unknown-log-id"
  /** Syslog from the box itself (loopback): its own system log, relayed, not an endpoint event. */
  | "box-syslog"
  /** Syslog from a peer outside the LAN prefixes: not one of the office's devices. */
  | "foreign-syslog";

export type Classification = { ok: true; event: BoxEvent } | { ok: false; reason: UnclassifiedReason };

/** Longest message text kept from a syslog line; the rest is cut (the receiver bounds it too). */
export const MAX_MESSAGE_LENGTH = 1024;
/** RFC 5424's limit for APP-NAME. */
export const MAX_APP_LENGTH = 48;

/**
 * Parses the device's LAN prefixes ("192.0.2.0/24", "2001:db8:2::/64"). Prefixes that do not
 * parse are skipped: the device schema has rejected them already.
 */
export function lanNetworks(prefixes: readonly string[]): LanNetworks {
  const out: LanNetworks = { v4: [], v6: [] };
  for (const text of prefixes) {
    const r = parsePrefix(text);
    if (!r.ok) continue;
    const p = r.value;
    if (p.family === 4) {
      const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
      out.v4.push({ net: Number(p.bits) >>> 0, mask });
    } else {
      const mask = p.len === 0 ? 0n : ((1n << BigInt(p.len)) - 1n) << BigInt(128 - p.len);
      out.v6.push({ bits: p.bits, mask });
    }
  }
  return out;
}

/** An IPv4-mapped IPv6 address ("::ffff:192.0.2.5", what a dual-stack socket reports) as IPv4. */
function unmapV4(ip: string): string {
  return ip.length > 7 && ip.slice(0, 7).toLowerCase() === "::ffff:" && ip.includes(".") ? ip.slice(7) : ip;
}

/** Whether `ip` is inside one of the LAN prefixes. */
export function isLanAddress(lan: LanNetworks, ip: string): boolean {
  const addr = unmapV4(ip);
  const v4 = parseIpv4(addr);
  if (v4 !== undefined) return lan.v4.some((n) => ((v4 & n.mask) >>> 0) === n.net);
  const v6 = parseIpv6(addr);
  if (v6 === undefined) return false;
  return lan.v6.some((n) => (v6 & n.mask) === n.bits);
}

/** Whether `ip` is the box itself talking to itself (127.0.0.0/8, ::1). */
export function isLoopback(ip: string): boolean {
  const addr = unmapV4(ip);
  const v4 = parseIpv4(addr);
  if (v4 !== undefined) return v4 >>> 24 === 127;
  return parseIpv6(addr) === 1n;
}

/**
 * What kind of rule a log id belongs to, from where the compiler says it sits in the policy
 * (`RuleMeta.path`) and what it does.
 */
export function eventKindOf(meta: RuleMeta): EventKind {
  if (meta.action === "accept") return "allowed";
  const path = meta.path ?? "";
  if (path.startsWith("bruteForce[")) return "brute-force";
  if (path.startsWith("blocklists[")) return "blocklist";
  if (path.startsWith("outbound.block[")) return "outbound-port";
  if (path === "portScan" || path === "inbound.default") return "scan";
  // Built-in drops of unsolicited inbound traffic (impossible TCP flags, invalid state).
  if (meta.source === "system" && meta.direction === "inbound") return "scan";
  return "other";
}

/**
 * Severity of a LAN device's syslog message. Syslog severities are chosen by the device
 * (any device on the LAN can send anything), so none reaches `high` (which e-mails someone at
 * once): 0-3 (emergency, alert, critical, error) → medium, 4-7 (warning … debug) → low.
 */
export function endpointSeverity(syslogSeverity: number): Severity {
  return syslogSeverity <= 3 ? "medium" : "low";
}

// C0 controls, DEL, C1 controls, and the bidirectional overrides/isolates that can make text
// in the admin page read differently from what it is.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// A surrogate without its pair (cut text, or garbage) is not text: it cannot be stored as UTF-8.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Untrusted text made safe to store and show: control and bidi-override characters become
 * spaces, lone surrogates U+FFFD, and the result is cut to `max` UTF-16 units without
 * splitting a surrogate pair.
 */
export function cleanText(text: string, max: number): string {
  let s = text.length > max * 2 ? text.slice(0, max * 2) : text;
  s = s.replace(UNSAFE_TEXT, " ");
  if (s.length > max) {
    const cut = s.charCodeAt(max - 1) >= 0xd800 && s.charCodeAt(max - 1) <= 0xdbff ? max - 1 : max;
    s = s.slice(0, cut);
  }
  return s.replace(LONE_SURROGATE, "\ufffd");
}

/** What the classifier knows about one log prefix, looked up once. */
type PrefixInfo = { ok: true; logId: string; meta: RuleMeta; kind: EventKind } | { ok: false; reason: UnclassifiedReason };

function prefixInfo(prefix: string, metaMap: RuleMetaMap): PrefixInfo {
  const logId = parseLogPrefix(prefix);
  if (logId === undefined) return { ok: false, reason: "foreign-prefix" };
  const meta = Object.hasOwn(metaMap, logId) ? metaMap[logId] : undefined;
  if (!meta) return { ok: false, reason: "unknown-log-id" };
  return { ok: true, logId, meta, kind: eventKindOf(meta) };
}

function classifyPacket(record: PacketRecord, info: PrefixInfo): Classification {
  if (!info.ok) return info;
  const { meta, logId } = info;
  // The compiler knows which side each logged rule faces: inbound rules match traffic from
  // the WAN side (the source is the remote, the destination the LAN host or the box itself),
  // outbound rules traffic from the LAN side. The LAN prefixes cannot decide this in bridge
  // mode: the broadband router on the WAN side has an address inside the LAN prefix.
  const inbound = meta.direction === "inbound";
  const event: BoxEvent = {
    time: record.time,
    category: meta.category,
    severity: meta.severity,
    kind: info.kind,
    logId,
    ruleId: meta.ruleId,
    direction: meta.direction,
    action: meta.action,
    lanIp: inbound ? record.dst : record.src,
    remoteIp: inbound ? record.src : record.dst,
    proto: record.proto,
  };
  // The source MAC is the LAN host's only when the packet came from it; inbound, it is the
  // router's.
  if (!inbound && record.srcMac !== undefined) event.lanMac = record.srcMac;
  // The service port is the one being contacted: the destination port both ways.
  if (record.dport !== undefined) event.port = record.dport;
  return { ok: true, event };
}

function classifySyslog(record: SyslogRecord, lan: LanNetworks): Classification {
  if (isLoopback(record.peer)) return { ok: false, reason: "box-syslog" };
  if (!isLanAddress(lan, record.peer)) return { ok: false, reason: "foreign-syslog" };
  const event: BoxEvent = {
    time: record.time,
    category: "endpoint",
    severity: endpointSeverity(record.severity),
    kind: "endpoint",
    logId: "syslog",
    ruleId: "syslog",
    direction: "outbound",
    action: "log",
    // The socket's peer, not the hostname the message claims to come from.
    lanIp: unmapV4(record.peer),
    message: cleanText(record.message, MAX_MESSAGE_LENGTH),
  };
  if (record.appName !== undefined) event.app = cleanText(record.appName, MAX_APP_LENGTH);
  return { ok: true, event };
}

/**
 * Classifies one record, saying why when it is not an event. Packets are classified by the
 * log id in their prefix (the compiler's metadata gives category, severity, direction and
 * action); syslog messages from LAN devices are `endpoint` events.
 */
export function classifyRecord(record: LogRecord, meta: RuleMetaMap, lan: LanNetworks): Classification {
  return record.kind === "packet" ? classifyPacket(record, prefixInfo(record.prefix, meta)) : classifySyslog(record, lan);
}

/**
 * One record → one event, or undefined when it is not one of ours (foreign prefix, unknown
 * log id, the box's own syslog, syslog from outside the LAN); the caller counts those.
 */
export function classify(record: LogRecord, meta: RuleMetaMap, lan: LanNetworks): BoxEvent | undefined {
  const r = classifyRecord(record, meta, lan);
  return r.ok ? r.event : undefined;
}

/** Distinct prefixes a classifier remembers; prefixes beyond are parsed each time. */
const PREFIX_CACHE_SIZE = 1024;

/**
 * `classifyRecord` for one ruleset, for the hot path: what each log prefix means is worked
 * out once and remembered (a ruleset has a few dozen prefixes; the cache is bounded so
 * garbage prefixes cannot grow it). Same results as `classifyRecord`.
 */
export function createClassifier(meta: RuleMetaMap, lan: LanNetworks): (record: LogRecord) => Classification {
  const known = new Map<string, PrefixInfo>();
  return (record) => {
    if (record.kind !== "packet") return classifySyslog(record, lan);
    let info = known.get(record.prefix);
    if (!info) {
      info = prefixInfo(record.prefix, meta);
      if (known.size < PREFIX_CACHE_SIZE) known.set(record.prefix, info);
    }
    return classifyPacket(record, info);
  };
}
