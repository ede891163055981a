// An in-memory DatagramSocket for tests of code that owns one (the receiver, the sender):
// datagrams are delivered by the test, sends are recorded. The real sockets are tested on
// loopback in socket.test.ts and receiver-socket.test.ts.
import type { DatagramHandler, DatagramPeer, DatagramSocket } from "../../../firmware/logs/socket.ts";
import { DatagramSocketError } from "../../../firmware/logs/socket.ts";

export type MemorySocket = DatagramSocket & {
  /** Hands one datagram to the handler, as the socket would. */
  deliver(data: Uint8Array | string, peer?: DatagramPeer): void;
  readonly sent: { data: Uint8Array; port: number; address: string }[];
  /** Makes every later send fail with this error code. */
  failSends(code: string | undefined): void;
  readonly closed: boolean;
  emitError(error: DatagramSocketError): void;
};

export function createMemorySocket(local: DatagramPeer = { address: "127.0.0.1", port: 514 }): MemorySocket {
  let handler: DatagramHandler | undefined;
  let errorHandler: ((e: DatagramSocketError) => void) | undefined;
  let failCode: string | undefined;
  let closed = false;
  const sent: MemorySocket["sent"] = [];
  const encoder = new TextEncoder();
  return {
    implementation: "node",
    onMessage: (h) => {
      handler = h;
    },
    onError: (h) => {
      errorHandler = h;
    },
    deliver: (data, peer = { address: "127.0.0.1", port: 40000 }) => {
      if (closed) return;
      handler?.(typeof data === "string" ? encoder.encode(data) : data, peer);
    },
    send: async (data, port, address) => {
      if (failCode !== undefined) throw new DatagramSocketError(`send failed: ${failCode}`, { code: failCode });
      sent.push({ data: data.slice(), port, address });
    },
    sent,
    failSends: (code) => {
      failCode = code;
    },
    local: () => local,
    recvBufferBytes: () => undefined,
    close: async () => {
      closed = true;
    },
    get closed() {
      return closed;
    },
    emitError: (e) => errorHandler?.(e),
  };
}
