/**
 * What a datagram parser returns: a record, or why the datagram was rejected. Rejection is
 * an expected outcome (the network sends garbage), so it is a value, never an exception.
 */

/** Why a datagram was not accepted. The receiver counts rejections per reason. */
export type RejectReason =
  /** Zero bytes. */
  | "empty"
  /** Larger than the parser's bound (see MAX_DATAGRAM_BYTES). */
  | "too-large"
  /** Neither ulogd JSON (`{`) nor syslog (`<`). */
  | "unknown-format"
  /** The sender's address may not send this kind of datagram. */
  | "source-not-allowed"
  /** ulogd: not JSON, or not one JSON object. */
  | "not-json"
  /** ulogd: a JSON object without the fields of a logged IP packet. */
  | "not-ip-packet"
  /** syslog: no PRI where one is required. */
  | "no-pri"
  /** syslog: PRI present but not `<0>`…`<191>`. */
  | "bad-pri"
  /** syslog: RFC 5424 header fields missing or malformed, or an unknown version. */
  | "bad-header"
  /** syslog: RFC 5424 STRUCTURED-DATA malformed or over its bounds. */
  | "bad-structured-data";

export type ParseResult<T> =
  | { ok: true; record: T }
  /** `detail` is our own words for a log line; it never echoes the datagram. */
  | { ok: false; reason: RejectReason; detail: string };

/**
 * The largest datagram any parser here looks at: 8 KiB. rsyslog's default maxMessageSize is
 * 8 KiB and RFC 5426 asks receivers to take at least 2 KiB; a ulogd JSON record is about
 * 1 KiB (the log prefix is at most 127 bytes). Anything larger is rejected unread, which
 * bounds the work and memory one datagram can cost.
 */
export const MAX_DATAGRAM_BYTES = 8192;

export function reject<T>(reason: RejectReason, detail: string): ParseResult<T> {
  return { ok: false, reason, detail };
}
