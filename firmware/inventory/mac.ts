/**
 * MAC addresses: the inventory's device identity. Always handled in one canonical text form,
 * lower-case "aa:bb:cc:dd:ee:ff", so a MAC from `ip neigh`, a DHCP chaddr and a ulogd record
 * compare equal.
 */

/** What the two flag bits of the first octet say about an address. */
export type MacKind =
  /** A globally unique address: its first three octets are an IEEE-assigned OUI. */
  | "global"
  /**
   * Locally administered (bit 0x02): chosen by software, not by the maker. Phones and laptops
   * use random ones on Wi-Fi (a new one per network), so the OUI says nothing about the maker.
   */
  | "randomised"
  /** Multicast or broadcast (bit 0x01): never one device. */
  | "group";

const COLON_FORM = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const SEPARATED = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/;
const BARE = /^[0-9a-f]{12}$/;
const DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/;

/**
 * The canonical form of a 48-bit MAC written as "aa:bb:cc:dd:ee:ff", "AA-BB-…",
 * "aabbccddeeff" or "aabb.ccdd.eeff"; undefined for anything else.
 */
export function parseMac(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  if (COLON_FORM.test(t)) return t;
  const sep = SEPARATED.exec(t);
  if (sep !== null) return sep.slice(1, 7).join(":");
  const bare = BARE.test(t) ? t : DOTTED.test(t) ? t.replaceAll(".", "") : undefined;
  return bare === undefined ? undefined : (bare.match(/../g) ?? []).join(":");
}

/** The canonical text of six bytes at `offset` (the caller checks there are six). */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((bytes[offset + i] ?? 0).toString(16).padStart(2, "0"));
  return parts.join(":");
}

/** The kind of a canonical MAC (see MacKind). */
export function classifyMac(mac: string): MacKind {
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if ((first & 0x01) !== 0) return "group";
  return (first & 0x02) !== 0 ? "randomised" : "global";
}

/** Whether a canonical MAC can be one device's: unicast and not all zeros. */
export function isDeviceMac(mac: string): boolean {
  return classifyMac(mac) !== "group" && mac !== "00:00:00:00:00:00";
}
