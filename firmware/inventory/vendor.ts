/**
 * MAC vendor lookup from the IEEE registries (MA-L, MA-M, MA-S), as shipped by the `oui-data`
 * npm package (BSD-2-Clause): one JSON object from upper-case hex prefix (6, 7 or 9 digits)
 * to the organisation's name and postal address, 5.6 MB.
 *
 * The table is built straight from the file's bytes, without JSON.parse and without a string
 * per entry: each prefix becomes a number in a sorted typed array, and the first line of its
 * value (the organisation) is copied into one byte buffer, decoded only when looked up.
 * About 2 MB stay resident. Measured under Deno 2.9.6: JSON.parse of the file left the process
 * about 50 MB larger (the object and its 53k address strings reach the old generation before
 * they die, and V8 keeps the pages); building strings per entry, about 40 MB.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { appPath } from "../app-root.ts";
import { classifyMac, parseMac } from "./mac.ts";
import { sanitiseText } from "./text.ts";

/** Longest vendor name kept (the registry's longest is about 100 characters). */
const MAX_VENDOR_NAME = 80;

type PrefixIndex = {
  bits: 36 | 28 | 24;
  /** Prefix values (36 bits fit a double exactly), ascending. */
  keys: Float64Array;
  /** Where each key's name is in `text`, and its length in bytes. */
  starts: Uint32Array;
  lengths: Uint16Array;
};

/** The compact registry: build with parseVendorRegistry / loadVendorTable, query with lookupVendor. */
export type VendorTable = {
  /** MA-S (36-bit), MA-M (28-bit) and MA-L (24-bit) prefixes, longest first. */
  readonly indexes: readonly PrefixIndex[];
  /** The organisation lines, as the file has them (UTF-8, JSON escapes still in). */
  readonly text: Uint8Array;
  /** Prefixes loaded, and entries skipped (a key that is not 6, 7 or 9 hex digits). */
  readonly size: number;
  readonly skipped: number;
};

export type VendorLookup =
  | { kind: "vendor"; name: string; /** The registry prefix that matched, upper-case hex. */ prefix: string }
  /** Locally administered (phones on Wi-Fi randomise theirs): the OUI says nothing about the maker. */
  | { kind: "randomised" }
  /** Multicast / broadcast or not a MAC: not one device. */
  | { kind: "invalid" }
  /** A global address whose prefix is not in the registry. */
  | { kind: "unknown" };

export type VendorTableResult = { ok: true; value: VendorTable } | { ok: false; error: string };

const DIGITS_TO_BITS: Record<number, 36 | 28 | 24> = { 9: 36, 7: 28, 6: 24 };
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Builds the table from the registry file's bytes: one JSON object whose values are all
 * strings. Anything else is refused with the byte offset where it went wrong. Keys that are
 * not 6, 7 or 9 hex digits are skipped and counted.
 */
export function parseVendorRegistry(bytes: Uint8Array): VendorTableResult {
  // Parallel number arrays per prefix length: no object per entry (see the module comment).
  const found = new Map<number, { keys: number[]; starts: number[]; lengths: number[] }>(
    [36, 28, 24].map((bits) => [bits, { keys: [], starts: [], lengths: [] }]),
  );
  let size = 0;
  let skipped = 0;
  let textLength = 0;
  let i = 0;
  const ws = () => {
    while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  };
  /** Skips a JSON string at i; returns where its content starts and ends, and where its first line ends. */
  const string = (): { start: number; end: number; firstLineEnd: number } | undefined => {
    if (bytes[i] !== QUOTE) return undefined;
    const start = ++i;
    let firstLineEnd = -1;
    while (i < bytes.length && bytes[i] !== QUOTE) {
      if (bytes[i] === BACKSLASH) {
        if (firstLineEnd === -1 && bytes[i + 1] === 0x6e) firstLineEnd = i;
        i += 2;
      } else i++;
    }
    if (i >= bytes.length) return undefined;
    const end = i++;
    return { start, end, firstLineEnd: firstLineEnd === -1 ? end : firstLineEnd };
  };
  const fail = (what: string): VendorTableResult => ({ ok: false, error: `registry: ${what} at byte ${i}` });
  ws();
  if (bytes[i++] !== 0x7b) return fail("not a JSON object");
  ws();
  if (bytes[i] === 0x7d) i++;
  else {
    for (;;) {
      ws();
      const key = string();
      ws();
      if (key === undefined || bytes[i++] !== 0x3a) return fail('expected "key":');
      ws();
      const value = string();
      if (value === undefined) return fail("expected a string value");
      const parsed = hexKey(bytes, key.start, key.end);
      const length = Math.min(value.firstLineEnd - value.start, 0xffff);
      if (parsed === undefined || length === 0) skipped++;
      else {
        const bucket = found.get(parsed.bits);
        bucket?.keys.push(parsed.key);
        bucket?.starts.push(value.start);
        bucket?.lengths.push(length);
        textLength += length;
        size++;
      }
      ws();
      const next = bytes[i++];
      if (next === 0x7d) break;
      if (next !== 0x2c) return fail("expected , or }");
    }
  }
  // Only the organisation lines are kept: the 5.6 MB file is garbage once this returns.
  const text = new Uint8Array(textLength);
  let at = 0;
  const indexes = ([36, 28, 24] as const).map((bits): PrefixIndex => {
    const { keys, starts, lengths } = found.get(bits) ?? { keys: [], starts: [], lengths: [] };
    const order = Uint32Array.from(keys, (_, n) => n).sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0));
    const index: PrefixIndex = {
      bits,
      keys: new Float64Array(order.length),
      starts: new Uint32Array(order.length),
      lengths: new Uint16Array(order.length),
    };
    order.forEach((from, n) => {
      const start = starts[from] ?? 0;
      const length = lengths[from] ?? 0;
      index.keys[n] = keys[from] ?? 0;
      index.starts[n] = at;
      index.lengths[n] = length;
      text.set(bytes.subarray(start, start + length), at);
      at += length;
    });
    return index;
  });
  return { ok: true, value: { indexes, text, size, skipped } };
}

