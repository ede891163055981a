/**
 * The DNS filter on loopback with real peers: dig as the client, dnsmasq as the upstream
 * resolver (on a loopback address of its own), the server in this process (Node).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileDnsFilter, type BoxAddresses, type DnsFilter } from "../../../firmware/dns/filter.ts";
import { DEFAULT_TCP_LIMITS, DnsServer } from "../../../firmware/dns/server.ts";
import { DnsPolicy, type DnsLocalOverrides } from "../../../policies/schema.ts";
import { dig, startDnsmasq, udpAnswers, waitFor, type Dnsmasq } from "./peers.ts";
import { buildQuery, decodeMessage } from "./wire.ts";

const net = `127.53.${50 + (process.pid % 200)}`;
const upstreamAddr = `${net}.1`;
const deadAddr = `${net}.2`;
const otherClient = `${net}.20`;
const port = 20_000 + (process.pid % 20_000);
const listsDir = join(import.meta.dirname, "../../../policies/lists");
const box: BoxAddresses = { management4: "192.0.2.1", blockPage4: "192.0.2.2" };
const bigTxt = Array.from({ length: 8 }, (_, i) => `--txt-record=big.test,${String(i).repeat(200)}`);

function filter(overrides?: DnsLocalOverrides): DnsFilter {
  const policy = DnsPolicy.parse({
    enabled: true, response: "blockpage", blockCategories: ["malware", "phishing"], allow: [], block: [], dohNames: ["doh.example"],
    dohAddresses: [], upstreams: [],
    lists: [
      { id: "sample-malware", category: "malware", format: "hosts", match: "exact", url: "https://lists.example/m" },
      { id: "sample-ads", category: "ads", format: "adblock", match: "exact", url: "https://lists.example/a" },
    ],
    groups: [{ id: "no-ads", clients: [otherClient], blockCategories: ["malware", "ads"] }],
  });
  const listTexts = new Map([
    ["sample-malware", readFileSync(join(listsDir, "malware.hosts"), "utf8")],
    ["sample-ads", readFileSync(join(listsDir, "ads.adblock.txt"), "utf8")],
  ]);
  const r = compileDnsFilter({ policy, listTexts, box, overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.filter;
}

describe("DNS filter on loopback (dig → filter → dnsmasq)", () => {
  let upstream: Dnsmasq;
  let server: DnsServer;
  let at: { address: string; port: number };
  const q = (name: string, type = "A", extra: string[] = []) => dig(at.address, at.port, name, type, extra);

  beforeAll(async () => {
    upstream = await startDnsmasq(upstreamAddr, port, [
      "--local=/test/", "--local=/example/",
      "--address=/allowed.test/192.0.2.10",
      "--address=/ads.example/192.0.2.30",
      "--host-record=tracker.blocked.example,192.0.2.66",
      "--host-record=cdn.allowed.test,192.0.2.11",
      "--cname=cloak.test,tracker.blocked.example",
      "--cname=www.allowed.test,cdn.allowed.test",
      ...bigTxt,
    ]);
    server = new DnsServer({ listen: { address: "127.0.0.1", port: 0 }, upstreams: [{ address: upstreamAddr, port }], filter: filter(), upstreamTimeoutMs: 1000 });
    await server.start();
    at = server.address();
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.stop();
  });

  it("blocks a listed name: A → the block page, AAAA → ::, HTTPS/SVCB → NODATA, never forwarded", async () => {
    const before = server.stats().forwarded;
    expect((await q("malware.example")).answers.map((a) => a.data)).toEqual(["192.0.2.2"]);
    expect((await q("malware.example", "AAAA")).answers.map((a) => a.data)).toEqual(["::"]);
    for (const t of ["TYPE65", "TYPE64", "MX"]) {
      const r = await q("malware.example", t);
      expect([r.status, r.answers.length]).toEqual(["NOERROR", 0]);
      expect(r.authority.join("\n")).toMatch(/SOA\s+sekisho\.home\.arpa\./);
    }
    expect((await q("UPDATE-CHECK.trojan.TEST")).answers[0]?.data).toBe("192.0.2.2");
    expect(server.stats().forwarded).toBe(before);
  });

  it("forwards an allowed name to the upstream and passes its answer through", async () => {
    const r = await q("allowed.test");
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a.data)).toEqual(["192.0.2.10"]);
    expect(r.flags).toContain("ra");
    const nx = await q("nothere.test");
    expect(nx.status).toBe("NXDOMAIN");
  });

  it("blocks a name behind a CNAME to a blocked name, for A and AAAA alike (CNAME cloaking)", async () => {
    const a = await q("cloak.test");
    expect(a.answers.map((x) => x.data)).toEqual(["192.0.2.2"]);
    const aaaa = await q("cloak.test", "AAAA");
    expect(aaaa.answers.map((x) => x.data)).toEqual(["::"]);
    const ok = await q("www.allowed.test");
    expect(ok.answers.map((x) => x.data)).toEqual(["cdn.allowed.test.", "192.0.2.11"]);
    const log = server.drainLog();
    const cloaked = log.filter((r) => r.name === "cloak.test");
    expect(cloaked.map((r) => [r.outcome, r.cname, r.source, r.category])).toEqual([
      ["blocked-cname", "tracker.blocked.example", "sample-malware", "malware"],
      ["blocked-cname", "tracker.blocked.example", "sample-malware", "malware"],
    ]);
  });

  it("answers the built-in names and refuses DoH names", async () => {
    expect((await q("use-application-dns.net")).status).toBe("NXDOMAIN");
    expect((await q("mask.icloud.com")).status).toBe("NXDOMAIN");
    expect((await q("mask-h2.icloud.com", "AAAA")).status).toBe("NXDOMAIN");
    const arpa = await q("_dns.resolver.arpa", "TYPE64");
    expect([arpa.status, arpa.answers.length]).toEqual(["NOERROR", 0]);
    expect((await q("sekisho.home.arpa")).answers.map((a) => a.data)).toEqual(["192.0.2.1"]);
    const noV6 = await q("sekisho.home.arpa", "AAAA");
    expect([noV6.status, noV6.answers.length]).toEqual(["NOERROR", 0]);
    expect((await q("doh.example")).status).toBe("NXDOMAIN");
  });

  it("applies a client's group: ads blocked for the group's member only", async () => {
    expect((await q("ads.example")).answers.map((a) => a.data)).toEqual(["192.0.2.30"]);
    const member = await q("ads.example", "A", ["-b", otherClient]);
    expect(member.answers.map((a) => a.data)).toEqual(["192.0.2.2"]);
    const rec = server.drainLog().filter((r) => r.name === "ads.example");
    expect(rec.map((r) => [r.client, r.outcome, r.group])).toEqual([["127.0.0.1", "forwarded", undefined], [otherClient, "blocked", "no-ads"]]);
  });

  it("retries over TCP when the upstream's UDP answer is truncated, and truncates for small clients", async () => {
    const before = server.stats().tcpRetries;
    const big = await q("big.test", "TXT", ["+bufsize=4096"]);
    expect(big.answers).toHaveLength(8);
    expect(big.flags).not.toContain("tc");
    expect(server.stats().tcpRetries).toBe(before + 1);
    // No EDNS: 512 bytes. The filter says TC; dig retries over TCP to the filter.
    const small = await q("big.test", "TXT", ["+noedns"]);
    expect(small.raw).toMatch(/Truncated, retrying in TCP mode/);
    expect(small.answers).toHaveLength(8);
    const log = server.drainLog().filter((r) => r.name === "big.test");
    expect(log.map((r) => r.protocol)).toContain("tcp");
  });

  it("serves TCP clients (blocked and forwarded)", async () => {
    expect((await q("malware.example", "A", ["+tcp"])).answers[0]?.data).toBe("192.0.2.2");
    expect((await q("allowed.test", "A", ["+tcp"])).answers[0]?.data).toBe("192.0.2.10");
  });

  it("ends a TCP connection whose client sends queries and never reads the answers", async () => {
    const { connect } = await import("node:net");
    const query = buildQuery({ name: "malware.example", type: 1 });
    const framed = new Uint8Array(query.length + 2);
    framed[0] = query.length >> 8;
    framed[1] = query.length & 255;
    framed.set(query, 2);
    // 64k queries, a few MB of answers: more than the kernel's buffers on both ends hold.
    const burst = new Uint8Array(framed.length * 65_536);
    for (let i = 0; i < 65_536; i++) burst.set(framed, i * framed.length);
    const sock = connect({ host: at.address, port: at.port });
    let closed = false;
    let written = 0;
    sock.on("error", () => {});
    sock.on("close", () => { closed = true; });
    sock.on("connect", () => {
      sock.pause(); // never read
      const more = () => {
        while (!closed && written < 40) {
          written++;
          if (!sock.write(burst)) return void sock.once("drain", more);
        }
      };
      more();
    });
    await waitFor("the server to end the connection", () => closed, 20_000);
    // Ended well before everything was sent: the answers stopped being queued.
    expect(written).toBeLessThan(40);
    // And the server still answers others.
    expect((await q("malware.example", "A", ["+tcp"])).answers[0]?.data).toBe("192.0.2.2");
  }, 30_000);

  /** One length-prefixed query, as DNS over TCP sends it. */
  const tcpQuery = (name: string) => {
    const query = buildQuery({ name, type: 1 });
    const framed = new Uint8Array(query.length + 2);
    framed[0] = query.length >> 8;
    framed[1] = query.length & 255;
    framed.set(query, 2);
    return framed;
  };

  /** A raw TCP client: what it received, and whether the server has closed or ended. */
  async function rawTcp(opts: { localAddress?: string; to?: { address: string; port: number } } = {}) {
    const { connect } = await import("node:net");
    const to = opts.to ?? at;
    const sock = connect({ host: to.address, port: to.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const state = { received: new Uint8Array(0), ended: false, closed: false, sock };
    sock.on("data", (d: Uint8Array) => {
      const next = new Uint8Array(state.received.length + d.length);
      next.set(state.received);
      next.set(d, state.received.length);
      state.received = next;
    });
    sock.on("end", () => { state.ended = true; });
    sock.on("close", () => { state.closed = true; });
    sock.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    return state;
  }

  it("answers a TCP client that shuts its side right after the query (half-close)", async () => {
    // A name never asked before: forwarded, so the answer comes after the client's FIN.
    const name = `half-close-${process.pid}-${Date.now()}.allowed.test`;
    const c = await rawTcp();
    c.sock.end(tcpQuery(name));
    await waitFor("the server to end its side", () => c.ended || c.closed, 5000);
    expect(c.received.length).toBeGreaterThan(2);
    const len = (c.received[0]! << 8) | c.received[1]!;
    const answer = decodeMessage(c.received.subarray(2, 2 + len));
    expect(answer.answers[0]?.data).toEqual(new Uint8Array([192, 0, 2, 10]));
  });

  it("closes a client's TCP connections beyond its share at once, and serves other clients", async () => {
    const held: Awaited<ReturnType<typeof rawTcp>>[] = [];
    for (let i = 0; i < DEFAULT_TCP_LIMITS.maxPerClient; i++) held.push(await rawTcp());
    try {
      const extra = await rawTcp();
      await waitFor("the server to close the connection over the share", () => extra.closed, 5000);
      // The ones within the share are still open and answered.
      expect(held.every((h) => !h.closed)).toBe(true);
      held[0]!.sock.write(tcpQuery("malware.example"));
      await waitFor("an answer on a held connection", () => held[0]!.received.length > 2, 5000);
      // Another LAN host is not held back by this one.
      const other = await rawTcp({ localAddress: otherClient });
      other.sock.write(tcpQuery("malware.example"));
      await waitFor("an answer for another client", () => other.received.length > 2, 5000);
      other.sock.destroy();
    } finally {
      for (const h of held) h.sock.destroy();
    }
  });

  it("closes a TCP connection whose message does not arrive in time, even if bytes keep coming", async () => {
    const strict = new DnsServer({
      listen: { address: "127.0.0.1", port: 0 }, upstreams: [{ address: upstreamAddr, port }], filter: filter(),
      tcpLimits: { messageMs: 300, idleMs: 10_000 },
    });
    await strict.start();
    try {
      const to = strict.address();
      // A whole query at once is fine.
      const ok = await rawTcp({ to });
      ok.sock.write(tcpQuery("malware.example"));
      await waitFor("an answer", () => ok.received.length > 2, 5000);
      // One byte every 50 ms: never idle, but its message never completes.
      const slow = await rawTcp({ to });
      const query = tcpQuery("malware.example");
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < query.length && !slow.closed) slow.sock.write(query.subarray(sent, ++sent));
      }, 50);
      try {
        await waitFor("the server to close the slow connection", () => slow.closed, 5000);
      } finally {
        clearInterval(drip);
      }
      expect(sent).toBeLessThan(query.length);
      expect(ok.closed).toBe(false);
      ok.sock.destroy();
    } finally {
      await strict.stop();
    }
  });

  it("answers from the cache with aged TTLs, even after the upstream is gone", async () => {
    const first = await q("cdn.allowed.test");
    const hits = server.stats().cacheHits;
    const second = await q("cdn.allowed.test");
    expect(server.stats().cacheHits).toBe(hits + 1);
    expect(second.answers[0]?.data).toBe("192.0.2.11");
    expect(second.answers[0]!.ttl).toBeLessThanOrEqual(first.answers[0]!.ttl);
    const log = server.drainLog().filter((r) => r.name === "cdn.allowed.test");
    expect(log.at(-1)?.outcome).toBe("cached");
    expect(server.stats().cacheHitRatio).toBeGreaterThan(0);
  });

  it("answers malformed datagrams with FORMERR, drops garbage, and keeps serving", async () => {
    const bad = buildQuery({ id: 77, name: "a.example", type: 1 }).slice(0, 20);
    const r = await udpAnswers(at.address, at.port, bad, 1000);
    expect(r && decodeMessage(r)).toMatchObject({ id: 77, qr: true, rcode: 1 });
    expect(await udpAnswers(at.address, at.port, Uint8Array.of(1, 2, 3), 200)).toBeUndefined();
    const resp = buildQuery({ name: "a.example", type: 1 });
    resp[2]! |= 0x80;
    expect(await udpAnswers(at.address, at.port, resp, 200)).toBeUndefined();
    expect((await q("malware.example")).answers[0]?.data).toBe("192.0.2.2");
    expect(server.stats()).toMatchObject({ malformed: expect.any(Number), dropped: expect.any(Number) });
    expect(server.stats().malformed).toBeGreaterThanOrEqual(1);
    expect(server.stats().dropped).toBeGreaterThanOrEqual(2);
  });

  it("logs every query with what decided it, and counts", async () => {
    server.drainLog();
    await q("dropper.malware.example", "AAAA");
    await q("allowed.test");
    const [blocked, forwarded] = server.drainLog();
    expect(blocked).toMatchObject({ client: "127.0.0.1", protocol: "udp", name: "dropper.malware.example", qtype: 28, outcome: "blocked",
      rcode: 0, rule: "dropper.malware.example", source: "sample-malware", category: "malware", action: "block" });
    expect(forwarded).toMatchObject({ name: "allowed.test", outcome: expect.stringMatching(/forwarded|cached/) });
    const s = server.stats();
    expect(s.queries).toBeGreaterThan(s.blocked);
    expect(s.blocked).toBeGreaterThan(0);
  });

  it("a swapped filter is in force for the next query (an allow override)", async () => {
    const old = server.filter;
    server.swapFilter(filter({ allow: ["malware.example"], block: [] }));
    try {
      // Allowed now: forwarded, and dnsmasq has no such name.
      expect((await q("malware.example")).status).toBe("NXDOMAIN");
      const rec = server.drainLog().at(-1);
      expect(rec).toMatchObject({ name: "malware.example", outcome: "forwarded", source: "local", action: "allow", rule: "malware.example" });
    } finally {
      server.swapFilter(old);
    }
    expect((await q("malware.example")).answers[0]?.data).toBe("192.0.2.2");
  });
});

