import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NeighbourPoller, NeighbourTableError, readNeighbourTable } from "../../../firmware/inventory/neighbour-poller.ts";
import type { DeviceObservation, LanScope } from "../../../firmware/inventory/observation.ts";

const root = process.getuid?.() === 0;
const NS = `skinvnb${process.pid}`;
const inNs = ["ip", "netns", "exec", NS, "ip"];
const scope: LanScope = { neighbourDevs: ["d0"], prefixes: [] };

/** The real `ip` in a throwaway namespace with a veth pair as the LAN interface and hand-made neighbours. */
describe.skipIf(!root)("the neighbour table through the real ip", () => {
  beforeAll(() => {
    const ip = (...args: string[]) => execFileSync("ip", ["-n", NS, ...args]);
    execFileSync("ip", ["netns", "add", NS]);
    ip("link", "add", "d0", "type", "veth", "peer", "name", "d1"); // no dummy module on this kernel
    ip("link", "set", "d1", "up");
    ip("link", "set", "d0", "up");
    ip("addr", "add", "192.0.2.2/24", "dev", "d0");
    ip("addr", "add", "2001:db8:2::2/64", "dev", "d0", "nodad");
    ip("neigh", "add", "192.0.2.50", "lladdr", "b8:27:eb:00:00:50", "dev", "d0", "nud", "reachable");
    ip("neigh", "add", "192.0.2.51", "lladdr", "3c:a9:f4:00:00:51", "dev", "d0", "nud", "stale");
    ip("neigh", "add", "2001:db8:2::50", "lladdr", "b8:27:eb:00:00:50", "dev", "d0", "nud", "reachable");
  });
  afterAll(() => {
    execFileSync("ip", ["netns", "delete", NS]);
  });

  it("reads both families with their states", async () => {
    const entries = await readNeighbourTable(inNs);
    expect(entries).toEqual(expect.arrayContaining([
      { ip: "192.0.2.50", family: 4, mac: "b8:27:eb:00:00:50", dev: "d0", state: "REACHABLE", router: false },
      { ip: "192.0.2.51", family: 4, mac: "3c:a9:f4:00:00:51", dev: "d0", state: "STALE", router: false },
      { ip: "2001:db8:2::50", family: 6, mac: "b8:27:eb:00:00:50", dev: "d0", state: "REACHABLE", router: false },
    ]));
  });

  it("says what went wrong when ip fails or cannot be run", async () => {
    await expect(readNeighbourTable(["ip", "netns", "exec", `${NS}-missing`, "ip"])).rejects.toThrow(NeighbourTableError);
    await expect(readNeighbourTable(["ip", "netns", "exec", `${NS}-missing`, "ip"])).rejects.toThrow(/failed \(exit \d+\)/);
    await expect(readNeighbourTable(["/nonexistent/ip"])).rejects.toThrow(/cannot run "\/nonexistent\/ip"/);
  });

  it("polls until stopped, one poll at a time, and reports a failing sink without stopping", async () => {
    const batches: DeviceObservation[][] = [];
    const errors: Error[] = [];
    let inFlight = 0;
    let overlapped = false;
    const poller = new NeighbourPoller({
      scope,
      argv: inNs,
      intervalMs: 10,
      clock: () => 1234,
      onObservations: async (o) => {
        inFlight++;
        overlapped ||= inFlight > 1;
        await new Promise((r) => setTimeout(r, 15));
        inFlight--;
        batches.push(o);
        if (batches.length === 2) throw new Error("sink down");
      },
      onError: (e) => errors.push(e),
    });
    poller.start();
    const deadline = Date.now() + 10_000;
    while (batches.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await poller.stop();
    const count = batches.length;
    expect(count).toBeGreaterThanOrEqual(4);
    expect(overlapped).toBe(false);
    expect(errors.map((e) => e.message)).toEqual(["sink down"]);
    expect(batches[0]).toEqual(expect.arrayContaining([
      { time: 1234, source: "neighbour", mac: "b8:27:eb:00:00:50", ip: "192.0.2.50", current: true },
      { time: 1234, source: "neighbour", mac: "3c:a9:f4:00:00:51", ip: "192.0.2.51", current: false },
    ]));
    await new Promise((r) => setTimeout(r, 100)); // ten intervals: a stopped poller polls no more
    expect(batches.length).toBe(count);
  });
});
