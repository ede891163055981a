import { describe, expect, it } from "vitest";
import { infrastructureMacs } from "../../../firmware/admin/infrastructure.ts";

describe("the devices the office cannot lose", () => {
  const link = JSON.stringify([
    { ifname: "lo", address: "00:00:00:00:00:00" },
    { ifname: "br0", address: "02:00:5E:00:53:02" },
    { ifname: "wan0", address: "02:00:5e:00:53:03" },
  ]);
  const routes = JSON.stringify([{ dst: "default", gateway: "192.0.2.1", dev: "br0" }, { dst: "default", gateway: "fe80::1", dev: "br0" }]);
  const neigh = JSON.stringify([
    { dst: "192.0.2.1", dev: "br0", lladdr: "02:00:5e:00:53:01", state: ["REACHABLE"] },
    { dst: "fe80::1", dev: "br0", lladdr: "02:00:5e:00:53:01", state: ["STALE"] },
    { dst: "192.0.2.10", dev: "br0", lladdr: "02:00:5e:00:53:10", state: ["REACHABLE"] },
  ]);

  it("are the box's own interfaces and the default routes' gateways, not other LAN devices", () => {
    expect([...infrastructureMacs(link, routes, neigh)].sort()).toEqual(["02:00:5e:00:53:01", "02:00:5e:00:53:02", "02:00:5e:00:53:03"]);
  });

  it("reads unreadable output as nothing extra, never throws", () => {
    expect(infrastructureMacs("not json", "{", "[1, null, \"x\"]").size).toBe(0);
    expect(infrastructureMacs(link, "[]", neigh).has("02:00:5e:00:53:01")).toBe(false);
  });
});
