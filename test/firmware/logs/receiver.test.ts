import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isAddressIn, isLoopback, parseDatagram, parseSourcePrefixes } from "../../../firmware/logs/datagram.ts";
import { LogReceiver, LogReceiverError } from "../../../firmware/logs/receiver.ts";
import { DatagramSocketError } from "../../../firmware/logs/socket.ts";
import type { ReceiverCounters } from "../../../firmware/logs/types.ts";
import { createMemorySocket } from "./memory-socket.ts";

const ULOGD = readFileSync(join(import.meta.dirname, "fixtures", "ulogd-bridge.jsonl"), "utf8").split("\n")[0]!;
const SYSLOG = "<38>Feb  5 17:32:18 gw sshd[4242]: Failed password";
const LOOP = { address: "127.0.0.1", port: 40000 };
const LAN = { address: "192.0.2.10", port: 514 };
const WAN = { address: "203.0.113.66", port: 514 };
const enc = new TextEncoder();

const balanced = (c: ReceiverCounters) => c.received === c.accepted + c.rejected + c.dropped;

describe("source prefixes", () => {
  const lan = parseSourcePrefixes(["192.0.2.0/24", "2001:db8:2::/64"]);
  it("matches addresses of both families, with and without zone", () => {
    expect(isAddressIn("192.0.2.77", lan)).toBe(true);
    expect(isAddressIn("192.0.3.1", lan)).toBe(false);
    expect(isAddressIn("2001:db8:2::10", lan)).toBe(true);
    expect(isAddressIn("2001:db8:3::10", lan)).toBe(false);
    expect(isAddressIn("fe80::1%br0", parseSourcePrefixes(["fe80::/10"]))).toBe(true);
    expect(isAddressIn("not an address", lan)).toBe(false);
  });
  it("loopback is 127/8 and ::1 only", () => {
    expect(isLoopback("127.0.0.1")).toBe(true);
    expect(isLoopback("127.1.2.3")).toBe(true);
    expect(isLoopback("::1")).toBe(true);
    expect(isLoopback("127.0.0.1.evil")).toBe(false);
    expect(isLoopback("192.0.2.1")).toBe(false);
  });
  it("a bad prefix is a RangeError naming it", () => {
    expect(() => parseSourcePrefixes(["192.0.2.1/24"])).toThrow(/host bits/);
  });
});

describe("parseDatagram", () => {
  const options = { syslogSources: parseSourcePrefixes(["127.0.0.0/8", "192.0.2.0/24"]) };
  const parse = (text: string, peer: string) => parseDatagram(enc.encode(text), peer, 1, options);

  it("dispatches on the first byte", () => {
    expect(parse(ULOGD, "127.0.0.1")).toMatchObject({ ok: true, record: { kind: "packet" } });
    expect(parse(SYSLOG, "192.0.2.10")).toMatchObject({ ok: true, record: { kind: "syslog", peer: "192.0.2.10" } });
    expect(parse("hello", "127.0.0.1")).toMatchObject({ ok: false, reason: "unknown-format" });
    expect(parseDatagram(new Uint8Array(0), "127.0.0.1", 1, options)).toMatchObject({ ok: false, reason: "empty" });
  });

  it("accepts packet records from loopback only: a LAN host cannot forge firewall events", () => {
    expect(parse(ULOGD, "192.0.2.10")).toMatchObject({ ok: false, reason: "source-not-allowed" });
    expect(parse(ULOGD, "::1")).toMatchObject({ ok: true });
  });

  it("accepts syslog from the allowed prefixes only", () => {
    expect(parse(SYSLOG, "203.0.113.66")).toMatchObject({ ok: false, reason: "source-not-allowed" });
  });

  it("with missing PRI accepted, text without < is syslog (RFC 3164 §4.3.3)", () => {
    const r = parseDatagram(enc.encode("hello"), "192.0.2.10", 1, { ...options, syslog: { acceptMissingPri: true } });
    expect(r).toMatchObject({ ok: true, record: { kind: "syslog", message: "hello", facility: 1, severity: 5 } });
  });
});

