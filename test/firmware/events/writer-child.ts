/**
 * A writer under test in its own process (run by durability.test.ts, under Deno as on the
 * box). It feeds itself records at a steady rate like a receiver would, and reports on
 * stdout, one line each:
 *   base <ms>                  the time of record 0 (record n has time base + n)
 *   acc <seq> <ms>             records up to <seq> were accepted (queued) at <ms>
 *   com <seq> <ms> <batchMs>   records up to <seq> are committed (after the transaction)
 *   stopped <seq>              SIGTERM: the writer stopped; records up to <seq> were accepted
 * Usage: writer-child.ts DB_PATH RECORDS_PER_SECOND BATCH_WINDOW_MS
 */
import process from "node:process";
import { EventWriter } from "../../../firmware/events/writer.ts";
import { applyEventMigrations } from "../../../firmware/events/store.ts";
import { closeDatabase, openDatabase } from "../../../firmware/store/database.ts";
import { LAN, QueueSource, labMeta, packet } from "./fixtures.ts";

const [dbPath, rateText, windowText] = process.argv.slice(2);
if (!dbPath || !rateText || !windowText) throw new Error("usage: writer-child.ts DB_PATH RATE WINDOW_MS");
const rate = Number(rateText);
const out = (line: string): void => { process.stdout.write(`${line}\n`); };

const database = await openDatabase(dbPath);
await applyEventMigrations(database);
const source = new QueueSource();
const writer = new EventWriter({ database, source, meta: labMeta(), lan: LAN, batchWindowMs: Number(windowText), pruneEveryMs: 0 });
const base = Date.now();
writer.onIncidents((_changed, events) => {
  let max = -1;
  for (const e of events) if (e.time - base > max) max = e.time - base;
  out(`com ${max} ${Date.now()} ${writer.counters().lastBatchMs.toFixed(1)}`);
});
await writer.start();
out(`base ${base}`);

let next = 0;
let last = performance.now();
const feed = setInterval(() => {
  const now = performance.now();
  const n = Math.floor(((now - last) * rate) / 1000);
  if (n === 0) return;
  last += (n * 1000) / rate;
  for (let i = 0; i < n; i++, next++) {
    source.push(packet("sys-inbound", { time: base + next, src: `203.0.113.${next % 200}`, dst: "192.0.2.10", dport: 1 + (next % 65535) }));
  }
  out(`acc ${next - 1} ${Date.now()}`);
}, 5);

process.on("SIGTERM", () => {
  clearInterval(feed);
  void writer.stop().then(() => {
    out(`stopped ${next - 1}`);
    closeDatabase(database);
    process.exit(0);
  });
});
