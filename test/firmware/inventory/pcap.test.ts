import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCaptured, decodeNetworkPacket } from "../../../firmware/inventory/packet.ts";
import { buildPcapHeader, LINKTYPE, parsePcapHeader, parsePcapRecords } from "../../../firmware/inventory/pcap.ts";
import { dhcpExchange, fixture } from "./fixtures.ts";

describe("pcap files as ulogd2 writes them", () => {
  it("reads the header and the records of a real capture", () => {
    const bytes = fixture("dhcp-exchange.pcap");
    const header = parsePcapHeader(bytes);
    expect(header).toEqual({
      ok: true,
      value: { littleEndian: true, nanoseconds: false, versionMajor: 2, versionMinor: 4, snaplen: 65536, linkType: LINKTYPE.raw },
    });
    const { records, consumed, error } = parsePcapRecords(bytes.subarray(24), header.ok ? header.value : ({} as never));
    expect(error).toBeUndefined();
    expect(consumed).toBe(bytes.length - 24);
    expect(records).toHaveLength(9);
    expect(records.map((r) => r.data.length)).toEqual([328, 328, 330, 328, 328, 328, 328, 328, 328]);
    // 2026-11-23, in order.
    expect(new Date(records[0]?.time ?? 0).toISOString()).toMatch(/^2026-11-23T14:4/);
    for (let i = 1; i < records.length; i++) expect(records[i]?.time).toBeGreaterThanOrEqual(records[i - 1]?.time ?? 0);
  });

  it("stops before an incomplete record (still being written) and resumes when it is whole", () => {
    const { bytes, header } = dhcpExchange();
    const body = bytes.subarray(24);
    const firstLen = 16 + 328;
    for (const cut of [0, 5, 16, firstLen - 1]) {
      const r = parsePcapRecords(body.subarray(0, cut), header);
      expect(r).toEqual({ records: [], consumed: 0 });
    }
    const r = parsePcapRecords(body.subarray(0, firstLen + 20), header);
    expect(r.records).toHaveLength(1);
    expect(r.consumed).toBe(firstLen);
  });

  it("reports a record header that cannot be one, keeping the records before it", () => {
    const { bytes, header } = dhcpExchange();
    const body = bytes.slice(24);
    const second = 16 + 328;
    new DataView(body.buffer).setUint32(second + 8, 0x7fffffff, true);
    const r = parsePcapRecords(body, header);
    expect(r.records).toHaveLength(1);
    expect(r.consumed).toBe(second);
    expect(r.error).toMatch(/claims 2147483647 bytes/);
  });

  it("reads both byte orders and nanosecond files; refuses other magics", () => {
    for (const littleEndian of [true, false]) {
      const h = parsePcapHeader(buildPcapHeader({ littleEndian }));
      expect(h.ok && h.value.littleEndian).toBe(littleEndian);
      expect(h.ok && h.value.linkType).toBe(101);
    }
    const nano = buildPcapHeader({ littleEndian: true });
    new DataView(nano.buffer).setUint32(0, 0xa1b23c4d, true);
    expect(parsePcapHeader(nano)).toMatchObject({ ok: true, value: { nanoseconds: true } });
    expect(parsePcapHeader(new Uint8Array(24))).toEqual({ ok: false, error: "not a pcap file (magic 00000000)" });
    expect(parsePcapHeader(new Uint8Array(3))).toMatchObject({ ok: false });
  });

  it("never throws on arbitrary record bytes", () => {
    const { header } = dhcpExchange();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, nanoseconds) => {
      const r = parsePcapRecords(bytes, { ...header, nanoseconds });
      expect(r.consumed).toBeLessThanOrEqual(bytes.length);
    }), { numRuns: 2000 });
  });
});

describe("decoding the snooped packets", () => {
  it("finds UDP inside the captured IPv4 packets", () => {
    const { records, header } = dhcpExchange();
    const first = decodeCaptured(records[0]?.data ?? new Uint8Array(), header.linkType);
    expect(first).toMatchObject({ ok: true, value: { kind: "udp", ipVersion: 4, src: "0.0.0.0", dst: "255.255.255.255", sport: 68, dport: 67 } });
    const release = decodeCaptured(records[8]?.data ?? new Uint8Array(), header.linkType);
    expect(release).toMatchObject({ ok: true, value: { src: "192.0.2.11", dst: "192.0.2.1" } });
    if (first.ok && first.value.kind === "udp") expect(first.value.payload.length).toBe(300);
  });

  it("decodes ARP as the bridge family logs it (a request captured in the lab)", () => {
    const arp = Uint8Array.from(Buffer.from("0001080006040001025e4b000110c000020a000000000000c0000201", "hex"));
    expect(decodeNetworkPacket(arp)).toEqual({
      ok: true,
      value: { kind: "arp", op: "request", senderMac: "02:5e:4b:00:01:10", senderIp: "192.0.2.10", targetMac: "00:00:00:00:00:00", targetIp: "192.0.2.1" },
    });
    const probe = arp.slice();
    probe.fill(0, 14, 18); // sender 0.0.0.0: an address probe
    const r = decodeNetworkPacket(probe);
    expect(r.ok && r.value.kind === "arp" && r.value.senderIp).toBeUndefined();
  });

  it("decodes UDP over IPv6 past extension headers, and an Ethernet frame with a VLAN tag", () => {
    const udp = [0x02, 0x22, 0x02, 0x23, 0x00, 0x0c, 0, 0, 1, 2, 3, 4];
    const src = Buffer.from("fe800000000000000000000000000001", "hex");
    const dst = Buffer.from("ff020000000000000000000000010002", "hex");
    const hopByHop = [17, 0, 0, 0, 0, 0, 0, 0];
    const v6 = Uint8Array.from([0x60, 0, 0, 0, 0, hopByHop.length + udp.length, 0, 1, ...src, ...dst, ...hopByHop, ...udp]);
    expect(decodeNetworkPacket(v6)).toMatchObject({ ok: true, value: { ipVersion: 6, src: "fe80::1", dst: "ff02::1:2", sport: 546, dport: 547 } });
    const { records } = dhcpExchange();
    const frame = Uint8Array.from([...new Uint8Array(12).fill(0xaa), 0x81, 0x00, 0, 5, 0x08, 0x00, ...(records[0]?.data ?? [])]);
    expect(decodeCaptured(frame, LINKTYPE.ethernet)).toMatchObject({ ok: true, value: { kind: "udp", dport: 67 } });
  });

  it("says why it cannot decode", () => {
    const { records } = dhcpExchange();
    const tcp = (records[0]?.data ?? new Uint8Array()).slice();
    tcp[9] = 6;
    expect(decodeNetworkPacket(tcp)).toEqual({ ok: false, error: "IPv4 protocol 6 is not UDP" });
    const frag = (records[0]?.data ?? new Uint8Array()).slice();
    frag[6] = 0x20; // more fragments
    expect(decodeNetworkPacket(frag)).toEqual({ ok: false, error: "IPv4 fragment (not reassembled)" });
    expect(decodeNetworkPacket(Uint8Array.from([0x99]))).toMatchObject({ ok: false, error: expect.stringContaining("neither IP nor ARP") });
    expect(decodeCaptured(new Uint8Array(40), 105)).toEqual({ ok: false, error: "unsupported pcap link type 105" });
  });
});
