/**
 * The packets the snooping log group hands over, decoded as far as the inventory needs:
 * UDP over IPv4/IPv6 (DHCP), and ARP. NFLOG gives the packet from its network header on,
 * so a record is an IP packet — or, for the bridge family's `ether type arp` rule, the ARP
 * message itself (ulogd's pcap header says "raw IP" for both; the first bytes tell them
 * apart: an IP packet starts with its version nibble 4 or 6, ARP over Ethernet with 00 01).
 * Pure; never throws.
 */
import { formatIpv6 } from "../../policies/net.ts";
import { formatMac } from "./mac.ts";
import { LINKTYPE } from "./pcap.ts";

export type UdpPacket = {
  kind: "udp";
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
};

export type ArpPacket = {
  kind: "arp";
  op: "request" | "reply" | "other";
  senderMac: string;
  /** Undefined for 0.0.0.0 (an ARP probe of a host checking its new address). */
  senderIp?: string;
  targetMac: string;
  targetIp?: string;
};

export type SnoopedPacket = UdpPacket | ArpPacket;

export type PacketResult = { ok: true; value: SnoopedPacket } | { ok: false; error: string };

const PROTO_UDP = 17;
/** IPv6 extension headers walked to find UDP (hop-by-hop, routing, destination options). */
const IPV6_SKIPPABLE = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;
const ETHERTYPE = { ipv4: 0x0800, arp: 0x0806, ipv6: 0x86dd, vlan: 0x8100, qinq: 0x88a8 } as const;

/** Decodes a packet captured with `linkType` (RAW as ulogd writes it; Ethernet and bare IPv4/IPv6 for other captures). */
export function decodeCaptured(data: Uint8Array, linkType: number): PacketResult {
  switch (linkType) {
    case LINKTYPE.raw:
    case LINKTYPE.ipv4:
    case LINKTYPE.ipv6:
      return decodeNetworkPacket(data);
    case LINKTYPE.ethernet:
      return decodeEthernet(data);
    default:
      return { ok: false, error: `unsupported pcap link type ${linkType}` };
  }
}

/** A packet from its network header: IPv4, IPv6 or ARP (see the module comment). */
export function decodeNetworkPacket(data: Uint8Array): PacketResult {
  if (data.length < 1) return { ok: false, error: "empty packet" };
  const version = (data[0] ?? 0) >> 4;
  if (version === 4) return decodeIpv4(data);
  if (version === 6) return decodeIpv6(data);
  if (data[0] === 0x00 && data[1] === 0x01) return decodeArp(data);
  return { ok: false, error: `neither IP nor ARP (first byte 0x${(data[0] ?? 0).toString(16).padStart(2, "0")})` };
}

function decodeEthernet(data: Uint8Array): PacketResult {
  let at = 12;
  let type = u16(data, at);
  while (type === ETHERTYPE.vlan || type === ETHERTYPE.qinq) {
    at += 4;
    type = u16(data, at);
  }
  if (type === undefined) return { ok: false, error: "truncated Ethernet header" };
  const rest = data.subarray(at + 2);
  if (type === ETHERTYPE.ipv4 || type === ETHERTYPE.ipv6) return decodeNetworkPacket(rest);
  if (type === ETHERTYPE.arp) return decodeArp(rest);
  return { ok: false, error: `Ethernet type 0x${type.toString(16)} is not IP or ARP` };
}

