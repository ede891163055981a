/**
 * Device observations: "this MAC (at this address) was on the LAN at this time", from
 * whatever the box sees. Every source is turned into the same plain value here (pure), and
 * the inventory (inventory.ts) only ever sees these.
 */
import type { Device } from "../../policies/device.ts";
import { containsPrefix, formatIpv6, parseIpv4, parseIpv6, parsePrefix, type Prefix } from "../../policies/net.ts";
import type { PacketRecord } from "../logs/types.ts";
import { MARK_LAN } from "../ruleset/compile.ts";
import type { DhcpMessage } from "./dhcp.ts";
import { isDeviceMac, parseMac } from "./mac.ts";
import { isFreshNeighbour, type NeighbourEntry } from "./neighbours.ts";
import type { ArpPacket } from "./packet.ts";

export type ObservationSource =
  /** The box's own neighbour table (`ip neigh`). */
  | "neighbour"
  /** A DHCP message crossing the box (snooping log group). */
  | "dhcp"
  /** An ARP message crossing the bridge (snooping log group, bridge mode). */
  | "arp"
  /** A packet an nft rule logged (PacketRecord): e.g. a PC that only shows up as C&C attempts. */
  | "packet-log"
  /** A DNS query the filter answered (address only: the MAC comes from what else is known). */
  | "dns";

export const OBSERVATION_SOURCES: readonly ObservationSource[] = ["neighbour", "dhcp", "arp", "packet-log", "dns"];

export type DeviceObservation = {
  /** ms since the epoch. */
  time: number;
  source: ObservationSource;
  /**
   * Canonical unicast MAC: the device's identity. May be absent only when `ip` is given:
   * then the device is whoever was last seen at that address (DNS queries carry no MAC).
   */
  mac?: string;
  /** Canonical address text; omitted when the observation says nothing about it. */
  ip?: string;
  /**
   * false: the device exists but this says nothing about it being there now (a STALE
   * neighbour entry can outlive the device by hours). Creates an unknown device; does not
   * move a known one's last seen. Default true.
   */
  current?: boolean;
  /** DHCP option 12 / 60 / 61, already sanitised (dhcp.ts). */
  hostname?: string;
  vendorClass?: string;
  clientId?: string;
};

/** Which neighbour-table entries and logged packets belong to the office LAN. */
export type LanScope = {
  /** Interfaces whose neighbours are LAN devices (br0 in bridge mode, the LAN port in router mode). */
  neighbourDevs: readonly string[];
  /** The office LAN's prefixes: a logged packet's source must be in one of them. */
  prefixes: readonly Prefix[];
  /** Bridge mode: the mark the ruleset gives packets that came in on the LAN port. */
  lanMark?: number;
  /** Router mode: the LAN-side interface as the inet hooks see it. */
  lanIf?: string;
  /** The box's own MACs: never a LAN device. */
  ownMacs?: readonly string[];
};

/** The LAN scope of a box: what its device config says about where the office LAN is. */
export function buildLanScope(device: Device, ownMacs: readonly string[] = []): LanScope {
  const prefixes = device.lanPrefixes.map(parsePrefix).flatMap((r) => (r.ok ? [r.value] : []));
  return device.mode === "bridge"
    ? { neighbourDevs: [device.interfaces.bridge ?? device.interfaces.lan], prefixes, lanMark: MARK_LAN, ownMacs }
    : { neighbourDevs: [device.interfaces.lan], prefixes, lanIf: device.interfaces.lan, ownMacs };
}

/** Neighbour entries → observations: resolved entries on LAN interfaces only. */
export function observeNeighbours(entries: readonly NeighbourEntry[], scope: LanScope, time: number): DeviceObservation[] {
  const out: DeviceObservation[] = [];
  for (const e of entries) {
    if (e.mac === undefined || !scope.neighbourDevs.includes(e.dev) || !isLanMac(e.mac, scope)) continue;
    const obs: DeviceObservation = { time, source: "neighbour", mac: e.mac, current: isFreshNeighbour(e.state) };
    // Link-local IPv6 addresses identify nothing a person would look up; the MAC is what counts.
    if (!isLinkLocal(e.ip)) obs.ip = e.ip;
    out.push(obs);
  }
  return out;
}

