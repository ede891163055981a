/**
 * What the log receiver hands to the rest of the firmware: typed records parsed from the
 * bytes of one datagram. Shared by firmware/logs (producer), firmware/events and
 * firmware/inventory (consumers). Every string in here came from the network or from a
 * packet and is untrusted text: bounded in length, never interpreted.
 */

/** One packet logged by an nft rule (NFLOG → ulogd2 JSON). */
export type PacketRecord = {
  kind: "packet";
  /** When ulogd saw it (ms since epoch); the receiver's clock when ulogd gave none. */
  time: number;
  /** The nft log prefix as logged ("sk:c2-feed.out:"); the log id is parsed from it later. */
  prefix: string;
  /** NFLOG group. */
  group?: number;
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  /** "tcp" | "udp" | "icmp" | "ipv6-icmp" | a protocol number as text. */
  proto: string;
  sport?: number;
  dport?: number;
  /** TCP flags seen ("SYN", "ACK", ...), when TCP. */
  tcpFlags?: string[];
  icmpType?: number;
  /** Interfaces as the inet hook saw them (br0 in bridge mode) and the physical-port mark. */
  inIf?: string;
  outIf?: string;
  mark?: number;
  /** Source MAC (from the link-layer header), lower-case "aa:bb:cc:dd:ee:ff", when present. */
  srcMac?: string;
  /** IP total length in bytes. */
  length?: number;
};

/** One syslog message (RFC 3164 or RFC 5424), from a LAN device or the box itself. */
export type SyslogRecord = {
  kind: "syslog";
  /** Receive time (ms since epoch). */
  time: number;
  format: "rfc3164" | "rfc5424";
  /** The sender's address as the socket saw it (not the claimed hostname). */
  peer: string;
  facility: number;
  /** 0 (emerg) … 7 (debug). */
  severity: number;
  /** The timestamp in the message, when it had a parseable one (ms since epoch). */
  timestamp?: number;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  /** RFC 5424 structured data, as parsed: id → params. */
  structuredData?: Record<string, Record<string, string>>;
  message: string;
};

export type LogRecord = PacketRecord | SyslogRecord;

/** Counters every stage keeps so nothing vanishes silently: received = accepted + rejected + dropped. */
export type ReceiverCounters = {
  /** Datagrams taken off the socket. */
  received: number;
  /** Parsed and queued. */
  accepted: number;
  /** Could not be parsed (garbage, truncated, wrong encoding, too big). */
  rejected: number;
  /** Parsed but the queue was full: dropped and counted. */
  dropped: number;
};