describe("upstream failover", () => {
  it("moves on when the first upstream is dead, and skips it for the next queries", async () => {
    const upstream = await startDnsmasq(upstreamAddr, port + 1, ["--address=/allowed.test/192.0.2.10"]);
    const server = new DnsServer({
      listen: { address: "127.0.0.1", port: 0 }, filter: filter(), upstreamTimeoutMs: 300,
      upstreams: [{ address: deadAddr, port: port + 1 }, { address: upstreamAddr, port: port + 1 }],
    });
    try {
      await server.start();
      const at = server.address();
      const t0 = Date.now();
      expect((await dig(at.address, at.port, "one.allowed.test", "A")).answers[0]?.data).toBe("192.0.2.10");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(server.stats().upstreamFailures).toBe(1);
      const t1 = Date.now();
      expect((await dig(at.address, at.port, "two.allowed.test", "A")).answers[0]?.data).toBe("192.0.2.10");
      expect(Date.now() - t1).toBeLessThan(250);
      expect(server.stats().upstreamFailures).toBe(1);
      await upstream.stop();
      const gone = await dig(at.address, at.port, "three.allowed.test", "A");
      expect(gone.status).toBe("SERVFAIL");
      expect(server.stats().servfail).toBe(1);
    } finally {
      await server.stop();
      await upstream.stop();
    }
  });
});

