/**
 * DHCPv4 (RFC 2131 / 2132) messages as the box sees them crossing the bridge: who asks
 * (client MAC), what it calls itself (option 12), what it is (option 60), and which address
 * the server gave it. Pure: bytes in, a typed message or a reason out; never throws, whatever
 * the bytes (a LAN device can send anything to port 67).
 */
import { formatMac } from "./mac.ts";
import { decodeUntrusted, MAX_VENDOR_CLASS, sanitiseHostname, sanitiseText } from "./text.ts";

export type DhcpMessageType =
  | "discover"
  | "offer"
  | "request"
  | "decline"
  | "ack"
  | "nak"
  | "release"
  | "inform"
  /** A later type (force-renew, lease query, …): nothing the inventory uses. */
  | "other";

const MESSAGE_TYPES: readonly DhcpMessageType[] = ["discover", "offer", "request", "decline", "ack", "nak", "release", "inform"];

export type DhcpMessage = {
  /** BOOTREQUEST (client → server) or BOOTREPLY (server → client). */
  op: "request" | "reply";
  /** Option 53; absent in plain BOOTP. */
  messageType?: DhcpMessageType;
  xid: number;
  /** chaddr, when it is an Ethernet address (htype 1, hlen 6). */
  clientMac?: string;
  /** The client's current address (set when it renews, informs or releases). */
  ciaddr?: string;
  /** The address the server gives ("your" address), in offers and acks. */
  yiaddr?: string;
  /** Option 50. */
  requestedIp?: string;
  /** Option 54. */
  serverId?: string;
  /** Option 12, untrusted: sanitised and bounded (text.ts). */
  hostname?: string;
  /** Option 60, untrusted: sanitised and bounded. */
  vendorClass?: string;
  /** Option 61 as lower-case hex (type byte first), at most 64 bytes' worth. */
  clientId?: string;
};

export type DhcpResult = { ok: true; value: DhcpMessage } | { ok: false; error: string };

/** op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file. */
const FIXED_LENGTH = 236;
const MAGIC_COOKIE = 0x63825363;
const SNAME = { offset: 44, length: 64 };
const FILE = { offset: 108, length: 128 };
const MAX_CLIENT_ID_BYTES = 64;

const OPT = {
  pad: 0,
  hostname: 12,
  requestedIp: 50,
  overload: 52,
  messageType: 53,
  serverId: 54,
  vendorClass: 60,
  clientId: 61,
  end: 255,
} as const;

/**
 * Parses one DHCPv4 message (the UDP payload). Options split over several instances are
 * joined (RFC 3396), and options overloaded into the sname/file fields (option 52) are read.
 */
export function parseDhcp(bytes: Uint8Array): DhcpResult {
  if (bytes.length < FIXED_LENGTH + 4) {
    return { ok: false, error: `too short for DHCP: ${bytes.length} bytes, need at least ${FIXED_LENGTH + 4}` };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opByte = view.getUint8(0);
  if (opByte !== 1 && opByte !== 2) return { ok: false, error: `not a BOOTP message: op ${opByte}` };
  if (view.getUint32(FIXED_LENGTH) !== MAGIC_COOKIE) return { ok: false, error: "no DHCP magic cookie" };

  const options = new Map<number, Uint8Array[]>();
  const main = collectOptions(bytes.subarray(FIXED_LENGTH + 4), options);
  if (!main.ok) return main;
  const overload = joined(options, OPT.overload)?.[0] ?? 0;
  // RFC 2131 4.1: options in `file` come before those in `sname`.
  if (overload === 1 || overload === 3) {
    const r = collectOptions(bytes.subarray(FILE.offset, FILE.offset + FILE.length), options);
    if (!r.ok) return r;
  }
  if (overload === 2 || overload === 3) {
    const r = collectOptions(bytes.subarray(SNAME.offset, SNAME.offset + SNAME.length), options);
    if (!r.ok) return r;
  }

  const message: DhcpMessage = { op: opByte === 1 ? "request" : "reply", xid: view.getUint32(4) };
  const typeByte = joined(options, OPT.messageType)?.[0];
  if (typeByte !== undefined) {
    message.messageType = MESSAGE_TYPES[typeByte - 1] ?? "other";
  }
  const htype = view.getUint8(1);
  const hlen = view.getUint8(2);
  if (htype === 1 && hlen === 6) message.clientMac = formatMac(bytes, 28);
  const ciaddr = ipv4At(bytes, 12);
  if (ciaddr !== undefined) message.ciaddr = ciaddr;
  const yiaddr = ipv4At(bytes, 16);
  if (yiaddr !== undefined) message.yiaddr = yiaddr;

  const requested = joined(options, OPT.requestedIp);
  if (requested?.length === 4) {
    const ip = ipv4At(requested, 0);
    if (ip !== undefined) message.requestedIp = ip;
  }
  const server = joined(options, OPT.serverId);
  if (server?.length === 4) {
    const ip = ipv4At(server, 0);
    if (ip !== undefined) message.serverId = ip;
  }
  const hostname = joined(options, OPT.hostname);
  if (hostname !== undefined) {
    const h = sanitiseHostname(hostname);
    if (h !== undefined) message.hostname = h;
  }
  const vendor = joined(options, OPT.vendorClass);
  if (vendor !== undefined) {
    const v = sanitiseText(decodeUntrusted(vendor), MAX_VENDOR_CLASS);
    if (v !== "") message.vendorClass = v;
  }
  const clientId = joined(options, OPT.clientId);
  if (clientId !== undefined && clientId.length > 0) {
    message.clientId = toHex(clientId.subarray(0, MAX_CLIENT_ID_BYTES));
  }
  return { ok: true, value: message };
}

/**
 * Reads the options of one area into `into` (instances of one code appended in order).
 * An area without an end option is accepted when it ends exactly at an option boundary: some
 * clients omit the end option, and padding to the end is common. An option running past the
 * end of the area is an error: the message was truncated or is not DHCP.
 */
function collectOptions(area: Uint8Array, into: Map<number, Uint8Array[]>): { ok: true } | { ok: false; error: string } {
  let i = 0;
  while (i < area.length) {
    const code = area[i] ?? OPT.end;
    if (code === OPT.end) return { ok: true };
    if (code === OPT.pad) {
      i++;
      continue;
    }
    const len = area[i + 1];
    if (len === undefined || i + 2 + len > area.length) {
      return { ok: false, error: `DHCP option ${code} at offset ${i} runs past the end of the message` };
    }
    const list = into.get(code) ?? [];
    list.push(area.subarray(i + 2, i + 2 + len));
    into.set(code, list);
    i += 2 + len;
  }
  return { ok: true };
}

/** All instances of an option joined (RFC 3396), or undefined when absent. */
function joined(options: Map<number, Uint8Array[]>, code: number): Uint8Array | undefined {
  const parts = options.get(code);
  if (parts === undefined) return undefined;
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Dotted quad at `offset`; undefined for 0.0.0.0 (DHCP's "none") or when out of range. */
function ipv4At(bytes: Uint8Array, offset: number): string | undefined {
  if (offset + 4 > bytes.length) return undefined;
  const q = [bytes[offset] ?? 0, bytes[offset + 1] ?? 0, bytes[offset + 2] ?? 0, bytes[offset + 3] ?? 0];
  return q.every((b) => b === 0) ? undefined : q.join(".");
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
