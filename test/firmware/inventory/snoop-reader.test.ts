import { appendFileSync, mkdtempSync, openSync, closeSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DeviceObservation } from "../../../firmware/inventory/observation.ts";
import { buildPcapHeader } from "../../../firmware/inventory/pcap.ts";
import { isHostLittleEndian, prepareSnoopFile, SnoopReader } from "../../../firmware/inventory/snoop-reader.ts";
import { fixture } from "./fixtures.ts";

/** The captured records as whole byte runs (16-byte header + packet), in order. */
function capturedRecords(): Uint8Array[] {
  const bytes = fixture("dhcp-exchange.pcap");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 24; at < bytes.length;) {
    const end = at + 16 + view.getUint32(at + 8, true);
    out.push(bytes.slice(at, end));
    at = end;
  }
  return out;
}

/** An ARP reply record as the bridge-family rule logs it (captured in the lab), timestamped `sec`. */
function arpRecord(sec: number): Uint8Array {
  const arp = Buffer.from("00010800060400025284" + "2cd3c918" + "c0000201" + "025e4b000110" + "c000020a", "hex");
  const head = new Uint8Array(16);
  const v = new DataView(head.buffer);
  v.setUint32(0, sec, true);
  v.setUint32(8, arp.length, true);
  v.setUint32(12, arp.length, true);
  return new Uint8Array([...head, ...arp]);
}

