import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseNeighbourTable } from "../../../firmware/inventory/neighbours.ts";
import { observeNeighbours, type LanScope } from "../../../firmware/inventory/observation.ts";
import { parsePrefix, type Prefix } from "../../../policies/net.ts";
import { FIXTURES } from "./fixtures.ts";

const prefix = (s: string): Prefix => {
  const r = parsePrefix(s);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const scope: LanScope = { neighbourDevs: ["br0"], prefixes: [prefix("192.0.2.0/24"), prefix("2001:db8:2::/64")], ownMacs: ["02:5e:4b:00:00:02"] };

describe("parseNeighbourTable on real `ip -j neigh show` output (iproute2 6.1)", () => {
  it("reads both families, every state, and leaves unresolved entries without a MAC", () => {
    const r = parseNeighbourTable(readFileSync(join(FIXTURES, "ip-neigh.json"), "utf8"));
    if (!r.ok) throw new Error(r.error);
    expect(r.skipped).toBe(0);
    expect(r.value).toHaveLength(10);
    expect(r.value[0]).toEqual({ ip: "192.0.2.1", family: 4, mac: "52:84:2c:d3:c9:18", dev: "br0", state: "STALE", router: false });
    expect(r.value.find((e) => e.ip === "192.0.2.77")).toEqual({ ip: "192.0.2.77", family: 4, dev: "br0", state: "FAILED", router: false });
    expect(r.value.find((e) => e.ip === "2001:db8:2::1")).toMatchObject({ family: 6, router: true, state: "STALE" });
    expect(new Set(r.value.map((e) => e.state))).toEqual(new Set(["STALE", "DELAY", "FAILED", "PERMANENT", "REACHABLE"]));
  });

  it("reads the IPv6-only listing the same way", () => {
    const r = parseNeighbourTable(readFileSync(join(FIXTURES, "ip-neigh-6.json"), "utf8"));
    expect(r.ok && r.value.map((e) => e.ip)).toEqual(["2001:db8:2::1", "fe80::5084:2cff:fed3:c918", "2001:db8:2::10", "fe80::5e:4bff:fe00:110"]);
  });

  it("canonicalises addresses and MACs, skips and counts entries it cannot use", () => {
    const r = parseNeighbourTable(JSON.stringify([
      { dst: "2001:DB8:2:0::0:10", dev: "br0", lladdr: "B8:27:EB:00:00:01", state: ["REACHABLE"], probes: 1 },
      { dst: "not-an-ip", dev: "br0", lladdr: "b8:27:eb:00:00:02", state: ["REACHABLE"] },
      { dst: "192.0.2.5", dev: "br0", lladdr: "zz:27:eb:00:00:02", state: ["REACHABLE"] },
      { dst: "192.0.2.6", lladdr: "b8:27:eb:00:00:06", state: ["REACHABLE"] },
      { dst: "192.0.2.7", dev: "br0", lladdr: "b8:27:eb:00:00:07", state: ["SOMETHING_NEW"] },
      "garbage",
    ]));
    expect(r).toEqual({
      ok: true,
      skipped: 5,
      value: [{ ip: "2001:db8:2::10", family: 6, mac: "b8:27:eb:00:00:01", dev: "br0", state: "REACHABLE", router: false }],
    });
  });

  it("refuses output that is not a JSON array, and takes empty output as an empty table", () => {
    expect(parseNeighbourTable("Object \"neigh\" is unknown")).toMatchObject({ ok: false, error: expect.stringContaining("not JSON") });
    expect(parseNeighbourTable("{}")).toEqual({ ok: false, error: "ip -j neigh printed JSON that is not an array" });
    expect(parseNeighbourTable("")).toEqual({ ok: true, value: [], skipped: 0 });
  });
});

describe("observeNeighbours", () => {
  const entries = () => {
    const r = parseNeighbourTable(readFileSync(join(FIXTURES, "ip-neigh.json"), "utf8"));
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it("turns resolved entries on LAN interfaces into observations; only fresh states count as 'there now'", () => {
    const obs = observeNeighbours(entries(), scope, 1000);
    expect(obs).toEqual([
      { time: 1000, source: "neighbour", mac: "52:84:2c:d3:c9:18", ip: "192.0.2.1", current: false },
      { time: 1000, source: "neighbour", mac: "02:5e:4b:00:01:10", ip: "192.0.2.10", current: true },
      { time: 1000, source: "neighbour", mac: "02:5e:4b:00:01:11", ip: "192.0.2.116", current: true },
      { time: 1000, source: "neighbour", mac: "00:00:5e:00:53:01", ip: "192.0.2.200", current: false },
      { time: 1000, source: "neighbour", mac: "02:5e:4b:00:01:11", ip: "192.0.2.11", current: true },
      { time: 1000, source: "neighbour", mac: "52:84:2c:d3:c9:18", ip: "2001:db8:2::1", current: false },
      // link-local: the MAC counts, the address is not kept
      { time: 1000, source: "neighbour", mac: "52:84:2c:d3:c9:18", current: false },
      { time: 1000, source: "neighbour", mac: "02:5e:4b:00:01:10", ip: "2001:db8:2::10", current: true },
      { time: 1000, source: "neighbour", mac: "02:5e:4b:00:01:10", current: true },
    ]);
  });

  it("ignores other interfaces, the box's own MAC and group addresses", () => {
    const e = [
      { ip: "198.51.100.1", family: 4 as const, mac: "b8:27:eb:00:00:01", dev: "wan0", state: "REACHABLE" as const, router: false },
      { ip: "192.0.2.2", family: 4 as const, mac: "02:5e:4b:00:00:02", dev: "br0", state: "REACHABLE" as const, router: false },
      { ip: "192.0.2.9", family: 4 as const, mac: "01:00:5e:00:00:01", dev: "br0", state: "REACHABLE" as const, router: false },
      { ip: "192.0.2.8", family: 4 as const, mac: "00:00:00:00:00:00", dev: "br0", state: "REACHABLE" as const, router: false },
    ];
    expect(observeNeighbours(e, scope, 1)).toEqual([]);
  });
});
