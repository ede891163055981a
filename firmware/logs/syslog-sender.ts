/**
 * RFC 5424 over UDP (RFC 5426) to a collector: a pure formatter and a fire-and-forget
 * sender that counts what it sent and what failed. The alerts engine forwards alerts
 * through it when the provider configured a collector.
 */
import { bindDatagramSocket, type DatagramSocket } from "./socket.ts";
import { familyOf } from "./socket-types.ts";
import { SYSLOG_BOUNDS } from "./syslog.ts";
import { cleanText, cleanValue, ELLIPSIS } from "./text.ts";

export type SyslogMessage = {
  /** 0 (kern) … 23 (local7). */
  facility: number;
  /** 0 (emerg) … 7 (debug). */
  severity: number;
  /** ms since epoch; absent → NILVALUE. */
  timestamp?: number;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  /** SD-ID → PARAM-NAME → value. An SD-ID without "@" must be IANA-registered (RFC 5424 §6.3.2). */
  structuredData?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  message?: string;
};

/**
 * Default size bound of a formatted message: RFC 5426 §3.2 asks every receiver to accept
 * 2048 bytes, so a message of that size reaches any collector whole.
 */
export const DEFAULT_SYSLOG_MAX_BYTES = 2048;
/** The smallest bound that always fits the largest header and a cut message. */
const MIN_MAX_BYTES = 600;

const NIL = "-";
const BOM = "\ufeff";
const ENCODER = new TextEncoder();

/** Printable US-ASCII only (RFC 5424 header fields), at most `max` characters; "-" when nothing is left. */
function headerField(value: string | undefined, max: number): string {
  if (value === undefined) return NIL;
  const clean = value.replace(/[^\x21-\x7e]/g, "").slice(0, max);
  return clean === "" ? NIL : clean;
}

