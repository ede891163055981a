/**
 * Domain names as text and as wire bytes. Lists and the policy give names as text; the
 * network gives wire-format names (RFC 1035 3.1: length-prefixed labels). Both meet in the
 * matcher's hash, which is defined over wire labels, so a name that only the wire can
 * express (a "." or a NUL byte inside a label) can never match a text rule by accident.
 *
 * Everything here is pure and allocation-light; nothing here interprets a name.
 */

/** A name as the lists and the policy write it, normalised: lower-case ASCII (punycode), no trailing dot. */
export type NormalName = string & { readonly __normalName: unique symbol };

export type NameProblem =
  | "empty"
  | "too-long"
  | "label-empty"
  | "label-too-long"
  | "bad-character"
  | "ip-address"
  | "bad-idn";

/** Wire limits (RFC 1035 2.3.4). */
export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;
/** A 255-byte wire name has at most 127 labels plus the root. */
export const MAX_LABELS = 127;

const IPV4_LIKE = /^\d+(\.\d+){3}$/;

/**
 * True for the bytes a host name label may hold in our lists: a-z 0-9 "-" "_". Real lists
 * carry underscores (service names) and labels that start or end with "-", which resolvers
 * happily answer, so those are accepted.
 */
function isLdhCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}

/**
 * Normalises a name written as text (a list line, a policy entry, CLI input): trims,
 * lower-cases, drops one trailing dot, turns an internationalised name into punycode
 * (IDNA through the WHATWG URL host parser, which both runtimes implement), and checks the
 * label and length limits. IP addresses are refused: a domain list that names an address
 * means an address filter, which is the firewall's job, not the DNS filter's.
 */
export function normaliseName(input: string): { ok: true; name: NormalName } | { ok: false; problem: NameProblem } {
  let s = input.trim();
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length === 0) return { ok: false, problem: "empty" };
  if (s.length > 1024) return { ok: false, problem: "too-long" };
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) { ascii = false; break; }
  if (!ascii) {
    const converted = toAsciiHost(s);
    if (converted === undefined) return { ok: false, problem: "bad-idn" };
    s = converted;
  }
  s = s.toLowerCase();
  const problem = checkNormalText(s, 0, s.length);
  if (problem) return { ok: false, problem };
  return { ok: true, name: s as NormalName };
}

/**
 * Checks s[start, end) as a lower-case ASCII name without a trailing dot. Returns the
 * problem, or undefined when it is a good name. Used on the hot path of list parsing, so it
 * works on a slice of a bigger string without copying it.
 */
export function checkNormalText(s: string, start: number, end: number): NameProblem | undefined {
  const len = end - start;
  if (len === 0) return "empty";
  // Wire length = text length + 2 (first length byte, root byte) for names without escapes.
  if (len + 2 > MAX_NAME_WIRE) return "too-long";
  let labelStart = start;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : s.charCodeAt(i);
    if (c === 46) {
      const l = i - labelStart;
      if (l === 0) return "label-empty";
      if (l > MAX_LABEL) return "label-too-long";
      labelStart = i + 1;
    } else if (!isLdhCode(c)) {
      return "bad-character";
    }
  }
  // Numeric-looking names are IPv4 addresses in every resolver library; never a domain.
  if (len <= 15 && IPV4_LIKE.test(s.slice(start, end))) return "ip-address";
  return undefined;
}

/** IDNA ToASCII through the URL host parser; undefined when it is not a valid host. */
function toAsciiHost(s: string): string | undefined {
  // The URL parser treats these as path/port/userinfo delimiters or rejects them; none may
  // appear in a name, so refuse them up front rather than let the parser reinterpret them.
  if (/[\s/\\?#@:%[\]<>^|]/.test(s)) return undefined;
  let host: string;
  try {
    host = new URL(`http://${s}/`).hostname;
  } catch {
    return undefined;
  }
  if (host.startsWith("[") || IPV4_LIKE.test(host)) return undefined;
  return host;
}

/** Encodes a normalised name as wire bytes (length-prefixed labels and the root byte). */
export function encodeWireName(name: NormalName): Uint8Array {
  const out = new Uint8Array(name.length + 2);
  let lenAt = 0;
  let w = 1;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 46) {
      out[lenAt] = w - lenAt - 1;
      lenAt = w++;
    } else {
      out[w++] = c;
    }
  }
  out[lenAt] = w - lenAt - 1;
  out[w++] = 0;
  return out.subarray(0, w);
}

/**
 * Presentation text of the wire labels at `offsets` (label offsets into `buf`, leftmost
 * first): lower-cased, with RFC 1035 5.1 escapes for every byte that could confuse a reader
 * or a log line: "." and "\" inside a label as "\." "\\", anything outside printable ASCII
 * as "\DDD". The result is plain ASCII without control characters, safe to log; HTML still
 * needs its own escaping at the page.
 */
export function presentLabels(buf: Uint8Array, offsets: ArrayLike<number>, count: number): string {
  if (count === 0) return ".";
  let out = "";
  for (let k = 0; k < count; k++) {
    const o = offsets[k] ?? 0;
    const len = buf[o] ?? 0;
    if (k > 0) out += ".";
    for (let i = o + 1; i <= o + len; i++) {
      let c = buf[i] ?? 0;
      if (c >= 65 && c <= 90) c |= 32;
      if (c === 46 || c === 92) out += `\\${String.fromCharCode(c)}`;
      else if (c <= 32 || c >= 127 || c === 34 || c === 59 || c === 40 || c === 41) out += `\\${c.toString().padStart(3, "0")}`;
      else out += String.fromCharCode(c);
    }
  }
  return out;
}