function decodeIpv4(data: Uint8Array): PacketResult {
  if (data.length < 20) return { ok: false, error: `IPv4 header truncated (${data.length} bytes)` };
  const ihl = ((data[0] ?? 0) & 0x0f) * 4;
  if (ihl < 20 || ihl > data.length) return { ok: false, error: `bad IPv4 header length ${ihl}` };
  const totalLength = u16(data, 2) ?? 0;
  if (totalLength < ihl) return { ok: false, error: `IPv4 total length ${totalLength} is shorter than its header` };
  const fragment = u16(data, 6) ?? 0;
  if ((fragment & 0x3fff) !== 0) return { ok: false, error: "IPv4 fragment (not reassembled)" };
  const proto = data[9];
  if (proto !== PROTO_UDP) return { ok: false, error: `IPv4 protocol ${proto} is not UDP` };
  const src = [...data.subarray(12, 16)].join(".");
  const dst = [...data.subarray(16, 20)].join(".");
  // The capture may be cut short (snaplen); the IP length may be shorter than the capture
  // (Ethernet padding): the datagram is what both allow.
  return decodeUdp(data.subarray(ihl, Math.min(totalLength, data.length)), 4, src, dst);
}

function decodeIpv6(data: Uint8Array): PacketResult {
  if (data.length < 40) return { ok: false, error: `IPv6 header truncated (${data.length} bytes)` };
  const src = formatIpv6(bigintAt(data, 8));
  const dst = formatIpv6(bigintAt(data, 24));
  const end = Math.min(40 + (u16(data, 4) ?? 0), data.length);
  let next = data[6] ?? 0;
  let at = 40;
  for (let hops = 0; IPV6_SKIPPABLE.has(next); hops++) {
    if (hops >= 8 || at + 2 > end) return { ok: false, error: "IPv6 extension headers truncated or too many" };
    next = data[at] ?? 0;
    at += ((data[at + 1] ?? 0) + 1) * 8;
  }
  if (next === IPV6_FRAGMENT) return { ok: false, error: "IPv6 fragment (not reassembled)" };
  if (next !== PROTO_UDP) return { ok: false, error: `IPv6 next header ${next} is not UDP` };
  if (at > end) return { ok: false, error: "IPv6 extension headers run past the packet" };
  return decodeUdp(data.subarray(at, end), 6, src, dst);
}

function decodeUdp(segment: Uint8Array, ipVersion: 4 | 6, src: string, dst: string): PacketResult {
  if (segment.length < 8) return { ok: false, error: `UDP header truncated (${segment.length} bytes)` };
  const length = u16(segment, 4) ?? 0;
  if (length < 8) return { ok: false, error: `bad UDP length ${length}` };
  return {
    ok: true,
    value: {
      kind: "udp",
      ipVersion,
      src,
      dst,
      sport: u16(segment, 0) ?? 0,
      dport: u16(segment, 2) ?? 0,
      payload: segment.subarray(8, Math.min(length, segment.length)),
    },
  };
}

function decodeArp(data: Uint8Array): PacketResult {
  if (data.length < 28) return { ok: false, error: `ARP message truncated (${data.length} bytes)` };
  if (u16(data, 0) !== 1 || u16(data, 2) !== ETHERTYPE.ipv4 || data[4] !== 6 || data[5] !== 4) {
    return { ok: false, error: "ARP for something other than IPv4 over Ethernet" };
  }
  const opcode = u16(data, 6);
  const ip = (offset: number): string | undefined => {
    const q = [...data.subarray(offset, offset + 4)];
    return q.every((b) => b === 0) ? undefined : q.join(".");
  };
  const packet: ArpPacket = {
    kind: "arp",
    op: opcode === 1 ? "request" : opcode === 2 ? "reply" : "other",
    senderMac: formatMac(data, 8),
    targetMac: formatMac(data, 18),
  };
  const senderIp = ip(14);
  if (senderIp !== undefined) packet.senderIp = senderIp;
  const targetIp = ip(24);
  if (targetIp !== undefined) packet.targetIp = targetIp;
  return { ok: true, value: packet };
}

function u16(bytes: Uint8Array, at: number): number | undefined {
  const a = bytes[at];
  const b = bytes[at + 1];
  return a === undefined || b === undefined ? undefined : (a << 8) | b;
}

function bigintAt(bytes: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(bytes[at + i] ?? 0);
  return v;
}