describe("stopping", () => {
  it("releases its port", async () => {
    const server = new DnsServer({ listen: { address: "127.0.0.1", port: 0 }, upstreams: [], filter: filter() });
    await server.start();
    const at = server.address();
    await server.stop();
    const again = new DnsServer({ listen: at, upstreams: [], filter: filter() });
    await again.start();
    await waitFor("answer", async () => (await udpAnswers(at.address, at.port, buildQuery({ name: "malware.example", type: 1 }))) !== undefined);
    await again.stop();
  });
});

describe("under Deno (the box's runtime and socket)", () => {
  it("serves UDP through Deno.listenDatagram and TCP, blocks and forwards, with scoped permissions", async () => {
    const repo = join(import.meta.dirname, "../../..");
    const upstream = await startDnsmasq(upstreamAddr, port + 2, ["--address=/allowed.test/192.0.2.10"]);
    const listenPort = port + 3;
    const child = spawn(join(repo, "node_modules/.bin/deno"), [
      "run", "--quiet", "--config", join(repo, "deno.json"), "--unstable-net",
      `--allow-net=127.0.0.1,0.0.0.0,${upstreamAddr}`, `--allow-read=${join(repo, "policies/lists")}`,
      join(repo, "test/firmware/dns/serve-fixture.ts"), "--listen", `127.0.0.1:${listenPort}`, "--upstream", `${upstreamAddr}:${port + 2}`,
      "--sample-lists", "--socket", "deno",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      await waitFor("the filter under Deno", () => {
        if (child.exitCode !== null) throw new Error(`deno exited: ${err}`);
        return out.includes('"ready"');
      }, 30_000);
      expect(JSON.parse(out.split("\n")[0]!)).toMatchObject({ ready: true, implementation: "deno", port: listenPort });
      expect((await dig("127.0.0.1", listenPort, "malware.example", "A")).answers.map((a) => a.data)).toEqual(["192.0.2.2"]);
      expect((await dig("127.0.0.1", listenPort, "allowed.test", "A")).answers.map((a) => a.data)).toEqual(["192.0.2.10"]);
      expect((await dig("127.0.0.1", listenPort, "malware.example", "AAAA", ["+tcp"])).answers.map((a) => a.data)).toEqual(["::"]);
      child.kill("SIGTERM");
      await waitFor("deno to stop", () => child.exitCode !== null, 10_000);
      const stopped = JSON.parse(out.trim().split("\n").at(-1)!) as { stats: { queries: number; blocked: number; forwarded: number } };
      expect(stopped.stats).toMatchObject({ queries: 3, blocked: 2, forwarded: 1 });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await upstream.stop();
    }
  }, 60_000);
});
