// The receiving side of the `ingest` bench: the box's log path in one long-lived process,
// started by ingest.ts inside the bench's network namespace (under Deno as on the box, or
// under Node for reference):
//   bindLogReceiver (bound like firmware/main.ts: "::", the box's syslog sources)
//   → EventWriter (the real classifier with the compiled baseline's metadata, incidents,
//     rollups, one transaction per batch) → a fresh libsql file per run.
// Alerts and the inventory, which main.ts also hangs on this path, are not part of it.
//
// It talks to the bench over stdin/stdout, one JSON object per line:
//   start  → {"ready":true,port,implementation,recvBufferBytes,parseMicros}
//   "open NAME"  fresh database DIR/NAME.db, migrated, and a new EventWriter → {"opened":NAME,"stale":N}
//   "discard"    no database: every 250 ms take what the receiver queued and count it (the
//                socket and parse path alone, for ingest-why) → {"discarding":true,"stale":N}
//                (stale: records of an earlier run still queued, taken out; the bench wants 0)
//   "stats"      counters now → {"stats":{…}}
//   "close"      writer.stop() (drains and commits everything), count the rows, close the
//                database → {"closed":{rows,…}}
//   "quit"       close the receiver and exit
// The bench itself reads the process's CPU time and RSS from /proc and the socket's drops
// from /proc/net/udp6 (from outside: this process is what is measured).
//
// Where the time goes: socket + parse run on the receiver's thread under Deno; classify +
// incidents + rollups + the statements' JSON ("prepare") and the commit run on the main
// thread, timed by the writer's own counters (wall time: the receiver thread's CPU is not in
// them, as it was when they were read from process.cpuUsage). parseDatagram's CPU is timed on
// the bench's own datagrams before the receiver starts.
import { readFileSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { lanNetworks } from "../../firmware/events/classify.ts";
import { applyEventMigrations } from "../../firmware/events/store.ts";
import { EventWriter, type LogSource } from "../../firmware/events/writer.ts";
import { parseDatagram, parseSourcePrefixes } from "../../firmware/logs/datagram.ts";
import { bindLogReceiver } from "../../firmware/logs/receiver.ts";
import { ThreadedLogReceiver } from "../../firmware/logs/threaded-receiver.ts";
import type { ReceiverCounters } from "../../firmware/logs/types.ts";
import { compileRuleset } from "../../firmware/ruleset/compile.ts";
import { closeDatabase, openDatabase, type Database } from "../../firmware/store/database.ts";
import { buildIngestDevice, buildIngestPolicy } from "./ingest-payloads.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    dir: { type: "string" },
    payloads: { type: "string" },
    // Bytes of SO_RCVBUF to ask for (Node only; 0 = the kernel's default). Unset: the
    // receiver's own default (4 MiB under Node; nothing under Deno, which cannot).
    "recv-buffer": { type: "string" },
  },
});
if (values.dir === undefined || values.payloads === undefined) {
  console.error("usage: ingest-receiver.ts --dir DIR --payloads FILE [--recv-buffer BYTES]");
  process.exit(2);
}
const dir = values.dir;
const device = buildIngestDevice(dir);
const meta = compileRuleset(buildIngestPolicy(), device).meta;
const lan = lanNetworks(device.lanPrefixes);
const syslogSources = ["127.0.0.0/8", "::1/128", ...device.lanPrefixes];

const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const errors: string[] = [];
const onError = (e: Error) => {
  if (errors.length < 20) errors.push(e.message);
};

/** µs of CPU per parseDatagram on the bench's datagrams (median of 7 rounds, after a warm-up round). */
function timeParse(): number {
  const enc = new TextEncoder();
  const lines = readFileSync(values.payloads!, "utf8").split("\n").filter((l) => l !== "").map((l) => enc.encode(l));
  const options = { syslogSources: parseSourcePrefixes(syslogSources) };
  const n = 20_000;
  const rounds: number[] = [];
  for (let r = 0; r < 8; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const x = parseDatagram(lines[i % lines.length]!, "127.0.0.1", 0, options);
      if (!x.ok) throw new Error(`bench datagram does not parse: ${x.reason}`);
    }
    const c = process.cpuUsage(c0);
    if (r > 0) rounds.push((c.user + c.system) / n);
  }
  rounds.sort((a, b) => a - b);
  return Number(rounds[3]!.toFixed(3));
}

const parseMicros = timeParse();
const recvBuffer = values["recv-buffer"];
// As firmware/main.ts does: under Deno (the box) the socket is read on a worker thread.
const receiver = "Deno" in globalThis
  ? await ThreadedLogReceiver.start({ address: "::", port: 0, syslogSources, onError })
  : await bindLogReceiver({
    address: "::", port: 0, syslogSources, onError,
    ...(recvBuffer === undefined ? {} : { recvBufferBytes: Number(recvBuffer) }),
  });

