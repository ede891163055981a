// The receiver on a real socket (node:dgram on loopback): valid and garbage datagrams,
// the drop-when-full path, and the books balancing down to the kernel's own drop counter.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bindLogReceiver, type LogReceiver } from "../../../firmware/logs/receiver.ts";
import { bindDatagramSocket, type DatagramSocket } from "../../../firmware/logs/socket.ts";
import { readUdpSocketStats } from "../../../firmware/logs/udp-stats.ts";
import { waitFor } from "../../lab/wait-for.ts";

const enc = new TextEncoder();
const ULOGD = readFileSync(join(import.meta.dirname, "fixtures", "ulogd-bridge.jsonl"), "utf8").split("\n").filter((l) => l !== "");
const VALID = [...ULOGD, "<38>Feb  5 17:32:18 gw sshd[4242]: Failed password", '<13>1 2026-11-23T14:40:00Z nas app 1 ID [x@32473 a="b"] \ufeffhello'];
const GARBAGE: Uint8Array[] = [
  enc.encode("hello"),
  enc.encode("{not json"),
  enc.encode("<999>bad pri"),
  new Uint8Array([0xff, 0x00, 0x3c, 0x7b]),
  new Uint8Array(9000).fill(0x3c), // "<<<<…", over the size bound
  enc.encode('<13>1 - - - - - [x a="unterminated]'),
];

let open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.map((o) => o.close()));
  open = [];
});

async function setup(capacity?: number): Promise<{ receiver: LogReceiver; tx: DatagramSocket; port: number }> {
  const receiver = await bindLogReceiver({ address: "127.0.0.1", port: 0, ...(capacity === undefined ? {} : { capacity }) });
  const tx = await bindDatagramSocket({ address: "127.0.0.1", port: 0 });
  open.push(receiver, tx);
  return { receiver, tx, port: receiver.local().port };
}

describe("LogReceiver on a real UDP socket", () => {
  it("accepts the valid datagrams, rejects the garbage, and counts every one", async () => {
    const { receiver, tx, port } = await setup();
    expect(receiver.implementation).toBe("node");
    expect(receiver.recvBufferBytes()).toBeGreaterThanOrEqual(2 * 208 * 1024);
    for (const v of VALID) await tx.send(enc.encode(v), port, "127.0.0.1");
    for (const g of GARBAGE) await tx.send(g, port, "127.0.0.1");
    const total = VALID.length + GARBAGE.length;
    await waitFor("every datagram counted", () => receiver.counters().received === total);
    expect(receiver.counters()).toEqual({ received: total, accepted: VALID.length, rejected: GARBAGE.length, dropped: 0 });
    expect(receiver.rejections()).toEqual({ "unknown-format": 2, "not-json": 1, "bad-pri": 1, "too-large": 1, "bad-structured-data": 1 });
    const records = receiver.takeBatch();
    expect(records.map((r) => r.kind)).toEqual([...ULOGD.map(() => "packet"), "syslog", "syslog"]);
    expect(records.at(-1)).toMatchObject({ format: "rfc5424", peer: "127.0.0.1", message: "hello", structuredData: { "x@32473": { a: "b" } } });
  });

  it("drops and counts when the queue is full: received = accepted + rejected + dropped", async () => {
    const capacity = 10;
    const { receiver, tx, port } = await setup(capacity);
    let readable = 0;
    receiver.onReadable(() => readable++);
    const valid = 50;
    for (let i = 0; i < valid; i++) await tx.send(enc.encode(`<13>1 - - - - - - m${i}`), port, "127.0.0.1");
    for (const g of GARBAGE) await tx.send(g, port, "127.0.0.1");
    const sent = valid + GARBAGE.length;
    await waitFor("every datagram counted", () => receiver.counters().received === sent);
    const c = receiver.counters();
    expect(c).toEqual({ received: sent, accepted: capacity, rejected: GARBAGE.length, dropped: valid - capacity });
    expect(c.received).toBe(c.accepted + c.rejected + c.dropped);
    // Nothing lost before the receiver saw it either.
    expect((await readUdpSocketStats(port)).drops).toBe(0);
    expect(readable).toBe(1);
    // The oldest were kept.
    expect(receiver.takeBatch().map((r) => (r.kind === "syslog" ? r.message : ""))).toEqual(Array.from({ length: capacity }, (_, i) => `m${i}`));
    // Drained: room again, and a new notification.
    await tx.send(enc.encode("<13>1 - - - - - - after"), port, "127.0.0.1");
    await waitFor("the next record", () => receiver.pending === 1);
    expect(readable).toBe(2);
    expect(receiver.counters().accepted).toBe(capacity + 1);
  });
});