/**
 * A DHCP message → an observation, or undefined when it tells nothing about a device.
 * Client messages give the MAC and what the client calls itself; the address counts only
 * once it is the client's: its own ciaddr (renewing, informing) or the server's ACK (yiaddr).
 * A REQUEST's requested address is a wish the server may refuse, and an OFFER a proposal.
 */
export function observeDhcp(message: DhcpMessage, time: number): DeviceObservation | undefined {
  const mac = message.clientMac;
  if (mac === undefined || !isDeviceMac(mac)) return undefined;
  const type = message.messageType;
  if (message.op === "reply") {
    if (type !== "ack" || message.yiaddr === undefined) return undefined;
    return { time, source: "dhcp", mac, ip: message.yiaddr };
  }
  if (type === "offer" || type === "ack" || type === "nak" || type === "other") return undefined; // not from a client
  const obs: DeviceObservation = { time, source: "dhcp", mac };
  if ((type === "request" || type === "inform") && message.ciaddr !== undefined) obs.ip = message.ciaddr;
  if (message.hostname !== undefined) obs.hostname = message.hostname;
  if (message.vendorClass !== undefined) obs.vendorClass = message.vendorClass;
  if (message.clientId !== undefined) obs.clientId = message.clientId;
  return obs;
}

/** An ARP message → its sender (the target of a request is only being asked for). */
export function observeArp(arp: ArpPacket, scope: Pick<LanScope, "ownMacs">, time: number): DeviceObservation | undefined {
  if (!isLanMac(arp.senderMac, scope)) return undefined;
  const obs: DeviceObservation = { time, source: "arp", mac: arp.senderMac };
  if (arp.senderIp !== undefined) obs.ip = arp.senderIp;
  return obs;
}

/**
 * A logged packet → its LAN-side sender, when it came from the LAN: in from the LAN port
 * (the mark in bridge mode, the interface in router mode), from a LAN address, with a
 * source MAC. Packets from the internet carry the router's MAC and a remote address:
 * never a device.
 */
export function observePacket(record: PacketRecord, scope: LanScope): DeviceObservation | undefined {
  if (record.srcMac === undefined) return undefined;
  if (scope.lanMark !== undefined && record.mark !== scope.lanMark) return undefined;
  if (scope.lanIf !== undefined && record.inIf !== scope.lanIf) return undefined;
  const mac = parseMac(record.srcMac);
  if (mac === undefined || !isLanMac(mac, scope)) return undefined;
  const ip = canonicalIp(record.src);
  if (ip === undefined || !inPrefixes(ip, scope.prefixes)) return undefined;
  return { time: record.time, source: "packet-log", mac, ip };
}

/** A DNS query from `ip` at `time` (the filter knows no MAC). */
export function observeDnsClient(ip: string, time: number, scope: Pick<LanScope, "prefixes">): DeviceObservation | undefined {
  const canonical = canonicalIp(ip);
  if (canonical === undefined || !inPrefixes(canonical, scope.prefixes)) return undefined;
  return { time, source: "dns", ip: canonical };
}

function isLanMac(mac: string, scope: Pick<LanScope, "ownMacs">): boolean {
  return isDeviceMac(mac) && !(scope.ownMacs ?? []).includes(mac);
}

/** Canonical text of an address of either family, or undefined. */
export function canonicalIp(text: string): string | undefined {
  if (parseIpv4(text) !== undefined) return text;
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : formatIpv6(v6);
}

function isLinkLocal(ip: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(ip);
}

function inPrefixes(ip: string, prefixes: readonly Prefix[]): boolean {
  const v4 = parseIpv4(ip);
  const host: Prefix | undefined = v4 !== undefined
    ? { family: 4, bits: BigInt(v4), len: 32 }
    : (() => {
      const v6 = parseIpv6(ip);
      return v6 === undefined ? undefined : { family: 6 as const, bits: v6, len: 128 };
    })();
  return host !== undefined && prefixes.some((p) => containsPrefix(p, host));
}
