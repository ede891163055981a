import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { parseProcNetUdp, readUdpSocketStats } from "../../../firmware/logs/udp-stats.ts";

// Captured from this machine: a socket on 127.0.0.1:5140 holding one 100-byte datagram
// (rx_queue 0x340 = 832 bytes of buffer), another on :::5140, and an unrelated one.
const V4 = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  554: 00000000:8AE1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 238524 2 000000008bf468fa 0
 2909: 0100007F:1414 00000000:0000 07 00000000:00000340 00:00000000 00000000     0        0 238522 2 000000000bdc6902 17
`;
const V6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 2909: 00000000000000000000000001000000:1414 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 238523 2 0000000026056bd0 3
`;

describe("parseProcNetUdp", () => {
  it("sums the rows of the port", () => {
    expect(parseProcNetUdp(V4, 5140)).toEqual({ rxQueueBytes: 0x340, drops: 17, sockets: 1 });
    expect(parseProcNetUdp(V6, 5140)).toEqual({ rxQueueBytes: 0, drops: 3, sockets: 1 });
    expect(parseProcNetUdp(V4, 35553)).toEqual({ rxQueueBytes: 0, drops: 0, sockets: 1 });
    expect(parseProcNetUdp(V4, 9)).toEqual({ rxQueueBytes: 0, drops: 0, sockets: 0 });
  });

  it("ignores garbage", () => {
    expect(parseProcNetUdp("nonsense\n\n 1: x y z", 5140)).toEqual({ rxQueueBytes: 0, drops: 0, sockets: 0 });
  });

  it("reads the real table: a socket nobody reads fills up, and the kernel counts its drops", async () => {
    // A socket that never reads: python binds it with a small buffer, then blocks on stdin.
    const child = spawn("python3", ["-c", HOLDER], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once("data", (b: Buffer) => resolve(Number(b.toString().trim())));
        child.once("error", reject);
      });
      expect((await readUdpSocketStats(port)).sockets).toBe(1);
      const tx = createSocket("udp4");
      const payload = new Uint8Array(1000);
      for (let i = 0; i < 100; i++) await new Promise<void>((resolve) => tx.send(payload, port, "127.0.0.1", () => resolve()));
      tx.close();
      const after = await readUdpSocketStats(port);
      expect(after.rxQueueBytes).toBeGreaterThan(0);
      expect(after.drops).toBeGreaterThan(0);
    } finally {
      child.stdin.end();
    }
  });
});

const HOLDER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;