describe("SnoopReader following the pcap file ulogd2 writes", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setup(opts: { compactBytes?: number; intervalMs?: number } = {}) {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-snoop-"));
    dirs.push(dir);
    const path = join(dir, "snoop.pcap");
    const got: DeviceObservation[] = [];
    const errors: Error[] = [];
    const reader = new SnoopReader({
      path,
      scope: { ownMacs: ["02:5e:4b:00:00:02"] },
      onObservations: (o) => {
        got.push(...o);
      },
      onError: (e) => errors.push(e),
      ...opts,
    });
    return { dir, path, got, errors, reader };
  }

  it("prepares the file with a header in this machine's byte order, and leaves a non-empty file alone", async () => {
    const { path } = setup();
    await prepareSnoopFile(path);
    expect(new Uint8Array(readFileSync(path))).toEqual(buildPcapHeader({ littleEndian: isHostLittleEndian() }));
    appendFileSync(path, capturedRecords()[0] ?? new Uint8Array());
    const size = statSync(path).size;
    await prepareSnoopFile(path);
    expect(statSync(path).size).toBe(size);
  });

  it("reads records as they are appended, waiting for a record written in two parts", async () => {
    const { path, got, reader } = setup();
    expect(await reader.readOnce()).toBe(0); // no file yet: nothing, no error
    await prepareSnoopFile(path);
    const records = capturedRecords();
    appendFileSync(path, records[0] ?? new Uint8Array());
    expect(await reader.readOnce()).toBe(1);
    expect(got[0]).toMatchObject({ source: "dhcp", mac: "b8:27:eb:12:34:56", hostname: "pi-kiosk", vendorClass: "sekisho-test" });
    const second = records[1] ?? new Uint8Array();
    appendFileSync(path, second.subarray(0, 100));
    expect(await reader.readOnce()).toBe(0); // an OFFER, and only half of it
    appendFileSync(path, second.subarray(100));
    for (const r of records.slice(2)) appendFileSync(path, r);
    await reader.readOnce();
    expect(got.map((o) => `${o.mac} ${o.ip ?? "-"} ${o.hostname ?? "-"}`)).toEqual([
      "b8:27:eb:12:34:56 - pi-kiosk", // DISCOVER
      "b8:27:eb:12:34:56 - pi-kiosk", // REQUEST (the requested address is not the client's yet)
      "b8:27:eb:12:34:56 192.0.2.116 -", // ACK
      "3c:a9:f4:00:00:42 - keiri-pc",
      "3c:a9:f4:00:00:42 - keiri-pc",
      "3c:a9:f4:00:00:42 192.0.2.132 -",
      "3c:a9:f4:00:00:42 - keiri-pc", // RELEASE
    ]);
    expect(reader.counters()).toMatchObject({ records: 9, dhcp: 9, observations: 7, rejected: 0, skippedBytes: 0 });
    // The record time is the capture time (2026-11-23), not the reading time.
    expect(new Date(got[0]?.time ?? 0).toISOString()).toMatch(/^2026-11-23T14:4/);
  });

  it("reads ARP records, ignoring the box's own, and counts malformed DHCP as rejected", async () => {
    const { path, got, reader } = setup();
    await prepareSnoopFile(path);
    appendFileSync(path, arpRecord(1_795_400_000));
    const bad = (capturedRecords()[0] ?? new Uint8Array()).slice();
    bad[16 + 28 + 236] = 0; // break the DHCP magic cookie
    appendFileSync(path, bad);
    const notIp = arpRecord(1_795_400_001);
    notIp[16] = 0x99;
    appendFileSync(path, notIp);
    await reader.readOnce();
    expect(got).toEqual([{ time: 1_795_400_000_000, source: "arp", mac: "52:84:2c:d3:c9:18", ip: "192.0.2.1" }]);
    expect(reader.counters()).toMatchObject({ records: 3, arp: 1, rejected: 2 });
    expect(reader.counters().lastError).toMatch(/neither IP nor ARP/);
  });

  it("truncates the consumed file back to its header, and an appending writer goes on after it", async () => {
    const { path, got, reader } = setup({ compactBytes: 600 });
    await prepareSnoopFile(path);
    const records = capturedRecords();
    const fd = openSync(path, "a"); // ulogd on a file that existed: append mode
    try {
      for (const r of records.slice(0, 4)) writeSync(fd, r);
      await reader.readOnce();
      expect(reader.counters().compactions).toBe(1);
      expect(statSync(path).size).toBe(24);
      for (const r of records.slice(4)) writeSync(fd, r);
      await reader.readOnce();
    } finally {
      closeSync(fd);
    }
    expect(got.map((o) => o.mac)).toEqual([...Array(3).fill("b8:27:eb:12:34:56"), ...Array(4).fill("3c:a9:f4:00:00:42")]);
    expect(reader.counters()).toMatchObject({ records: 9, rejected: 0, skippedBytes: 0 });
  });

  it("skips the hole a writer that does not append leaves after a truncation (ulogd started before the file existed)", async () => {
    const { path, got, reader } = setup({ compactBytes: 600 });
    // ulogd 2.0.8 creating the file itself: fopen("w"), header, records at its own offset.
    const fd = openSync(path, "w");
    let offset = 0;
    const write = (b: Uint8Array) => {
      writeSync(fd, b, 0, b.length, offset);
      offset += b.length;
    };
    try {
      write(buildPcapHeader({ littleEndian: true }));
      const records = capturedRecords();
      for (const r of records.slice(0, 4)) write(r);
      await reader.readOnce();
      expect(statSync(path).size).toBe(24);
      for (const r of records.slice(4)) write(r); // lands at the old offset, zeros before it
      expect(statSync(path).size).toBeGreaterThan(offset - 1);
      await reader.readOnce();
    } finally {
      closeSync(fd);
    }
    expect(got).toHaveLength(7);
    expect(reader.counters()).toMatchObject({ records: 9, rejected: 0, skippedBytes: 0 });
  });

  it("starts over when the file is replaced, and skips (and counts) what cannot be read", async () => {
    const { dir, path, got, errors, reader } = setup();
    writeFileSync(path, "this is not a pcap file, it is text");
    await reader.readOnce();
    expect(errors[0]?.message).toMatch(/not a pcap file/);
    expect(reader.counters().skippedBytes).toBe(35);
    appendFileSync(path, "more");
    await reader.readOnce();
    expect(reader.counters().skippedBytes).toBe(39);
    expect(errors).toHaveLength(1);

    // ulogd re-created (logrotate, a restart after removal): a new inode.
    const fresh = join(dir, "fresh.pcap");
    await prepareSnoopFile(fresh);
    appendFileSync(fresh, capturedRecords()[0] ?? new Uint8Array());
    renameSync(fresh, path);
    await reader.readOnce();
    expect(got).toHaveLength(1);

    // A record header that cannot be one: the rest of the file is skipped, later records are read.
    const corrupt = new Uint8Array(16).fill(0xff);
    appendFileSync(path, corrupt);
    await reader.readOnce();
    expect(errors.at(-1)?.message).toMatch(/claims/);
    appendFileSync(path, capturedRecords()[3] ?? new Uint8Array());
    await reader.readOnce();
    expect(got.map((o) => o.ip)).toEqual([undefined, "192.0.2.116"]);
  });

  it("reads what was written before it was stopped", async () => {
    const { path, got, reader } = setup({ intervalMs: 60_000 });
    await prepareSnoopFile(path);
    reader.start();
    appendFileSync(path, capturedRecords()[3] ?? new Uint8Array());
    await reader.stop(); // whether or not the first read saw it, stopping reads once more
    expect(got.map((o) => o.ip)).toEqual(["192.0.2.116"]);
  });

  it("polls on its own until stopped", async () => {
    const { path, got, reader } = setup({ intervalMs: 20 });
    await prepareSnoopFile(path);
    reader.start();
    try {
      appendFileSync(path, capturedRecords()[0] ?? new Uint8Array());
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got).toHaveLength(1);
    } finally {
      await reader.stop();
    }
    appendFileSync(path, capturedRecords()[2] ?? new Uint8Array());
    const before = reader.counters().records;
    await new Promise((r) => setTimeout(r, 200)); // ten intervals: a stopped reader reads nothing
    expect(reader.counters().records).toBe(before);
  });
});
