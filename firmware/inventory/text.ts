/**
 * Names that come from the network (DHCP hostnames, vendor classes) are untrusted text:
 * whatever a device sends is decoded leniently, stripped of anything that could change how
 * text around it is shown, and bounded. It is stored and displayed as text, never
 * interpreted: never in a shell command or an nft string (processes get argument arrays),
 * and the admin page escapes it like any other text.
 */

/** Longest DHCP hostname kept: one DNS label (RFC 1035), which is what option 12 carries. */
export const MAX_HOSTNAME = 63;
/** Longest vendor class (option 60) kept: enough for "MSFT 5.0", "android-dhcp-14", "udhcp 1.35.0". */
export const MAX_VENDOR_CLASS = 64;
/** Longest user-given device name. */
export const MAX_DEVICE_NAME = 64;

/**
 * C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text
 * (bidi embeddings, overrides and isolates, zero-width characters, BOM): a hostname with an
 * RLO in it would show its tail reversed in the device list.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;

/** Unpaired UTF-16 surrogates (JS strings may hold them; UTF-8 and SQLite text cannot). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\ufffd");
}

/** Bytes from the network as text: invalid UTF-8 becomes U+FFFD, never an exception. */
export function decodeUntrusted(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(bytes);
}

/**
 * Untrusted text made safe to store and show: unpaired surrogates replaced, unsafe
 * characters removed, surrounding white space trimmed, NFC, at most `max` code points
 * (never cutting a surrogate pair). Empty input gives "".
 */
export function sanitiseText(text: string, max: number): string {
  const cleaned = toWellFormed(text).replace(UNSAFE, "").normalize("NFC").trim();
  // UTF-16 length bounds the code points: most text needs no splitting into characters.
  if (cleaned.length <= max) return cleaned;
  const chars = Array.from(cleaned);
  return chars.length <= max ? cleaned : chars.slice(0, max).join("").trimEnd();
}

/** A DHCP hostname from the bytes of option 12; undefined when nothing printable is left. */
export function sanitiseHostname(bytes: Uint8Array): string | undefined {
  // Some clients NUL-terminate the option; what follows a NUL is not part of the name.
  const nul = bytes.indexOf(0);
  const s = sanitiseText(decodeUntrusted(nul === -1 ? bytes : bytes.subarray(0, nul)), MAX_HOSTNAME);
  return s === "" ? undefined : s;
}

/** Result of checking a user-given name: the name to store (null clears it) or why not. */
export type DeviceNameResult = { ok: true; value: string | null } | { ok: false; error: string };

/**
 * Checks a user-given device name (from the admin page or the CLI). Unlike network names it
 * is refused, not repaired: the person typing it gets told why. Blank clears the name.
 */
export function parseDeviceName(input: unknown): DeviceNameResult {
  if (input === null || input === undefined) return { ok: true, value: null };
  if (typeof input !== "string") return { ok: false, error: "the name must be text" };
  if (toWellFormed(input) !== input) return { ok: false, error: "the name is not valid Unicode text" };
  const name = input.normalize("NFC").trim();
  if (name === "") return { ok: true, value: null };
  if (new RegExp(UNSAFE.source, "u").test(name)) {
    return { ok: false, error: "the name must not contain control or invisible formatting characters" };
  }
  const length = Array.from(name).length;
  if (length > MAX_DEVICE_NAME) {
    return { ok: false, error: `the name is ${length} characters long; at most ${MAX_DEVICE_NAME} are allowed` };
  }
  return { ok: true, value: name };
}
