/**
 * The DatagramSocket on `Deno.listenDatagram` (Deno with --unstable-net): about 1.4× the
 * datagram rate of node:dgram under Deno on this VM (DESIGN "Runtime").
 *
 * One receive buffer of 64 KiB is reused for every datagram: without one, Deno allocates a
 * fresh 64 KiB buffer per receive. That is why a handler must not keep `data`.
 */
import {
  DatagramBindError,
  DatagramSocketError,
  normalisePeerAddress,
  type DatagramHandler,
  type DatagramPeer,
  type DatagramSocket,
  type DenoDatagramApi,
  type DenoDatagramConn,
} from "./socket-types.ts";

/** The largest UDP payload (65,535 minus the IPv4 and UDP headers) fits: nothing is cut. */
const RECEIVE_BUFFER_BYTES = 65_536;
/** After a failed receive, wait 10 ms, doubling up to 1 s, so a persistent fault cannot spin. */
const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 1000;

/** Binds with Deno.listenDatagram; rejects with DatagramBindError. */
export function bindDenoDatagramSocket(
  deno: DenoDatagramApi,
  options: { address: string; port: number },
): Promise<DatagramSocket> {
  try {
    const conn = deno.listenDatagram({ transport: "udp", hostname: options.address, port: options.port });
    return Promise.resolve(new DenoDatagramSocket(conn));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return Promise.reject(
      new DatagramBindError(`cannot bind UDP ${options.address}:${options.port}: ${(err as Error).message}`, {
        cause: err,
        ...(typeof code === "string" ? { code } : {}),
      }),
    );
  }
}

class DenoDatagramSocket implements DatagramSocket {
  readonly implementation = "deno" as const;
  readonly #conn: DenoDatagramConn;
  #handler: DatagramHandler | undefined;
  #errorHandler: ((error: DatagramSocketError) => void) | undefined;
  #loop: Promise<void> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #local: DatagramPeer;

  constructor(conn: DenoDatagramConn) {
    this.#conn = conn;
    this.#local = { address: conn.addr.hostname, port: conn.addr.port };
  }

  onMessage(handler: DatagramHandler): void {
    this.#handler = handler;
    this.#loop ??= this.#receiveLoop();
  }

  onError(handler: (error: DatagramSocketError) => void): void {
    this.#errorHandler = handler;
  }

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    let retryMs = RETRY_FIRST_MS;
    while (!this.#closing) {
      let received: [Uint8Array, { hostname: string; port: number }];
      try {
        received = await this.#conn.receive(buffer);
      } catch (err) {
        if (this.#closing) return; // close() interrupts the pending receive
        this.#errorHandler?.(new DatagramSocketError(`UDP receive failed: ${(err as Error).message}`, { cause: err }));
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
        continue;
      }
      retryMs = RETRY_FIRST_MS;
      const [data, addr] = received;
      try {
        this.#handler?.(data, { address: normalisePeerAddress(addr.hostname), port: addr.port });
      } catch (err) {
        // A handler bug must not stop the receive loop: report it and go on.
        this.#errorHandler?.(new DatagramSocketError("datagram handler threw", { cause: err }));
      }
    }
  }

  async send(data: Uint8Array, port: number, address: string): Promise<void> {
    // Deno.listenDatagram takes any number and sends to it modulo 65536.
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
      throw new DatagramSocketError(`cannot send to ${address}:${port}: not a port`, { code: "ERR_SOCKET_BAD_PORT" });
    }
    try {
      await this.#conn.send(data, { transport: "udp", hostname: address, port });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new DatagramSocketError(`cannot send to ${address}:${port}: ${(err as Error).message}`, {
        cause: err,
        ...(typeof code === "string" ? { code } : {}),
      });
    }
  }

  local(): DatagramPeer {
    return this.#local;
  }

  recvBufferBytes(): number | undefined {
    return undefined;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#conn.close();
      await this.#loop;
    })();
    return this.#closed;
  }
}
