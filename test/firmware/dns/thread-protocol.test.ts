/**
 * The DNS filter's engine and its thread protocol: the pure helpers (MAC table, counters
 * summed across worker restarts, restart backoff, request bookkeeping), and the engine
 * itself on this thread (Node) over real UDP on loopback: the calls the firmware makes are
 * the ones the worker answers, and what they return survives structured cloning (the only
 * way anything crosses to or from the worker).
 */
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalDnsEngine } from "../../../firmware/dns/engine.ts";
import { listPath } from "../../../firmware/dns/list-store.ts";
import {
  countersOf, macTable, PendingRequests, restartDelayMs, sumStats, zeroStats, type DnsEngineConfig, type DnsFilterSpec,
} from "../../../firmware/dns/thread-protocol.ts";
import { DnsPolicy } from "../../../policies/schema.ts";
import { buildQuery, decodeMessage } from "./wire.ts";

describe("thread protocol: pure parts", () => {
  it("macTable flattens devices to IP → MAC, sorted by IP, so equal tables compare equal as text", () => {
    const a = macTable([
      { mac: "02:00:00:00:00:02", addresses: [{ ip: "192.0.2.20" }, { ip: "2001:db8::20" }] },
      { mac: "02:00:00:00:00:01", addresses: [{ ip: "192.0.2.10" }] },
      { mac: "02:00:00:00:00:03", addresses: [] },
    ]);
    expect(a).toEqual([["192.0.2.10", "02:00:00:00:00:01"], ["192.0.2.20", "02:00:00:00:00:02"], ["2001:db8::20", "02:00:00:00:00:02"]]);
    const b = macTable([
      { mac: "02:00:00:00:00:01", addresses: [{ ip: "192.0.2.10" }] },
      { mac: "02:00:00:00:00:02", addresses: [{ ip: "2001:db8::20" }, { ip: "192.0.2.20" }] },
    ]);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("sumStats adds the counters of earlier workers, keeps the current cache figures, recomputes the hit ratio", () => {
    const before = { ...countersOf(zeroStats()), queries: 100, cacheHits: 30, cacheMisses: 10, reloads: 2, logOverwritten: 1 };
    const now = { ...zeroStats(), queries: 5, cacheHits: 0, cacheMisses: 10, cacheEntries: 7, logPending: 3, cacheHitRatio: 0 };
    const s = sumStats(before, now, 4);
    expect(s).toMatchObject({ queries: 105, cacheHits: 30, cacheMisses: 20, reloads: 2, logOverwritten: 5, cacheEntries: 7, logPending: 3 });
    expect(s.cacheHitRatio).toBeCloseTo(0.6);
    expect(sumStats(countersOf(zeroStats()), zeroStats()).cacheHitRatio).toBe(0);
    // countersOf drops the figures that do not carry over a restart.
    expect(Object.keys(countersOf(s))).not.toContain("cacheEntries");
  });

  it("restartDelayMs: at once-ish after a lone crash, doubling for repeated crashes, capped at 30 s", () => {
    const now = 1_000_000_000;
    expect(restartDelayMs([now], now)).toBe(500);
    expect(restartDelayMs([now - 2000, now - 1000, now], now)).toBe(2000);
    expect(restartDelayMs(Array.from({ length: 20 }, (_, i) => now - i * 1000), now)).toBe(30_000);
    // Crashes older than the window do not count.
    expect(restartDelayMs([now - 3_600_000, now - 1_800_000, now], now)).toBe(500);
  });

  it("PendingRequests settles each request once: the answer, the fallback on failAll, the fallback after a timeout", async () => {
    const p = new PendingRequests<string>();
    const a = p.add(() => "down-a");
    const b = p.add(() => "down-b");
    expect(a.id).not.toBe(b.id);
    expect(p.settle(a.id, "answer")).toBe(true);
    expect(p.settle(a.id, "again")).toBe(false);
    expect(p.settle(9999, "unknown")).toBe(false);
    p.failAll();
    expect(await a.promise).toBe("answer");
    expect(await b.promise).toBe("down-b");
    expect(p.size).toBe(0);
    const c = p.add(() => "timed out", 20);
    expect(await c.promise).toBe("timed out");
    expect(p.settle(c.id, "late")).toBe(false);
  });
});

describe("LocalDnsEngine (the filter on this thread, as under Node and inside the worker)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-dns-engine-"));
  const listDir = join(dir, "dns-lists");
  const MAC = "02:00:5e:00:53:01";
  let engine: LocalDnsEngine;
  let client: Socket;
  let nextId = 1;

  const spec = (extraBlock: string[] = []): DnsFilterSpec => ({
    policy: DnsPolicy.parse({
      enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block: extraBlock, dohNames: [], dohAddresses: [],
      upstreams: [],
      lists: [
        { id: "kept-malware", category: "malware", format: "domains", match: "subdomain", url: "https://lists.example/malware" },
        { id: "inline-ads", category: "ads", format: "domains", match: "exact", entries: ["ads.example"] },
      ],
      groups: [{ id: "by-mac", clients: [MAC], blockCategories: ["malware", "ads"] }],
    }),
  });

  /** A query over real UDP; the answer's A records (empty for NODATA / errors), with the rcode. */
  const ask = (name: string): Promise<{ status: string; a: string[] }> => {
    const RCODES: Record<number, string> = { 0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN" };
    const id = nextId++;
    const { port } = engine.address();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 5000);
      const onMessage = (msg: Buffer) => {
        const m = decodeMessage(new Uint8Array(msg));
        if (m.id !== id) return;
        clearTimeout(timer);
        client.off("message", onMessage);
        resolve({ status: RCODES[m.rcode] ?? String(m.rcode), a: m.answers.filter((r) => r.type === 1).map((r) => r.text) });
      };
      client.on("message", onMessage);
      client.send(buildQuery({ id, name, type: 1 }), port, "127.0.0.1");
    });
  };

  beforeAll(async () => {
    mkdirSync(listDir, { recursive: true });
    writeFileSync(listPath(listDir, "kept-malware"), "malware.example\n");
    const config: DnsEngineConfig = {
      listen: { address: "127.0.0.1", port: 0 }, upstreams: [], listDir, box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" },
    };
    const r = await LocalDnsEngine.start(config, spec());
    if (!r.ok) throw new Error(`engine did not start: ${JSON.stringify(r.error)}`);
    expect(r.lists.map((l) => [l.id, l.status])).toEqual([["kept-malware", "ok"], ["inline-ads", "ok"]]);
    engine = r.engine;
    client = createSocket("udp4");
    await new Promise<void>((res) => client.bind(0, "127.0.0.1", () => res()));
  });
  afterAll(async () => {
    client?.close();
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("compiles from the kept list file and answers over UDP; explain says why, and survives structured cloning", async () => {
    expect(await ask("www.malware.example")).toEqual({ status: "NOERROR", a: ["192.0.2.2"] });
    const e = await engine.explain("www.malware.example");
    expect(e.ok && [e.decision, e.reason?.source.id, e.reason?.source.category]).toEqual(["blocked", "kept-malware", "malware"]);
    expect(structuredClone(e)).toEqual(e);
    const bad = await engine.explain("a..b");
    expect(bad.ok).toBe(false);
    expect(structuredClone(bad)).toEqual(bad);
  });

  it("groups by MAC use the table the firmware sends (and clients are looked up again when it changes)", async () => {
    // No upstreams: an unblocked name gets SERVFAIL; the group's member gets the block page.
    expect((await ask("ads.example")).status).toBe("SERVFAIL");
    expect(await engine.explain("ads.example", { ip: "127.0.0.1" })).toMatchObject({ ok: true, decision: "forwarded" });
    engine.setMacs([["127.0.0.1", MAC]]);
    expect(await ask("ads.example")).toEqual({ status: "NOERROR", a: ["192.0.2.2"] });
    expect(await engine.explain("ads.example", { ip: "127.0.0.1" })).toMatchObject({ ok: true, decision: "blocked", group: "by-mac" });
    engine.setMacs([]);
    expect((await ask("ads.example")).status).toBe("SERVFAIL");
  });

  it("a reload that fails keeps the filter in force and says why; one that works swaps; the log and counters cross as plain data", async () => {
    const before = engine.stats().reloads;
    const failed = await engine.reload({ ...spec(), overrides: { allow: ["bad..name"], block: [] } }, []);
    expect(failed.ok).toBe(false);
    if (!failed.ok) expect(failed.error.kind).toBe("bad-name");
    expect(structuredClone(failed)).toEqual(failed);
    expect(await ask("malware.example")).toEqual({ status: "NOERROR", a: ["192.0.2.2"] });
    expect(engine.stats().reloads).toBe(before);

    const ok = await engine.reload(spec(["newly.example"]), []);
    expect(ok.ok).toBe(true);
    expect(structuredClone(ok)).toEqual(ok);
    expect(engine.stats().reloads).toBe(before + 1);
    expect(await ask("newly.example")).toEqual({ status: "NOERROR", a: ["192.0.2.2"] });

    const records = engine.drainLog();
    expect(records.length).toBeGreaterThan(0);
    expect(structuredClone(records)).toEqual(records);
    expect(records.at(-1)).toMatchObject({ name: "newly.example", outcome: "blocked", client: "127.0.0.1" });
    const stats = engine.stats();
    expect(structuredClone(stats)).toEqual(stats);
  });
});
