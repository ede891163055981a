/**
 * Text that came from the network (DHCP hostnames, syslog messages, domains) goes into
 * alerts, e-mails, syslog and web pages. It is kept as plain text (escaping is each
 * renderer's job) but never carries control characters, bidirectional overrides or
 * unpaired surrogates, and never grows past a bound.
 */

// C0, DEL, C1; zero-width and byte-order marks; bidi embeddings, overrides and isolates
// (they can make "exe.txt" read as "txt.exe"); line and paragraph separators.
// deno-lint-ignore no-control-regex
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
const BREAKS = /[\t\n\r\u2028\u2029\u0085]+/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const SPACES = / {2,}/g;
/** Printable ASCII words separated by single spaces: nothing to clean (the common case). */
const PLAIN = /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;

/**
 * Cleans untrusted text: line breaks and tabs become a space, other control and invisible
 * formatting characters are removed, unpaired surrogates become U+FFFD, runs of spaces
 * collapse, and the result is at most `maxChars` code points (ending in "…" when cut).
 */
export function cleanText(input: string, maxChars: number): string {
  if (maxChars < 1) return "";
  if (input.length <= maxChars && PLAIN.test(input)) return input;
  // Bound the work first: cleaning only removes or shrinks, so a prefix a few times the
  // bound is all that can matter (a 10 MB "name" costs as much as a short one).
  let s = input.length > maxChars * 4 + 64 ? input.slice(0, maxChars * 4 + 64) : input;
  s = s.replace(LONE_SURROGATE, "\uFFFD").replace(BREAKS, " ").replace(INVISIBLE, "").replace(SPACES, " ").trim();
  const points = Array.from(s);
  if (points.length <= maxChars) return s;
  return `${points.slice(0, maxChars - 1).join("").trimEnd()}…`;
}

const ADDRESS = /^[0-9A-Fa-f:.]{1,45}$/;

/**
 * An IP or MAC address as it goes into an alert: lower-case when it looks like one,
 * otherwise cleaned text of at most 45 characters (the parsers upstream should never let
 * anything else through, but an alert must not trust that).
 */
export function cleanAddress(input: string): string {
  return ADDRESS.test(input) ? input.toLowerCase() : cleanText(input, 45);
}

/** True when `s` contains a character `cleanText` would never let through. */
export function hasControlCharacters(s: string): boolean {
  return [INVISIBLE, BREAKS, LONE_SURROGATE].some((re) => new RegExp(re.source).test(s));
}
