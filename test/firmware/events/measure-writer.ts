/**
 * Measures the event writer: records → classified → committed events/s, for batch sizes of
 * 1k and 5k, and the database size per million events. Not a test (no assertions); run it on
 * either runtime and it prints JSON (and writes it to the path given as the first argument):
 *   node --import tsx test/firmware/events/measure-writer.ts [out.json]
 *   deno run --allow-all --config deno.json test/firmware/events/measure-writer.ts [out.json]
 * Environment: EVENTS (default 500000), MIX ("mixed" or "scan").
 */
import { statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { EventWriter } from "../../../firmware/events/writer.ts";
import type { LogRecord } from "../../../firmware/logs/types.ts";
import { LAN, QueueSource, labMeta, mixedRecords, packet, tempDatabase } from "./fixtures.ts";

const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno" : `node ${process.versions.node}`;
const meta = labMeta();
const results: Record<string, unknown>[] = [];

/**
 * "mixed" (default): an office under attack with about a thousand incidents active at once
 * (the hard case: every batch updates hundreds of incidents). "scan": a port scan from five
 * sources, the common case (a handful of incidents, thousands of packets each).
 */
const mix = process.env.MIX ?? "mixed";
function records(n: number, start: number, seed: number): LogRecord[] {
  if (mix === "mixed") return mixedRecords(n, start, seed);
  return Array.from({ length: n }, (_, i) => packet("port-scan.banned", {
    time: start + i, src: `203.0.113.${(seed + i) % 5}`, dst: `192.0.2.${10 + (i % 3)}`, dport: 1 + ((seed * 7919 + i * 31) % 65535),
  }));
}

async function measure(maxBatch: number, total: number): Promise<void> {
  const db = await tempDatabase();
  try {
    const source = new QueueSource();
    const writer = new EventWriter({ database: db.database, source, meta, lan: LAN, maxBatch, pruneEveryMs: 0, batchWindowMs: 60_000 });
    await writer.start();
    const chunk = 100_000;
    let ms = 0;
    let cpuUs = 0;
    for (let done = 0; done < total; done += chunk) {
      // Generated outside the timed part: the receiver's parsing is not the writer's cost.
      for (const r of records(Math.min(chunk, total - done), Date.now() - total + done, done + 7)) source.push(r);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await writer.flush();
      const c1 = process.cpuUsage(c0);
      ms += performance.now() - t0;
      cpuUs += c1.user + c1.system;
    }
    await writer.stop();
    const c = writer.counters();
    await db.database.client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    const bytes = statSync(db.path).size;
    results.push({
      runtime, mix, maxBatch, records: total, written: c.written, batches: c.batches,
      eventsPerSecond: Math.round(c.written / (ms / 1000)),
      // The machine is shared: CPU time says what the writer needs, wall time what it got.
      eventsPerCpuSecond: Math.round(c.written / (cpuUs / 1e6)),
      maxBatchMs: Math.round(c.maxBatchMs),
      prepareUsPerEvent: Number((c.prepareMs * 1000 / c.written).toFixed(2)), commitUsPerEvent: Number((c.commitMs * 1000 / c.written).toFixed(2)),
      incidents: c.incidentsOpened, dbBytes: bytes, mbPerMillionEvents: Math.round((bytes / c.written) * 1e6 / 1e5) / 10,
    });
  } finally {
    db.close();
  }
}

const total = Number(process.env.EVENTS ?? 500_000);
for (const b of [1000, 5000]) await measure(b, total);
const out = JSON.stringify(results, null, 1);
console.log(out);
if (process.argv[2]) writeFileSync(process.argv[2], out);
