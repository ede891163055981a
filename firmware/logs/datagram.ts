/**
 * One datagram on the log port → a LogRecord (pure): the receiver's whole parse path.
 *
 * One port serves two kinds of sender. ulogd's JSON starts with `{`, syslog with `<`
 * (RFC 3164 §4.1.1 and RFC 5424 §6.2.1 both begin with PRI). Who may send which is part of
 * parsing: packet records say what the firewall saw and drive alerts, so they are accepted
 * from loopback only (ulogd runs on the box); syslog is accepted from the configured
 * source prefixes (loopback and the LAN, say). Anything else is rejected and counted.
 */
import { containsPrefix, parseIpv4, parseIpv6, parsePrefix, type Prefix } from "../../policies/net.ts";
import { reject, type ParseResult } from "./parse-result.ts";
import { parseSyslog, type SyslogParseOptions } from "./syslog.ts";
import type { LogRecord } from "./types.ts";
import { parseUlogdJson } from "./ulogd-json.ts";

const OPEN_BRACE = 0x7b;
const LESS_THAN = 0x3c;

export type DatagramParseOptions = {
  /** Where syslog may come from (already parsed; see parseSourcePrefixes). */
  syslogSources: readonly Prefix[];
  syslog?: SyslogParseOptions;
};

/** 127.0.0.0/8 and ::1: the box itself. */
export const LOOPBACK_PREFIXES: readonly string[] = ["127.0.0.0/8", "::1"];

/** Whether the address is the box's own (checked once per packet record, so no bigint). */
export function isLoopback(address: string): boolean {
  return address === "::1" || (address.startsWith("127.") && parseIpv4(address) !== undefined);
}

/**
 * Parses source prefixes ("192.0.2.0/24", "2001:db8::/32", "::1"). A bad prefix is a
 * configuration error of the caller (device.json is validated before it gets here), so it
 * throws a RangeError naming it.
 */
export function parseSourcePrefixes(texts: readonly string[]): Prefix[] {
  return texts.map((t) => {
    const p = parsePrefix(t);
    if (!p.ok) throw new RangeError(`bad syslog source prefix: ${p.error}`);
    return p.value;
  });
}

/** Whether `address` (as a socket reports it) lies in one of `prefixes`. */
export function isAddressIn(address: string, prefixes: readonly Prefix[]): boolean {
  const host = hostPrefix(address);
  return host !== undefined && prefixes.some((p) => containsPrefix(p, host));
}

function hostPrefix(address: string): Prefix | undefined {
  const v4 = parseIpv4(address);
  if (v4 !== undefined) return { family: 4, bits: BigInt(v4), len: 32 };
  // A scoped link-local address ("fe80::1%eth0") is compared without its zone.
  const percent = address.indexOf("%");
  const v6 = parseIpv6(percent === -1 ? address : address.slice(0, percent));
  return v6 === undefined ? undefined : { family: 6, bits: v6, len: 128 };
}

/**
 * One datagram from `peer` (the address the socket reports) as a record, or why not.
 * `now` is the receive time in ms since epoch. Never throws.
 */
export function parseDatagram(
  bytes: Uint8Array,
  peer: string,
  now: number,
  options: DatagramParseOptions,
): ParseResult<LogRecord> {
  const first = bytes[0];
  if (first === undefined) return reject("empty", "empty datagram");
  if (first === OPEN_BRACE) {
    if (!isLoopback(peer)) return reject("source-not-allowed", "ulogd JSON is accepted from loopback only");
    return parseUlogdJson(bytes, now);
  }
  if (first === LESS_THAN || options.syslog?.acceptMissingPri === true) {
    if (!isAddressIn(peer, options.syslogSources)) {
      return reject("source-not-allowed", "syslog from an address outside the allowed source prefixes");
    }
    return parseSyslog(bytes, peer, now, options.syslog);
  }
  return reject("unknown-format", "datagram is neither ulogd JSON ({) nor syslog (<)");
}