/** SD-NAME: printable US-ASCII except = SP ] " (RFC 5424 §6.3.2, §6.3.3); "" when nothing is left. */
function sdName(value: string): string {
  return value.replace(/[^\x21-\x7e]|[=\]"]/g, "").slice(0, SYSLOG_BOUNDS.sdName);
}

/** PARAM-VALUE: the three characters RFC 5424 §6.3.3 requires escaped, escaped. */
function escapeParamValue(value: string): string {
  return cleanValue(value, SYSLOG_BOUNDS.sdValue).replace(/["\\\]]/g, (c) => `\\${c}`);
}

function formatTimestamp(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return NIL;
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  // toISOString's six-digit years (+275760-…) are not RFC 3339.
  return year < 1 || year > 9999 ? NIL : d.toISOString();
}

function formatStructuredData(sd: SyslogMessage["structuredData"]): string {
  if (sd === undefined) return NIL;
  let out = "";
  for (const [id, params] of Object.entries(sd).slice(0, SYSLOG_BOUNDS.sdElements)) {
    const name = sdName(id);
    if (name === "") continue;
    out += `[${name}`;
    for (const [key, value] of Object.entries(params).slice(0, SYSLOG_BOUNDS.sdParams)) {
      const param = sdName(key);
      if (param !== "") out += ` ${param}="${escapeParamValue(value)}"`;
    }
    out += "]";
  }
  return out === "" ? NIL : out;
}

/** `bytes` cut to at most `max` bytes at a UTF-8 character boundary. */
function cutUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = Math.max(0, max);
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1; // not inside a character
  return bytes.subarray(0, end);
}

/**
 * One message as an RFC 5424 datagram (pure): header fields reduced to printable ASCII and
 * their RFC bounds, absent ones as NILVALUE, SD-PARAM values with `"` `\` `]` escaped,
 * the text after a BOM (MSG-UTF8) with control characters replaced. At most `maxBytes`
 * (default 2048): the message text is cut first (ending with "…"), then the structured data
 * is dropped. Throws RangeError for a facility or severity out of range (a caller's bug).
 */
export function formatSyslog5424(msg: SyslogMessage, options: { maxBytes?: number } = {}): Uint8Array {
  const { facility, severity } = msg;
  if (!Number.isInteger(facility) || facility < 0 || facility > 23) throw new RangeError(`syslog facility must be 0-23: ${facility}`);
  if (!Number.isInteger(severity) || severity < 0 || severity > 7) throw new RangeError(`syslog severity must be 0-7: ${severity}`);
  const maxBytes = options.maxBytes ?? DEFAULT_SYSLOG_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_MAX_BYTES) throw new RangeError(`maxBytes must be an integer ≥ ${MIN_MAX_BYTES}: ${maxBytes}`);

  const header = [
    `<${facility * 8 + severity}>1`,
    formatTimestamp(msg.timestamp),
    headerField(msg.hostname, SYSLOG_BOUNDS.hostname),
    headerField(msg.appName, SYSLOG_BOUNDS.appName),
    headerField(msg.procId, SYSLOG_BOUNDS.procId),
    headerField(msg.msgId, SYSLOG_BOUNDS.msgId),
  ].join(" ");
  let head = ENCODER.encode(`${header} ${formatStructuredData(msg.structuredData)}`);
  if (head.length > maxBytes) head = ENCODER.encode(`${header} ${NIL}`);
  const text = cleanText(msg.message ?? "", Number.MAX_SAFE_INTEGER);
  if (text === "") return head;

  const prefix = ENCODER.encode(` ${BOM}`);
  let body = ENCODER.encode(text);
  const room = maxBytes - head.length - prefix.length;
  if (body.length > room) {
    const ellipsis = ENCODER.encode(ELLIPSIS);
    const cut = cutUtf8(body, room - ellipsis.length);
    body = new Uint8Array(cut.length + ellipsis.length);
    body.set(cut);
    body.set(ellipsis, cut.length);
  }
  const out = new Uint8Array(head.length + prefix.length + body.length);
  out.set(head);
  out.set(prefix, head.length);
  out.set(body, head.length + prefix.length);
  return out;
}

export type SyslogCollector = { address: string; port: number };

export type SyslogSenderOptions = {
  collector: SyslogCollector;
  /** Size bound of each datagram (default DEFAULT_SYSLOG_MAX_BYTES). */
  maxBytes?: number;
  /**
   * Sends not yet completed beyond which new messages fail at once (default 1024), so a
   * stalled network cannot pile up memory.
   */
  maxInFlight?: number;
};

export type SyslogSenderCounters = { sent: number; failed: number };

/**
 * Sends RFC 5424 messages to one collector, fire-and-forget: send() returns at once, and
 * the outcome is counted (sent when the kernel took the datagram, failed otherwise, with the
 * last error kept). UDP has no acknowledgement: "sent" means handed to the network.
 */
export class SyslogSender {
  readonly #socket: DatagramSocket;
  readonly #options: SyslogSenderOptions;
  readonly #counters: SyslogSenderCounters = { sent: 0, failed: 0 };
  readonly #inFlight = new Set<Promise<void>>();
  #lastError: Error | undefined;

  /** Keeps its arguments: the socket must be of the collector's family (see bindSyslogSender). */
  constructor(socket: DatagramSocket, options: SyslogSenderOptions) {
    this.#socket = socket;
    this.#options = options;
  }

  /**
   * Formats and sends one message without waiting. Throws RangeError only for a message no
   * collector could take (facility or severity out of range); network failures are counted.
   */
  send(msg: SyslogMessage): void {
    const bytes = formatSyslog5424(msg, this.#options.maxBytes === undefined ? {} : { maxBytes: this.#options.maxBytes });
    if (this.#inFlight.size >= (this.#options.maxInFlight ?? 1024)) {
      this.#counters.failed += 1;
      this.#lastError = new Error(`syslog sender: more than ${this.#options.maxInFlight ?? 1024} sends in flight`);
      return;
    }
    const { address, port } = this.#options.collector;
    const sending: Promise<void> = this.#socket.send(bytes, port, address).then(
      () => {
        this.#counters.sent += 1;
      },
      (err: unknown) => {
        this.#counters.failed += 1;
        this.#lastError = err instanceof Error ? err : new Error(String(err));
      },
    ).finally(() => {
      this.#inFlight.delete(sending);
    });
    this.#inFlight.add(sending);
  }

  /** A snapshot of the counters. */
  counters(): SyslogSenderCounters {
    return { ...this.#counters };
  }

  /** The last send failure, for status output. */
  lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Resolves when every send started so far has completed (sent or failed). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Waits for sends in flight, then closes the socket. */
  async close(): Promise<void> {
    await this.flush();
    await this.#socket.close();
  }
}

/** Binds an ephemeral socket of the collector's address family and returns a sender on it. */
export async function bindSyslogSender(options: SyslogSenderOptions): Promise<SyslogSender> {
  const address = familyOf(options.collector.address) === "udp6" ? "::" : "0.0.0.0";
  const socket = await bindDatagramSocket({ address, port: 0 });
  return new SyslogSender(socket, options);
}
