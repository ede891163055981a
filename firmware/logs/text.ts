/**
 * Untrusted text from datagrams, made safe to keep (pure). Everything a log record holds
 * came from the network or from a packet: it is decoded without ever throwing, stripped of
 * control and display-reordering characters (so a message cannot forge a second log line,
 * move the cursor of a terminal, or reorder what the admin page shows), and bounded.
 */

/**
 * C0 and C1 controls, DEL, the bidirectional formatting characters (a "trojan source"
 * message could otherwise show text in an order other than the one stored), and the BOM /
 * zero-width no-break space.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
/** Anything outside printable ASCII: the fast path skips all cleaning when this never matches. */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;
/** A surrogate half without its partner (JSON.parse of "\ud800" yields one). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Marks a string that was cut to its bound, so a reader knows there was more. */
export const ELLIPSIS = "\u2026";

const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const UTF8_LENIENT = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
/**
 * Japanese devices (older routers, NAS, printers) still send syslog in Shift_JIS. Both
 * runtimes ship the decoder (ICU on Node 20, encoding_rs on Deno); if one ever lacks it,
 * the text falls back to UTF-8 with replacement characters.
 */
const SHIFT_JIS_STRICT = createDecoder("shift_jis");

function createDecoder(label: string): TextDecoder | undefined {
  try {
    return new TextDecoder(label, { fatal: true, ignoreBOM: true });
  } catch {
    return undefined;
  }
}

/** Decodes bytes as UTF-8; invalid sequences become U+FFFD. Never throws. */
export function decodeUtf8(bytes: Uint8Array): string {
  return UTF8_LENIENT.decode(bytes);
}

/**
 * Decodes text of unknown encoding: UTF-8 when it is valid UTF-8, else Shift_JIS when it is
 * valid Shift_JIS, else UTF-8 with U+FFFD for each invalid sequence. Never throws.
 * A leading BOM is kept (RFC 5424 puts it before MSG, not at the start).
 */
export function decodeText(bytes: Uint8Array): string {
  try {
    return UTF8_STRICT.decode(bytes);
  } catch {
    // Not UTF-8: try the other encoding a Japanese office's devices use.
  }
  if (SHIFT_JIS_STRICT !== undefined) {
    try {
      return SHIFT_JIS_STRICT.decode(bytes);
    } catch {
      // Not Shift_JIS either: keep what is readable.
    }
  }
  return UTF8_LENIENT.decode(bytes);
}

/** Cuts `s` to at most `max` UTF-16 units without splitting a surrogate pair. */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return s.slice(0, end);
}

/**
 * A short field (host name, tag, prefix, SD-ID): unsafe characters removed, at most `max`
 * UTF-16 units (cut silently: these are identifiers, not prose).
 */
export function cleanField(s: string, max: number): string {
  if (s.length <= max && !NOT_PRINTABLE_ASCII.test(s)) return s;
  return cut(s.replace(LONE_SURROGATE, "\ufffd").replace(UNSAFE, ""), max);
}

/**
 * A value (an SD-PARAM value): each unsafe character becomes a space (so "a\nb" reads
 * "a b", not "ab"); text longer than `max` UTF-16 units is cut and ends with "…", so a
 * reader sees that it was cut.
 */
export function cleanValue(s: string, max: number): string {
  return bound(NOT_PRINTABLE_ASCII.test(s) ? s.replace(LONE_SURROGATE, "\ufffd").replace(UNSAFE, " ") : s, max);
}

/** Prose (a syslog message): as cleanValue, and trailing white space dropped. */
export function cleanText(s: string, max: number): string {
  return bound((NOT_PRINTABLE_ASCII.test(s) ? s.replace(LONE_SURROGATE, "\ufffd").replace(UNSAFE, " ") : s).trimEnd(), max);
}

function bound(s: string, max: number): string {
  if (s.length <= max) return s;
  return cut(s, max - ELLIPSIS.length) + ELLIPSIS;
}

/**
 * `s` without the line ends and NULs senders put after a message (LF, CRLF, a C string's
 * NUL). A loop, not /[\r\n\0]+$/: that regex is quadratic on a long run of newlines that
 * does not reach the end.
 */
export function trimLineEnd(s: string): string {
  let end = s.length;
  for (;;) {
    const c = s.charCodeAt(end - 1);
    if (c !== 10 && c !== 13 && c !== 0) break;
    end -= 1;
  }
  return end === s.length ? s : s.slice(0, end);
}
