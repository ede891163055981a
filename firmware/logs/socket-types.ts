/**
 * The datagram socket interface (see socket.ts): its types, its errors and the helpers both
 * implementations share. A file of its own so that socket.ts can import the
 * implementations and they can import this without a cycle.
 */
import { ipVersion } from "../../policies/net.ts";

export type DatagramPeer = { readonly address: string; readonly port: number };

/**
 * Called once per datagram. `data` is only valid until the handler returns (the Deno
 * implementation reuses one receive buffer): copy it to keep it.
 */
export type DatagramHandler = (data: Uint8Array, peer: DatagramPeer) => void;

export type DatagramSocketImplementation = "deno-ffi" | "deno" | "node";

export interface DatagramSocket {
  /** Which implementation this is (the benches report it). */
  readonly implementation: DatagramSocketImplementation;
  /**
   * Sets the one message handler (a later call replaces it). Datagrams that arrive before
   * a handler is set are discarded (Node) or wait in the kernel's buffer (Deno): set it
   * right after binding.
   */
  onMessage(handler: DatagramHandler): void;
  /** Errors of the socket after binding (a failed receive); the socket keeps running. */
  onError(handler: (error: DatagramSocketError) => void): void;
  /** Sends one datagram; rejects with DatagramSocketError (too big, no route, wrong family). */
  send(data: Uint8Array, port: number, address: string): Promise<void>;
  /** The bound address and port (the port the kernel chose when bound to 0). */
  local(): DatagramPeer;
  /** SO_RCVBUF as the kernel reports it (Node, deno-ffi), or undefined when unknown (Deno.listenDatagram). */
  recvBufferBytes(): number | undefined;
  /** Stops receiving and releases the port. Idempotent. */
  close(): Promise<void>;
}

export type BindDatagramOptions = {
  /** Address to bind ("127.0.0.1", "0.0.0.0", "::" for both families). */
  address: string;
  /** 0 lets the kernel choose. */
  port: number;
  /** Requested SO_RCVBUF (Node and deno-ffi; see socket.ts). */
  recvBufferBytes?: number;
  /**
   * Receive in batches where the runtime allows (libc's recvmmsg through FFI under Deno):
   * about half the CPU per datagram, but each wait goes through a pool thread, which adds
   * latency when datagrams come one at a time (a DNS filter at 2k q/s: p99 1.4 against
   * 0.6 ms here). For the log receiver (throughput), not for DNS (latency). Default false.
   */
  batching?: boolean;
  /** Default "auto": under Deno the FFI socket when `batching` and allowed, else Deno.listenDatagram; else node:dgram. */
  implementation?: "auto" | DatagramSocketImplementation;
};

/** Base class of the socket errors; `code` is the system error code when there is one ("EADDRINUSE"). */
export class DatagramSocketError extends Error {
  readonly code: string | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, { cause: options?.cause });
    this.name = "DatagramSocketError";
    this.code = options?.code;
  }
}

/** Binding failed (address in use, not permitted, no such address, no Deno network API). */
export class DatagramBindError extends DatagramSocketError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options);
    this.name = "DatagramBindError";
  }
}

/** The part of Deno's unstable network API used here (typed locally so both runtimes type-check). */
export type DenoDatagramApi = {
  listenDatagram(options: { transport: "udp"; hostname: string; port: number }): DenoDatagramConn;
};
export type DenoNetAddr = { transport: string; hostname: string; port: number };
export type DenoDatagramConn = {
  readonly addr: DenoNetAddr;
  receive(buffer?: Uint8Array): Promise<[Uint8Array, DenoNetAddr]>;
  send(data: Uint8Array, addr: DenoNetAddr): Promise<number>;
  close(): void;
};

/** Deno's datagram API when this runs under Deno with `--unstable-net`, else undefined. */
export function denoDatagramApi(): DenoDatagramApi | undefined {
  const deno = (globalThis as { Deno?: Partial<DenoDatagramApi> }).Deno;
  return typeof deno?.listenDatagram === "function" ? (deno as DenoDatagramApi) : undefined;
}

/** Whether this runs under Deno (with or without the unstable network API). */
export function isDeno(): boolean {
  return typeof (globalThis as { Deno?: unknown }).Deno === "object";
}

/** "::ffff:192.0.2.1" (an IPv4 peer of a dual-stack socket) → "192.0.2.1"; anything else unchanged. */
export function normalisePeerAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** The socket family an address needs. */
export function familyOf(address: string): "udp4" | "udp6" {
  return ipVersion(address) === 6 ? "udp6" : "udp4";
}
