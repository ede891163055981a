import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { diffFromNothing, diffPolicies } from "../../../firmware/policy/diff.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";
import { policyOf } from "../../policies/baseline-fixture.ts";

const base = policyOf((p) => {
  p.blocklists[0].entries = ["203.0.113.99", "198.51.100.0/24"];
  p.inbound.allow = [{ id: "web-in", to: "192.0.2.10", protocol: "tcp", port: 8080 }];
  p.dns.lists = [{ id: "ads-list", category: "ads", format: "domains", match: "subdomain", entries: ["ads.example", "track.example"] }];
  p.dns.groups = [{ id: "staff", clients: ["192.0.2.0/25"], blockCategories: ["malware"] }];
});
const none = { added: [], removed: [], changed: [] };

describe("diffPolicies", () => {
  it("finds nothing between a policy and itself, or a copy with another serial and description", () => {
    expect(diffPolicies(base, base)).toEqual(none);
    expect(diffPolicies(base, { ...structuredClone(base), serial: 99, description: "other words" })).toEqual(none);
  });

  it("names rules added, removed and changed in every section", () => {
    const after = policyOf((p) => {
      p.blocklists[0].entries = ["203.0.113.99", "198.51.100.0/24", "203.0.113.7"]; // c2-feed changed
      p.blocklists.splice(2, 1); // scanner-feed removed
      p.inbound.allow = [{ id: "web-in", to: "192.0.2.10", protocol: "tcp", port: 8080 }, { id: "ssh-in", to: "192.0.2.11", protocol: "tcp", port: 22 }];
      p.portScan.rate = 10; // port-scan changed
      p.bruteForce = p.bruteForce.filter((b: { id: string }) => b.id !== "bf-vnc"); // removed
      p.outbound.block[0].ports = [445]; // out-smb changed
      p.dns.lists = [{ id: "ads-list", category: "ads", format: "domains", match: "subdomain", entries: ["ads.example", "track.example"] },
        { id: "gambling", category: "gambling", format: "domains", match: "subdomain", entries: ["bet.example"] }];
      p.dns.groups = [{ id: "staff", clients: ["192.0.2.0/25"], blockCategories: ["malware", "social"] }];
    });
    expect(diffPolicies(base, after)).toEqual({
      added: ["gambling", "ssh-in"],
      removed: ["bf-vnc", "scanner-feed"],
      changed: ["c2-feed", "out-smb", "port-scan", "staff"],
    });
    // And the way back is the mirror image.
    expect(diffPolicies(after, base)).toEqual({ added: ["bf-vnc", "scanner-feed"], removed: ["gambling", "ssh-in"], changed: ["c2-feed", "out-smb", "port-scan", "staff"] });
  });

  it("does not count a reordered list as a change", () => {
    const reordered = structuredClone(base);
    reordered.blocklists[0]!.entries.reverse();
    reordered.dns.lists[0]!.entries!.reverse();
    expect(diffPolicies(base, reordered)).toEqual(none);
  });

  it("names DNS settings outside any rule by their path", () => {
    const after = policyOf((p) => {
      Object.assign(p, structuredClone(base));
      p.dns.blockCategories = ["malware", "phishing", "c2", "adult"];
      p.dns.upstreams = ["192.0.2.53"];
    });
    expect(diffPolicies(base, after)).toEqual({ added: [], removed: [], changed: ["dns.blockCategories", "dns.upstreams"] });
  });

  it("counts a rule id that moved to another section as changed", () => {
    const after = structuredClone(base);
    after.inbound.allow = [];
    after.outbound.block.push({ id: "web-in", protocol: "tcp", ports: [8080], reason: { ja: "理由", en: "reason" } });
    expect(diffPolicies(base, after)).toEqual({ added: [], removed: [], changed: ["web-in"] });
  });

  it("is a mirror image both ways, and empty exactly when the rules are the same (property)", () => {
    const arbParams = fc.record({
      drop: fc.subarray(["bf-ssh", "bf-rdp", "bf-smb", "out-smb", "out-irc", "c2-feed"]),
      rate: fc.integer({ min: 1, max: 3 }),
      entries: fc.subarray(["203.0.113.1", "203.0.113.2", "198.51.100.0/24"]),
    });
    type Params = { drop: string[]; rate: number; entries: string[] };
    const build = ({ drop, rate, entries }: Params) => policyOf((p) => {
      p.bruteForce = p.bruteForce.filter((b: { id: string }) => !drop.includes(b.id));
      p.outbound.block = p.outbound.block.filter((b: { id: string }) => !drop.includes(b.id));
      p.blocklists = p.blocklists.filter((b: { id: string }) => !drop.includes(b.id));
      p.portScan.rate = rate;
      p.blocklists[0].entries = [...entries].reverse();
    });
    const same = (x: Params, y: Params) =>
      x.rate === y.rate && [...x.drop].sort().join() === [...y.drop].sort().join() && [...x.entries].sort().join() === [...y.entries].sort().join();
    fc.assert(fc.property(arbParams, arbParams, (pa, pb) => {
      const [a, b] = [build(pa), build(pb)];
      const ab = diffPolicies(a, b);
      const ba = diffPolicies(b, a);
      expect(ab.added).toEqual(ba.removed);
      expect(ab.removed).toEqual(ba.added);
      expect(ab.changed).toEqual(ba.changed);
      expect(ab.added.length + ab.removed.length + ab.changed.length === 0).toBe(same(pa, pb));
      expect(ab.removed).toEqual([...pb.drop.filter((id) => !pa.drop.includes(id))].sort());
    }), { numRuns: 200 });
  });

  it("lists every rule id as added for a first policy", () => {
    const d = diffFromNothing(base);
    expect(d.removed).toEqual([]);
    expect(d.changed).toEqual([]);
    expect(d.added).toEqual([
      "ads-list", "bf-ftp-telnet", "bf-rdp", "bf-smb", "bf-ssh", "bf-vnc", "botnet-feed", "c2-feed", "out-dot", "out-irc",
      "out-netbios-udp", "out-smb", "out-smtp", "out-telnet", "port-scan", "scanner-feed", "staff", "web-in",
    ]);
  });
});
