/**
 * The DNS filter on its worker thread under Deno, the box's runtime (run by
 * threaded.test.ts with the box's permission flags): real UDP on loopback, the worker
 * compiling from the kept list file, explain and reload as requests, the MAC table, the
 * query log handed back in batches, a crash of the worker and its restart with the filter
 * last in force, and stop handing over the last records. Prints one JSON report line.
 *
 *   deno run <flags> threaded-check.ts DIR
 */
import { createSocket } from "node:dgram";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { listPath } from "../../../firmware/dns/list-store.ts";
import type { DnsQueryRecord } from "../../../firmware/dns/query-log.ts";
import type { DnsFilterSpec } from "../../../firmware/dns/thread-protocol.ts";
import { ThreadedDnsEngine } from "../../../firmware/dns/threaded-server.ts";
import { DnsPolicy } from "../../../policies/schema.ts";
import { buildQuery, decodeMessage } from "./wire.ts";

const dir = process.argv[2];
if (!dir) throw new Error("usage: threaded-check.ts DIR");
const listDir = join(dir, "dns-lists");
mkdirSync(listDir, { recursive: true });
writeFileSync(listPath(listDir, "kept-malware"), "malware.example\n");
const MAC = "02:00:5e:00:53:01";
const spec = (block: string[] = []): DnsFilterSpec => ({
  policy: DnsPolicy.parse({
    enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block, dohNames: [], dohAddresses: [], upstreams: [],
    lists: [
      { id: "kept-malware", category: "malware", format: "domains", match: "subdomain", url: "https://lists.example/malware" },
      { id: "inline-ads", category: "ads", format: "domains", match: "exact", entries: ["ads.example"] },
    ],
    groups: [{ id: "by-mac", clients: [MAC], blockCategories: ["malware", "ads"] }],
  }),
});

const logLines: string[] = [];
const started = await ThreadedDnsEngine.start(
  { listen: { address: "127.0.0.1", port: 0 }, upstreams: [], listDir, box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } },
  spec(), [], { log: (l) => logLines.push(l), workerUrl: new URL("./crashing-thread.ts", import.meta.url).href },
);
if (!started.ok) throw new Error(`did not start: ${JSON.stringify(started.error)}`);
const engine = started.engine;
const port = engine.address().port;

const client = createSocket("udp4");
await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
let nextId = 1;
const waiting = new Map<number, (v: string) => void>();
client.on("message", (msg: Uint8Array) => {
  const m = decodeMessage(new Uint8Array(msg));
  const a = m.answers.filter((r) => r.type === 1).map((r) => r.text);
  waiting.get(m.id)?.(m.rcode === 2 ? "SERVFAIL" : a.join(",") || `rcode ${m.rcode}`);
  waiting.delete(m.id);
});
/** One A query; "timeout" when no answer came within 1 s. */
const ask = (name: string): Promise<string> => {
  const id = nextId++;
  return new Promise((resolve) => {
    const t = setTimeout(() => { waiting.delete(id); resolve("timeout"); }, 1000);
    waiting.set(id, (v) => { clearTimeout(t); resolve(v); });
    client.send(buildQuery({ id, name, type: 1 }), port, "127.0.0.1");
  });
};
/** Repeats `probe` until it returns true or the deadline passes. */
const until = async (probe: () => Promise<boolean> | boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};
const drained: DnsQueryRecord[] = [];
const drain = () => { drained.push(...engine.drainLog()); return drained; };

const report: Record<string, unknown> = { names: started.names };
report.blocked = await ask("www.malware.example");
const e = await engine.explain("www.malware.example");
report.explain = e.ok ? [e.decision, e.reason?.source.id] : e.problem;
report.adsBefore = await ask("ads.example");
engine.setMacs([["127.0.0.1", MAC]]);
report.adsWithMac = await until(async () => (await ask("ads.example")) === "192.0.2.2", 5000);
const failed = await engine.reload({ ...spec(), overrides: { allow: ["bad..name"], block: [] } }, []);
report.failedReload = failed.ok ? "ok" : failed.error.kind;
report.afterFailedReload = await ask("malware.example");
const ok = await engine.reload(spec(["newly.example"]), []);
report.reload = ok.ok;
report.newly = await ask("newly.example");
report.logged = await until(() => drain().some((r) => r.name === "newly.example" && r.outcome === "blocked"), 5000);
const beforeCrash = engine.stats().queries;
report.statsQueries = beforeCrash > 0;

// A crash: the request waiting on the worker settles, the firmware goes on, a new worker
// serves the filter last in force (newly.example still blocked) on the same port.
const crash = await engine.explain("crash.now.test");
report.crashExplain = crash.ok ? "answered" : crash.problem;
report.restarted = await until(async () => (await ask("newly.example")) === "192.0.2.2", 15_000);
report.restarts = engine.restarts;
report.macsAfterRestart = await ask("ads.example");
report.statsCumulative = engine.stats().queries >= beforeCrash;
report.crashLogged = logLines.some((l) => l.includes("crashed")) && logLines.some((l) => l.includes("serves again"));

// Hand-over by credit: with room for 40 records here, 100 queries leave 40 in this queue and
// the rest in the worker's ring (nothing dropped here); each drain makes room for more.
const small = await ThreadedDnsEngine.start(
  { listen: { address: "127.0.0.1", port: 0 }, upstreams: [], listDir, box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } },
  spec(), [], { log: () => {}, queueCapacity: 40 },
);
if (!small.ok) throw new Error(`small engine did not start: ${JSON.stringify(small.error)}`);
{
  const smallPort = small.engine.address().port;
  for (let i = 0; i < 100; i++) client.send(buildQuery({ id: 60000 + i, name: `flood-${i}.malware.example`, type: 1 }), smallPort, "127.0.0.1");
  const got: DnsQueryRecord[] = [];
  // The worker has them all (its counter), and this side holds no more than it has room for.
  report.creditHeld = await until(() => small.engine.stats().queries >= 100 && small.engine.stats().logPending >= 100, 5000);
  report.creditNoLoss = await until(() => {
    got.push(...small.engine.drainLog(15));
    return got.length >= 100;
  }, 10_000);
  report.creditRecords = new Set(got.map((r) => r.name)).size;
  await small.engine.stop();
}

// Stop: what was answered just before is handed over.
for (let i = 0; i < 20; i++) await ask(`last-${i}.malware.example`);
await engine.stop();
report.lastRecords = drain().filter((r) => r.name.startsWith("last-")).length;
report.afterStop = await ask("malware.example");
client.close();
console.log(JSON.stringify(report));
process.exit(0);