describe("LogReceiver (in-memory socket)", () => {
  it("queues records, counts rejections per reason, and keeps the counters balanced", () => {
    const socket = createMemorySocket();
    const receiver = new LogReceiver(socket, { syslogSources: ["127.0.0.0/8", "192.0.2.0/24"], now: () => 42 });
    receiver.start();
    socket.deliver(ULOGD, LOOP);
    socket.deliver(SYSLOG, LAN);
    socket.deliver(SYSLOG, WAN);
    socket.deliver(ULOGD, LAN);
    socket.deliver("garbage", LOOP);
    socket.deliver("<999>x", LOOP);
    expect(receiver.counters()).toEqual({ received: 6, accepted: 2, rejected: 4, dropped: 0 });
    expect(receiver.rejections()).toEqual({ "source-not-allowed": 2, "unknown-format": 1, "bad-pri": 1 });
    const batch = receiver.takeBatch();
    expect(batch.map((r) => r.kind)).toEqual(["packet", "syslog"]);
    expect(batch[1]).toMatchObject({ time: 42, peer: "192.0.2.10" });
    expect(receiver.pending).toBe(0);
  });

  it("drops and counts when the queue is full, keeping the oldest", () => {
    const socket = createMemorySocket();
    const receiver = new LogReceiver(socket, { capacity: 3 });
    receiver.start();
    for (let i = 0; i < 5; i++) socket.deliver(`<13>msg ${i}`, LOOP);
    socket.deliver("junk", LOOP);
    expect(receiver.counters()).toEqual({ received: 6, accepted: 3, rejected: 1, dropped: 2 });
    expect(receiver.takeBatch(2).map((r) => (r.kind === "syslog" ? r.message : ""))).toEqual(["msg 0", "msg 1"]);
    socket.deliver("<13>msg 5", LOOP);
    expect(receiver.takeBatch().map((r) => (r.kind === "syslog" ? r.message : ""))).toEqual(["msg 2", "msg 5"]);
    expect(balanced(receiver.counters())).toBe(true);
  });

  it("onReadable fires once per empty → non-empty transition, not per record", () => {
    const socket = createMemorySocket();
    const receiver = new LogReceiver(socket);
    let calls = 0;
    receiver.onReadable(() => calls++);
    receiver.start();
    for (let i = 0; i < 100; i++) socket.deliver(`<13>m${i}`, LOOP);
    expect(calls).toBe(1);
    receiver.takeBatch(50);
    socket.deliver("<13>more", LOOP);
    expect(calls).toBe(1); // not drained: no new notification
    receiver.takeBatch();
    socket.deliver("<13>again", LOOP);
    expect(calls).toBe(2);
  });

  it("a throwing onReadable callback is reported, and the record is still queued", () => {
    const socket = createMemorySocket();
    const errors: Error[] = [];
    const receiver = new LogReceiver(socket, { onError: (e) => errors.push(e) });
    receiver.onReadable(() => {
      throw new Error("consumer bug");
    });
    receiver.start();
    socket.deliver("<13>x", LOOP);
    expect(receiver.pending).toBe(1);
    expect(errors[0]).toBeInstanceOf(LogReceiverError);
  });

  it("reports socket errors and refuses to start twice or with a bad prefix", () => {
    const socket = createMemorySocket();
    const errors: Error[] = [];
    const receiver = new LogReceiver(socket, { onError: (e) => errors.push(e) });
    receiver.start();
    socket.emitError(new DatagramSocketError("boom"));
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
    expect(() => receiver.start()).toThrow(LogReceiverError);
    expect(() => new LogReceiver(createMemorySocket(), { syslogSources: ["nope"] }).start()).toThrow(RangeError);
  });

  it("after close, queued records can still be taken", async () => {
    const socket = createMemorySocket();
    const receiver = new LogReceiver(socket);
    receiver.start();
    socket.deliver("<13>last", LOOP);
    await receiver.close();
    expect(socket.closed).toBe(true);
    expect(receiver.takeBatch()).toHaveLength(1);
  });
});
