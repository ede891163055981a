/**
 * The datagram socket interface every hot UDP path sits behind (the log receiver, the
 * syslog sender; the DNS filter can use it too), with one implementation per runtime:
 * `Deno.listenDatagram` under Deno (the fastest Deno offers, measured in DESIGN "Runtime")
 * and `node:dgram` under Node. Pure code never touches a socket API; it gets a
 * DatagramSocket.
 *
 * Receive buffer: Node sets SO_RCVBUF from `recvBufferBytes` (capped by
 * net.core.rmem_max). Deno has no per-socket option, and node:dgram's recvBufferSize under
 * Deno allocates that much per datagram instead (DESIGN "Deno traps"), so under Deno the
 * option is ignored and the box image sets net.core.rmem_default instead.
 */
import { bindDenoDatagramSocket } from "./socket-deno.ts";
import { bindNodeDatagramSocket } from "./socket-node.ts";
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
 * Binds a datagram socket with the implementation for this runtime. Under Deno without
 * `--unstable-net` (or deno.json `"unstable": ["net"]`) "auto" falls back to node:dgram
 * without a receive-buffer size (and `implementation` says so); asking for "deno" there
 * throws DatagramBindError.
 */
export async function bindDatagramSocket(options: BindDatagramOptions): Promise<DatagramSocket> {
  const wanted = options.implementation ?? "auto";
  const deno = denoDatagramApi();
  if (wanted === "deno" || (wanted === "auto" && deno !== undefined)) {
    if (deno === undefined) {
      throw new DatagramBindError("Deno.listenDatagram is not available: run Deno with --unstable-net");
    }
    return bindDenoDatagramSocket(deno, options);
  }
  // node:dgram's recvBufferSize under Deno allocates per datagram (DESIGN "Deno traps").
  const recvBufferBytes = isDeno() ? undefined : options.recvBufferBytes;
  return bindNodeDatagramSocket({ ...options, recvBufferBytes });
}

