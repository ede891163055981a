import { describe, expect, it } from "vitest";
import { parseDhcp } from "../../../firmware/inventory/dhcp.ts";
import type { PacketRecord } from "../../../firmware/logs/types.ts";
import {
  buildLanScope,
  observeArp,
  observeDhcp,
  observeDnsClient,
  observePacket,
} from "../../../firmware/inventory/observation.ts";
import { decodeCaptured } from "../../../firmware/inventory/packet.ts";
import { Device } from "../../../policies/device.ts";
import { dhcpExchange } from "./fixtures.ts";

const bridgeDevice: Device = Device.parse({
  mode: "bridge",
  interfaces: { wan: "wan0", lan: "lan0", bridge: "br0" },
  lanPrefixes: ["192.0.2.0/24", "2001:db8:2::/64"],
  management: { address4: "192.0.2.2", ports: [80] },
  dnsPort: 5353,
  logGroup: 1,
  logRate: 200,
  dataDir: "/var/lib/sekisho",
  runDir: "/run/sekisho",
});
const routerDevice: Device = { ...bridgeDevice, mode: "router", interfaces: { wan: "wan0", lan: "lan0" } };

/** A C&C attempt from lan1 as the log receiver hands it on (bridge mode: marked as from the LAN port). */
const c2Attempt: PacketRecord = {
  kind: "packet",
  time: 1_800_000_000_000,
  prefix: "sk:c2-feed.out:",
  ipVersion: 4,
  src: "192.0.2.10",
  dst: "203.0.113.99",
  proto: "tcp",
  sport: 40000,
  dport: 443,
  inIf: "br0",
  outIf: "br0",
  mark: 2,
  srcMac: "3c:a9:f4:00:00:42",
};

describe("observePacket: a LAN host seen in the logs", () => {
  it("is a device observation when it came in on the LAN side from a LAN address (bridge mode)", () => {
    expect(observePacket(c2Attempt, buildLanScope(bridgeDevice))).toEqual({
      time: 1_800_000_000_000,
      source: "packet-log",
      mac: "3c:a9:f4:00:00:42",
      ip: "192.0.2.10",
    });
  });

  it("is not, for packets from the internet (the router's MAC, a remote source)", () => {
    const scan: PacketRecord = { ...c2Attempt, src: "203.0.113.66", dst: "192.0.2.10", mark: 1, srcMac: "52:84:2c:d3:c9:18" };
    expect(observePacket(scan, buildLanScope(bridgeDevice))).toBeUndefined();
    // Even one that claims a LAN source: it came in on the WAN port.
    expect(observePacket({ ...scan, src: "192.0.2.50" }, buildLanScope(bridgeDevice))).toBeUndefined();
  });

  it("needs the source MAC and a LAN source address", () => {
    const { srcMac: _, ...noMac } = c2Attempt;
    expect(observePacket(noMac, buildLanScope(bridgeDevice))).toBeUndefined();
    expect(observePacket({ ...c2Attempt, src: "198.51.100.7" }, buildLanScope(bridgeDevice))).toBeUndefined();
    expect(observePacket({ ...c2Attempt, srcMac: "ff:ff:ff:ff:ff:ff" }, buildLanScope(bridgeDevice))).toBeUndefined();
    expect(observePacket({ ...c2Attempt, srcMac: "garbage" }, buildLanScope(bridgeDevice))).toBeUndefined();
  });

  it("matches the LAN interface in router mode, and canonicalises IPv6 sources", () => {
    const scope = buildLanScope(routerDevice);
    const v6: PacketRecord = { ...c2Attempt, ipVersion: 6, src: "2001:DB8:2:0::10", inIf: "lan0", mark: undefined };
    expect(observePacket(v6, scope)).toMatchObject({ ip: "2001:db8:2::10" });
    expect(observePacket({ ...v6, inIf: "wan0" }, scope)).toBeUndefined();
  });

  it("ignores the box's own MAC", () => {
    expect(observePacket(c2Attempt, buildLanScope(bridgeDevice, ["3c:a9:f4:00:00:42"]))).toBeUndefined();
  });
});

describe("observeDhcp on the real exchange", () => {
  const observed = () => {
    const { header, records } = dhcpExchange();
    return records.map((r) => {
      const p = decodeCaptured(r.data, header.linkType);
      if (!p.ok || p.value.kind !== "udp") throw new Error("not UDP");
      const m = parseDhcp(p.value.payload);
      if (!m.ok) throw new Error(m.error);
      return observeDhcp(m.value, 5);
    });
  };

  it("takes names from client messages and the address from the server's ACK only", () => {
    const [discover, offer, request, ack, , , , ack2, release] = observed();
    expect(discover).toEqual({
      time: 5,
      source: "dhcp",
      mac: "b8:27:eb:12:34:56",
      hostname: "pi-kiosk",
      vendorClass: "sekisho-test",
      clientId: "01b827eb123456",
    });
    expect(offer).toBeUndefined(); // a proposal, not the client's yet
    expect(request?.ip).toBeUndefined(); // a wish (option 50): the server may refuse it
    expect(request?.hostname).toBe("pi-kiosk");
    expect(ack).toEqual({ time: 5, source: "dhcp", mac: "b8:27:eb:12:34:56", ip: "192.0.2.116" });
    expect(ack2).toEqual({ time: 5, source: "dhcp", mac: "3c:a9:f4:00:00:42", ip: "192.0.2.132" });
    // A RELEASE gives the address up: the device is seen, the address is not claimed.
    expect(release).toEqual({ time: 5, source: "dhcp", mac: "3c:a9:f4:00:00:42", hostname: "keiri-pc", vendorClass: "MSFT 5.0" });
  });

  it("takes the client's own ciaddr when it renews", () => {
    const renew = observeDhcp({ op: "request", messageType: "request", xid: 1, clientMac: "b8:27:eb:12:34:56", ciaddr: "192.0.2.116" }, 9);
    expect(renew).toMatchObject({ ip: "192.0.2.116" });
    expect(observeDhcp({ op: "request", messageType: "request", xid: 1, clientMac: "01:00:5e:00:00:01" }, 9)).toBeUndefined();
    expect(observeDhcp({ op: "reply", messageType: "nak", xid: 1, clientMac: "b8:27:eb:12:34:56" }, 9)).toBeUndefined();
  });
});

describe("observeArp and observeDnsClient", () => {
  it("takes an ARP message's sender, with its address unless it is a probe", () => {
    const arp = { kind: "arp" as const, op: "request" as const, senderMac: "02:5e:4b:00:01:10", senderIp: "192.0.2.10", targetMac: "00:00:00:00:00:00", targetIp: "192.0.2.1" };
    expect(observeArp(arp, {}, 3)).toEqual({ time: 3, source: "arp", mac: "02:5e:4b:00:01:10", ip: "192.0.2.10" });
    const { senderIp: _, ...probe } = arp;
    expect(observeArp(probe, {}, 3)).toEqual({ time: 3, source: "arp", mac: "02:5e:4b:00:01:10" });
    expect(observeArp(arp, { ownMacs: ["02:5e:4b:00:01:10"] }, 3)).toBeUndefined();
  });

  it("turns a DNS client address on the LAN into an address-only observation", () => {
    const scope = buildLanScope(bridgeDevice);
    expect(observeDnsClient("192.0.2.10", 4, scope)).toEqual({ time: 4, source: "dns", ip: "192.0.2.10" });
    expect(observeDnsClient("198.51.100.1", 4, scope)).toBeUndefined();
    expect(observeDnsClient("nonsense", 4, scope)).toBeUndefined();
  });
});
