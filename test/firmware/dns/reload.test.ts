/**
 * Reload under load: a client keeps queries in flight over loopback while a new filter of
 * 200k names compiles and swaps in. Every query is answered, queries are answered during
 * the compile (it is off the hot path), and the swap is atomic: once one query sees the new
 * filter, no later query sees the old one.
 */
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { compileDnsFilter, type CompileInput } from "../../../firmware/dns/filter.ts";
import { reloadDnsFilter, runSteps } from "../../../firmware/dns/reload.ts";
import { DnsServer } from "../../../firmware/dns/server.ts";
import { DnsPolicy } from "../../../policies/schema.ts";
import { waitFor } from "./peers.ts";
import { buildQuery, decodeMessage } from "./wire.ts";

const N = 200_000;
function input(prefix: string): CompileInput {
  const names: string[] = [];
  for (let i = 0; i < N; i++) names.push(`${prefix}-${i}.example`);
  names.push("both.example");
  return {
    policy: DnsPolicy.parse({
      enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block: [], dohNames: [], dohAddresses: [], upstreams: [],
      lists: [{ id: "big", category: "malware", format: "domains", match: "subdomain", url: "https://lists.example/big" }],
    }),
    listTexts: new Map([["big", names.join("\n")]]),
    box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" },
  };
}

describe("reload without dropping", () => {
  it("runSteps gives the event loop turns while a step generator runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    function* slow(): Generator<void, number> {
      for (let i = 0; i < 40; i++) {
        const until = performance.now() + 2;
        while (performance.now() < until) { /* work */ }
        yield;
      }
      return 42;
    }
    expect(await runSteps(slow(), 4)).toBe(42);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });

  it("answers every query during a 200k-name reload, and swaps atomically", async () => {
    const first = compileDnsFilter(input("old"));
    if (!first.ok) throw new Error("setup");
    const server = new DnsServer({ listen: { address: "127.0.0.1", port: 0 }, upstreams: [], filter: first.filter });
    await server.start();
    const { address, port } = server.address();
    const client = createSocket("udp4");
    await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
    const names = ["old-7.example", "new-7.example", "both.example", "x.old-199999.example", "sekisho.home.arpa"];
    const sentAt = new Map<number, { name: string; at: number }>();
    const seen: { name: string; blocked: boolean; at: number }[] = [];
    let nextId = 0;
    let sent = 0;
    let running = true;
    const send = () => {
      if (!running) return;
      const id = nextId++ & 0xffff;
      const name = names[sent % names.length]!;
      sentAt.set(id, { name, at: performance.now() });
      sent++;
      client.send(buildQuery({ id, name, type: 1 }), port, address);
    };
    client.on("message", (m) => {
      const msg = decodeMessage(new Uint8Array(m));
      const q = sentAt.get(msg.id);
      if (!q) return;
      sentAt.delete(msg.id);
      seen.push({ name: q.name, blocked: msg.answers[0]?.text === "192.0.2.2", at: performance.now() });
      send();
    });
    try {
      for (let i = 0; i < 16; i++) send();
      await waitFor("traffic", () => seen.length > 200);
      const startedAt = performance.now();
      const r = await reloadDnsFilter(server, input("new"));
      const endedAt = performance.now();
      expect(r.ok).toBe(true);
      const during = seen.filter((s) => s.at > startedAt && s.at < endedAt).length;
      await waitFor("traffic after the swap", () => seen.filter((s) => s.at > endedAt).length > 200);
      running = false;
      await waitFor("the last answers", () => sentAt.size === 0, 3000);
      expect(sentAt.size).toBe(0); // nothing unanswered
      expect(during).toBeGreaterThan(10); // queries answered while compiling
      for (const s of seen.filter((x) => x.name === "both.example" || x.name === "sekisho.home.arpa")) {
        expect(s.blocked).toBe(s.name === "both.example");
      }
      // Atomic: the old filter's names stop being blocked exactly when the new filter's start.
      const flips = seen.filter((s) => s.name.includes("old-") || s.name.includes("new-"))
        .map((s) => (s.name.includes("old-") ? s.blocked : !s.blocked));
      const firstNew = flips.indexOf(false);
      expect(firstNew).toBeGreaterThan(0);
      expect(flips.slice(firstNew).every((x) => !x)).toBe(true);
      expect(server.stats().reloads).toBe(1);
    } finally {
      running = false;
      client.close();
      await server.stop();
    }
  }, 60_000);

  it("a reload that fails leaves the filter in force", async () => {
    const first = compileDnsFilter(input("old"));
    if (!first.ok) throw new Error("setup");
    const server = new DnsServer({ listen: { address: "127.0.0.1", port: 0 }, upstreams: [], filter: first.filter });
    const broken = { ...input("new"), listTexts: new Map([["big", "<html><body>502 Bad Gateway</body></html>"]]) };
    const r = await reloadDnsFilter(server, broken);
    expect(r.ok ? undefined : r.error).toMatchObject({ kind: "lists-unusable", lists: [{ id: "big", status: "unreadable" }] });
    expect(server.filter).toBe(first.filter);
    const missing = await reloadDnsFilter(server, { ...input("new"), listTexts: new Map() });
    expect(missing.ok).toBe(false);
    expect(server.filter).toBe(first.filter);
  });
});
