/**
 * The log receiver: one UDP port for ulogd's JSON (packet records, from loopback) and
 * syslog (from the allowed source prefixes). Each datagram is parsed on arrival and the
 * record goes into a bounded queue; the consumer (the events writer) takes batches.
 *
 * Nothing vanishes silently: every datagram taken off the socket is counted once as
 * accepted (queued), rejected (could not be parsed, or came from a source that may not
 * send it) or dropped (parsed, but the queue was full), so
 * received = accepted + rejected + dropped at every moment. Datagrams the kernel drops
 * before we read them (receive buffer full) are the socket's own counter: see
 * readUdpSocketStats in udp-stats.ts.
 *
 * Draining: `onReadable` fires when the queue goes from empty to non-empty, once, not per
 * record. A consumer that writes in windows (≤ 250 ms) arms its timer there and, when the
 * timer fires, calls takeBatch until it returns fewer records than it asked for. A
 * consumer that takes only part of the queue gets no new notification until the queue has
 * been empty again, so it must keep draining (or poll `pending`).
 */
import { BoundedQueue } from "./bounded-queue.ts";
import { LOOPBACK_PREFIXES, parseDatagram, parseSourcePrefixes, type DatagramParseOptions } from "./datagram.ts";
import type { RejectReason } from "./parse-result.ts";
import { bindDatagramSocket, type BindDatagramOptions, type DatagramPeer, type DatagramSocket } from "./socket.ts";
import type { SyslogParseOptions } from "./syslog.ts";
import type { LogRecord, ReceiverCounters } from "./types.ts";

/** Default queue capacity: two 250 ms windows at 50k records/s, with room to spare. */
export const DEFAULT_QUEUE_CAPACITY = 32_768;

export type LogReceiverOptions = {
  /** Records the queue holds before new ones are dropped (default DEFAULT_QUEUE_CAPACITY). */
  capacity?: number;
  /**
   * Prefixes whose syslog is accepted (default loopback only: the box's own relay). The
   * firmware adds the LAN prefixes when LAN devices may send syslog. ulogd JSON is always
   * accepted from loopback only.
   */
  syslogSources?: readonly string[];
  syslog?: SyslogParseOptions;
  /** The clock, ms since epoch (tests pass their own). */
  now?: () => number;
  /** Errors of the socket or of a callback; the receiver keeps running. */
  onError?: (error: Error) => void;
};

/** Thrown by start() twice, or reported when the readable callback throws. */
export class LogReceiverError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LogReceiverError";
  }
}

export class LogReceiver {
  readonly #socket: DatagramSocket;
  readonly #options: LogReceiverOptions;
  readonly #queue: BoundedQueue<LogRecord>;
  readonly #counters: ReceiverCounters = { received: 0, accepted: 0, rejected: 0, dropped: 0 };
  readonly #rejections: Partial<Record<RejectReason, number>> = {};
  #readable: (() => void) | undefined;
  #started = false;

  /** Keeps its arguments; `start()` begins reading the socket. */
  constructor(socket: DatagramSocket, options: LogReceiverOptions = {}) {
    this.#socket = socket;
    this.#options = options;
    this.#queue = new BoundedQueue<LogRecord>(options.capacity ?? DEFAULT_QUEUE_CAPACITY);
  }

  /**
   * Starts taking datagrams off the socket. Throws RangeError for a bad source prefix and
   * LogReceiverError when already started.
   */
  start(): void {
    if (this.#started) throw new LogReceiverError("log receiver already started");
    const parseOptions: DatagramParseOptions = {
      syslogSources: parseSourcePrefixes(this.#options.syslogSources ?? LOOPBACK_PREFIXES),
      ...(this.#options.syslog === undefined ? {} : { syslog: this.#options.syslog }),
    };
    const now = this.#options.now ?? Date.now;
    this.#started = true;
    this.#socket.onError((e) => this.#options.onError?.(e));
    this.#socket.onMessage((data, peer) => this.#receive(data, peer, now(), parseOptions));
  }

  #receive(data: Uint8Array, peer: DatagramPeer, now: number, options: DatagramParseOptions): void {
    const c = this.#counters;
    c.received += 1;
    const result = parseDatagram(data, peer.address, now, options);
    if (!result.ok) {
      c.rejected += 1;
      this.#rejections[result.reason] = (this.#rejections[result.reason] ?? 0) + 1;
      return;
    }
    if (!this.#queue.push(result.record)) {
      c.dropped += 1;
      return;
    }
    c.accepted += 1;
    if (this.#queue.size === 1 && this.#readable !== undefined) {
      try {
        this.#readable();
      } catch (err) {
        this.#options.onError?.(new LogReceiverError("onReadable callback threw", { cause: err }));
      }
    }
  }

  /** Sets the callback for "the queue was empty and now holds a record" (replaces any earlier one). */
  onReadable(callback: () => void): void {
    this.#readable = callback;
  }

  /** Removes and returns up to `max` records, oldest first (all of them by default). */
  takeBatch(max?: number): LogRecord[] {
    return this.#queue.take(max);
  }

  /** Records waiting in the queue. */
  get pending(): number {
    return this.#queue.size;
  }

  get capacity(): number {
    return this.#queue.capacity;
  }

  /** A snapshot of the counters (received = accepted + rejected + dropped). */
  counters(): ReceiverCounters {
    return { ...this.#counters };
  }

  /** Rejected datagrams per reason (a snapshot; reasons never seen are absent). */
  rejections(): Partial<Record<RejectReason, number>> {
    return { ...this.#rejections };
  }

  /** The bound address and port. */
  local(): DatagramPeer {
    return this.#socket.local();
  }

  /** The socket's receive buffer as the kernel reports it (Node), undefined when unknown (Deno). */
  recvBufferBytes(): number | undefined {
    return this.#socket.recvBufferBytes();
  }

  /** Which socket implementation carries it ("deno" or "node"). */
  get implementation(): DatagramSocket["implementation"] {
    return this.#socket.implementation;
  }

  /** Stops receiving and releases the port. Records still queued stay available to takeBatch. */
  close(): Promise<void> {
    return this.#socket.close();
  }
}

export type BindLogReceiverOptions = LogReceiverOptions & BindDatagramOptions;

/**
 * The hot path's receive buffer: with 4 MiB, Node was loss-free at 200k datagrams/s where
 * the default 208 KiB dropped bursts (DESIGN "Runtime"). It needs net.core.rmem_max ≥ 4 MiB.
 */
export const DEFAULT_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Binds the log port (with a 4 MiB receive buffer under Node unless told otherwise) and
 * starts a receiver on it. Rejects with DatagramBindError when the port cannot be bound.
 */
export async function bindLogReceiver(options: BindLogReceiverOptions): Promise<LogReceiver> {
  const socket = await bindDatagramSocket({
    address: options.address,
    port: options.port,
    recvBufferBytes: options.recvBufferBytes ?? DEFAULT_RECV_BUFFER_BYTES,
    // Throughput over latency: ulogd floods come in bursts, and nobody waits on a reply.
    batching: true,
    ...(options.implementation === undefined ? {} : { implementation: options.implementation }),
  });
  const receiver = new LogReceiver(socket, options);
  try {
    receiver.start();
  } catch (err) {
    await socket.close();
    throw err;
  }
  return receiver;
}
