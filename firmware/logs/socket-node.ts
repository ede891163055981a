/**
 * The DatagramSocket on `node:dgram` (Node, and Deno without --unstable-net). Under Deno the
 * caller must not pass a receive-buffer size (socket.ts makes sure of it).
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import {
  DatagramBindError,
  DatagramSocketError,
  familyOf,
  normalisePeerAddress,
  type DatagramHandler,
  type DatagramPeer,
  type DatagramSocket,
} from "./socket-types.ts";

export type NodeBindOptions = { address: string; port: number; recvBufferBytes?: number | undefined };

/** Binds a node:dgram socket; rejects with DatagramBindError (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
export function bindNodeDatagramSocket(options: NodeBindOptions): Promise<DatagramSocket> {
  const socket = createSocket({
    type: familyOf(options.address),
    ...(options.recvBufferBytes === undefined ? {} : { recvBufferSize: options.recvBufferBytes }),
  });
  return new Promise((resolve, reject) => {
    const onBindError = (err: NodeJS.ErrnoException): void => {
      socket.close();
      reject(
        new DatagramBindError(`cannot bind UDP ${options.address}:${options.port}: ${err.message}`, {
          cause: err,
          ...(err.code === undefined ? {} : { code: err.code }),
        }),
      );
    };
    socket.once("error", onBindError);
    socket.bind({ address: options.address, port: options.port, exclusive: true }, () => {
      socket.off("error", onBindError);
      resolve(new NodeDatagramSocket(socket));
    });
  });
}

class NodeDatagramSocket implements DatagramSocket {
  readonly implementation = "node" as const;
  readonly #socket: Socket;
  #handler: DatagramHandler | undefined;
  #errorHandler: ((error: DatagramSocketError) => void) | undefined;
  #closed: Promise<void> | undefined;
  /** Read once at bind: node:dgram refuses address() after close. */
  readonly #local: DatagramPeer;

  constructor(socket: Socket) {
    this.#socket = socket;
    const a = socket.address();
    this.#local = { address: a.address, port: a.port };
    socket.on("message", (data: Buffer, rinfo: RemoteInfo) => {
      const handler = this.#handler;
      if (handler === undefined) return;
      // rinfo already has address and port: pass it on unless the address needs rewriting.
      const peer: DatagramPeer = rinfo.address.startsWith("::ffff:")
        ? { address: normalisePeerAddress(rinfo.address), port: rinfo.port }
        : rinfo;
      try {
        handler(data, peer);
      } catch (err) {
        // A handler bug must not take the process down with it: report it and go on.
        this.#errorHandler?.(new DatagramSocketError("datagram handler threw", { cause: err }));
      }
    });
    // Without a listener an 'error' event would throw and end the process.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.#errorHandler?.(
        new DatagramSocketError(`UDP socket error: ${err.message}`, {
          cause: err,
          ...(err.code === undefined ? {} : { code: err.code }),
        }),
      );
    });
  }

  onMessage(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  onError(handler: (error: DatagramSocketError) => void): void {
    this.#errorHandler = handler;
  }

  send(data: Uint8Array, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.#socket.send(data, port, address, (err) => {
          if (err === null || err === undefined) resolve();
          else reject(sendError(err, port, address));
        });
      } catch (err) {
        // Synchronous throws: a closed socket, a bad port.
        reject(sendError(err, port, address));
      }
    });
  }

  local(): DatagramPeer {
    return this.#local;
  }

  recvBufferBytes(): number | undefined {
    try {
      return this.#socket.getRecvBufferSize();
    } catch {
      return undefined;
    }
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.#socket.close(() => resolve());
    });
    return this.#closed;
  }
}

function sendError(err: unknown, port: number, address: string): DatagramSocketError {
  const e = err as NodeJS.ErrnoException;
  return new DatagramSocketError(`cannot send to ${address}:${port}: ${e?.message ?? String(err)}`, {
    cause: err,
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
  });
}