type Run = { name: string; database: Database; writer: EventWriter };
let run: Run | undefined;
/** The receive-only mode: a drain timer and how many records it took. */
let discard: { timer: ReturnType<typeof setInterval>; taken: number } | undefined;

/** The receiver's counters when the current run began (they count from bind). */
let base: ReceiverCounters = receiver.counters();

/**
 * A run starts clean: records still queued from an earlier run are not this run's (the bench
 * waits for the socket to empty first, so this is 0 unless something went wrong): take them
 * out and say how many.
 */
function discardStale(): number {
  const n = receiver.takeBatch().length;
  base = receiver.counters();
  return n;
}

function startDiscard(): number {
  if (run !== undefined || discard !== undefined) throw new Error("a run is open");
  const stale = discardStale();
  const d = { taken: 0, timer: setInterval(() => {
    d.taken += receiver.takeBatch().length;
  }, 250) };
  discard = d;
  return stale;
}

async function open(name: string): Promise<number> {
  if (run !== undefined || discard !== undefined) throw new Error("a run is open");
  const stale = discardStale();
  const raw = await openDatabase(`${dir}/${name}.db`);
  await applyEventMigrations(raw);
  const source: LogSource = { takeBatch: (max) => receiver.takeBatch(max) };
  const writer = new EventWriter({ database: raw, source, meta, lan, onError });
  await writer.start();
  run = { name, database: raw, writer };
  return stale;
}

function stats(): Record<string, unknown> {
  const w = run?.writer.counters();
  return {
    receiver: Object.fromEntries(Object.entries(receiver.counters()).map(([k, v]) => [k, v - base[k as keyof ReceiverCounters]])),
    rejectionsSinceStart: receiver.rejections(),
    queued: receiver.pending,
    writer: w && {
      received: w.received, classified: w.classified, unclassified: w.unclassified, unclassifiedByReason: w.unclassifiedByReason,
      written: w.written, batches: w.batches, pending: w.pending, maxBatchMs: Number(w.maxBatchMs.toFixed(1)), writeErrors: w.writeErrors,
      incidentsOpened: w.incidentsOpened,
    },
    // The writer's own clock: prepare and commit are synchronous on the main thread.
    timing: w && { prepareMs: Number(w.prepareMs.toFixed(2)), commitMs: Number(w.commitMs.toFixed(2)), maxCommitMs: Number(w.maxCommitMs.toFixed(2)) },
    discarded: discard?.taken,
    errors,
  };
}

async function close(): Promise<Record<string, unknown>> {
  if (discard !== undefined) {
    clearInterval(discard.timer);
    discard.taken += receiver.takeBatch().length;
    const s = stats();
    discard = undefined;
    return { ...s, rows: s.discarded };
  }
  const r = run;
  if (r === undefined) throw new Error("no run is open");
  await r.writer.stop();
  const rows = Number((await r.database.client.execute("SELECT count(*) FROM events")).rows[0]?.[0] ?? -1);
  const incidents = Number((await r.database.client.execute("SELECT count(*) FROM incidents")).rows[0]?.[0] ?? -1);
  const rollupSum = Number((await r.database.client.execute("SELECT coalesce(sum(count), 0) FROM event_rollups")).rows[0]?.[0] ?? -1);
  const s = stats();
  closeDatabase(r.database);
  run = undefined;
  return { ...s, rows, incidents, rollupSum };
}

out({ ready: true, port: receiver.local().port, implementation: receiver.implementation, recvBufferBytes: receiver.recvBufferBytes() ?? null, parseMicros });

// One command at a time, in order.
let chain: Promise<void> = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  chain = chain.then(async () => {
    const [cmd, arg] = line.trim().split(/\s+/);
    try {
      if (cmd === "open") out({ opened: arg, stale: await open(arg ?? "run") });
      else if (cmd === "discard") out({ discarding: true, stale: startDiscard() });
      else if (cmd === "stats") out({ stats: stats() });
      else if (cmd === "close") out({ closed: await close() });
      else if (cmd === "quit") {
        if (run !== undefined || discard !== undefined) await close();
        await receiver.close();
        lines.close();
        process.exit(0);
      } else out({ error: `unknown command ${line}` });
    } catch (e) {
      out({ error: (e as Error).message });
    }
  });
});
lines.on("close", () => {
  // The bench went away: stop without waiting for a "quit".
  void chain.then(async () => {
    if (run !== undefined || discard !== undefined) await close().catch(() => undefined);
    await receiver.close();
    process.exit(0);
  });
});
