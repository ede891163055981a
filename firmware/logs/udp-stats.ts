/**
 * The kernel's own view of a UDP socket: datagrams waiting (rx_queue) and datagrams it
 * dropped because the receive buffer was full (drops). The receiver's counters start when
 * a datagram is read; these cover what never got that far, so "nothing vanishes silently"
 * holds at the socket too. Linux only (/proc/net/udp and /proc/net/udp6 of the caller's
 * network namespace); under Deno it needs --allow-read for those two files.
 */
import { isNotFound, readProcFile } from "./proc-file.ts";

export type UdpSocketStats = {
  /** Bytes waiting in the receive queue. */
  rxQueueBytes: number;
  /** Datagrams dropped by the kernel (receive buffer full, checksum, …). */
  drops: number;
};

/**
 * Sums the rows of a /proc/net/udp or /proc/net/udp6 listing whose local port is `port`
 * (pure). Fields: sl local_address rem_address st tx_queue:rx_queue tr tm->when retrnsmt
 * uid timeout inode ref pointer drops; addresses are HEX:PORT, queues hex, drops decimal.
 */
export function parseProcNetUdp(text: string, port: number): UdpSocketStats & { sockets: number } {
  const stats = { rxQueueBytes: 0, drops: 0, sockets: 0 };
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const queues = f[4];
    const drops = f[12];
    if (local === undefined || queues === undefined || drops === undefined || !/^\d+:$/.test(f[0] ?? "")) continue;
    const colon = local.lastIndexOf(":");
    if (colon === -1 || parseInt(local.slice(colon + 1), 16) !== port) continue;
    const rx = parseInt(queues.slice(queues.indexOf(":") + 1), 16);
    stats.sockets += 1;
    stats.rxQueueBytes += Number.isNaN(rx) ? 0 : rx;
    stats.drops += /^\d+$/.test(drops) ? Number(drops) : 0;
  }
  return stats;
}

/** The kernel's counters for the UDP sockets bound to `port` (both families), in this namespace. */
export async function readUdpSocketStats(port: number): Promise<UdpSocketStats & { sockets: number }> {
  const [v4, v6] = await Promise.all(
    ["/proc/net/udp", "/proc/net/udp6"].map((f) =>
      readProcFile(f).catch((err: unknown) => {
        if (isNotFound(err)) return ""; // a kernel without IPv6 has no udp6 listing
        throw err;
      })
    ),
  );
  const a = parseProcNetUdp(v4 ?? "", port);
  const b = parseProcNetUdp(v6 ?? "", port);
  return { rxQueueBytes: a.rxQueueBytes + b.rxQueueBytes, drops: a.drops + b.drops, sockets: a.sockets + b.sockets };
}