/** A 6, 7 or 9 digit hex key between start and end, as a number. */
function hexKey(bytes: Uint8Array, start: number, end: number): { bits: 36 | 28 | 24; key: number } | undefined {
  const bits = DIGITS_TO_BITS[end - start];
  if (bits === undefined) return undefined;
  let key = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i] ?? 0;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return undefined;
    key = key * 16 + digit;
  }
  return { bits, key };
}

/**
 * The vendor of a MAC (any text form parseMac accepts). Randomised (locally administered)
 * addresses are reported as such, never looked up: their first octets are random.
 */
export function lookupVendor(table: VendorTable, macText: string): VendorLookup {
  const mac = parseMac(macText);
  if (mac === undefined) return { kind: "invalid" };
  const kind = classifyMac(mac);
  if (kind === "group") return { kind: "invalid" };
  if (kind === "randomised") return { kind: "randomised" };
  const hex = mac.replaceAll(":", "");
  for (const index of table.indexes) {
    const digits = index.bits / 4;
    const i = search(index.keys, Number.parseInt(hex.slice(0, digits), 16));
    if (i === -1) continue;
    const start = index.starts[i] ?? 0;
    const name = decodeName(table.text.subarray(start, start + (index.lengths[i] ?? 0)));
    if (name !== "") return { kind: "vendor", name, prefix: hex.slice(0, digits).toUpperCase() };
  }
  return { kind: "unknown" };
}

/** An organisation line as the file has it (JSON escapes in), as clean bounded text. */
function decodeName(raw: Uint8Array): string {
  let text = new TextDecoder().decode(raw);
  if (raw.includes(BACKSLASH)) {
    try {
      text = JSON.parse(`"${text}"`) as string;
    } catch {
      // An escape cut by the length bound: keep the raw text.
    }
  }
  return sanitiseText(text, MAX_VENDOR_NAME);
}

/** What to show for a lookup: the vendor's name, or a word for the other kinds. */
export function describeVendor(lookup: VendorLookup, lang: "ja" | "en"): string {
  switch (lookup.kind) {
    case "vendor":
      return lookup.name;
    case "randomised":
      return lang === "ja" ? "ランダムMAC" : "randomised";
    case "unknown":
      return lang === "ja" ? "不明" : "unknown";
    case "invalid":
      return lang === "ja" ? "無効なMAC" : "invalid MAC";
  }
}

function search(keys: Float64Array, value: number): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] ?? 0;
    if (k === value) return mid;
    if (k < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Where the installed `oui-data` package keeps its registry file. */
export function resolveOuiDataPath(): string {
  // From the application root: in the bundle, import.meta.url is the bundle file.
  return createRequire(appPath("package.json")).resolve("oui-data");
}

/** Thrown when the registry file cannot be read or is not a registry. */
export class VendorTableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VendorTableError";
  }
}

/**
 * Reads the registry file and builds the table (measured: 0.1–0.3 s). `path` defaults to the
 * installed `oui-data` package.
 */
export async function loadVendorTable(path: string = resolveOuiDataPath()): Promise<VendorTable> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new VendorTableError(`cannot read the MAC vendor registry ${path}: ${(cause as Error).message}`, { cause });
  }
  const table = parseVendorRegistry(bytes);
  if (!table.ok) throw new VendorTableError(`${path}: ${table.error}`);
  return table.value;
}
