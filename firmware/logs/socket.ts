/**
 * The datagram socket interface every hot UDP path sits behind (the log receiver, the
 * syslog sender, the DNS filter), with one implementation per runtime: under Deno (the box)
 * `Deno.listenDatagram` (DESIGN "Runtime"), or for sockets that ask for `batching` (the log
 * receiver) libc's recvmmsg/sendto through FFI when --allow-ffi is granted (socket-ffi.ts:
 * about half the CPU per datagram, a little more latency each); `node:dgram` under Node.
 * Pure code never touches a socket API; it gets a DatagramSocket.
 *
 * Receive buffer: Node and the FFI socket set SO_RCVBUF from `recvBufferBytes` (capped by
 * net.core.rmem_max, which the FFI socket passes with CAP_NET_ADMIN). Deno.listenDatagram
 * has no per-socket option, and node:dgram's recvBufferSize under Deno allocates that much
 * per datagram instead (DESIGN "Deno traps"), so there the option is ignored and the box
 * image's net.core.rmem_default applies.
 */
import { bindDenoDatagramSocket } from "./socket-deno.ts";
import { bindFfiDatagramSocket, ffiDatagramAvailable } from "./socket-ffi.ts";
import { DatagramBindError, denoDatagramApi, isDeno, type BindDatagramOptions, type DatagramSocket } from "./socket-types.ts";

export {
  DatagramBindError,
  DatagramSocketError,
  type BindDatagramOptions,
  type DatagramHandler,
  type DatagramPeer,
  type DatagramSocket,
  type DatagramSocketImplementation,
} from "./socket-types.ts";

/**
 * Binds a datagram socket with the implementation for this runtime. Under Deno "auto" takes
 * the FFI socket for `batching` when --allow-ffi is granted, else Deno.listenDatagram; without
 * `--unstable-net` (or deno.json
 * `"unstable": ["net"]`) it falls back to node:dgram without a receive-buffer size (and
 * `implementation` says so); asking for "deno" or "deno-ffi" where they cannot work throws
 * DatagramBindError.
 */
export async function bindDatagramSocket(options: BindDatagramOptions): Promise<DatagramSocket> {
  const wanted = options.implementation ?? "auto";
  if (wanted === "deno-ffi" || (wanted === "auto" && options.batching === true && ffiDatagramAvailable())) {
    return bindFfiDatagramSocket(options);
  }
  const deno = denoDatagramApi();
  if (wanted === "deno" || (wanted === "auto" && deno !== undefined)) {
    if (deno === undefined) {
      throw new DatagramBindError("Deno.listenDatagram is not available: run Deno with --unstable-net");
    }
    return bindDenoDatagramSocket(deno, options);
  }
  // node:dgram's recvBufferSize under Deno allocates per datagram (DESIGN "Deno traps").
  const recvBufferBytes = isDeno() ? undefined : options.recvBufferBytes;
  // Loaded only when used: under Deno, importing node:dgram costs each worker that imports
  // this file about 3 MB of Node compatibility code it would never run (firmware/dns/README.md).
  const { bindNodeDatagramSocket } = await import("./socket-node.ts");
  return bindNodeDatagramSocket({ ...options, recvBufferBytes });
}

