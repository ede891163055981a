/**
 * The DNS filter on a thread of its own (a Web Worker, under Deno on the box): the socket,
 * the compiled filter, the cache and the upstream exchanges all live here, so the main
 * thread's work (the event writer's synchronous commits, the alert service, the inventory,
 * the admin page, and their garbage-collection pauses) never makes a query wait. Measured
 * with the filter on the main thread: 24.8 ms added at p99 at 2k queries/s (test/bench).
 *
 * The main thread sends plain data only (thread-protocol.ts): this thread reads the kept
 * list files and compiles the filter itself, so only one compiled filter exists. The query
 * log comes back in small batches every BATCH_MS with a copy of the counters, never more records
 * than the main thread has room for (its credit): under a flood the rest wait in this
 * thread's fixed-size ring, where the oldest are overwritten and counted, instead of being
 * copied to the main thread only to be dropped there (that churn took the firmware's RSS
 * to 373-447 MB at saturation).
 */
import { LocalDnsEngine } from "./engine.ts";
import { zeroStats, type FromWorker, type ToWorker } from "./thread-protocol.ts";

/**
 * How often the query log and the counters are handed over; and the most records per message.
 * A hand-over holds this thread (turning records into text, then copying them into the
 * message: about 2.5 µs a record), so a query that arrives meanwhile waits for it. Every
 * 250 ms that was ~500 records at 2k queries/s: 1.2 ms on average and up to 4 ms, four times
 * a second, enough to set the p99. Every 25 ms it is ~50 records, 0.2 ms (measured in the
 * lab, 1 M names, the dns-qps mix).
 */
const BATCH_MS = 25;
const BATCH_MAX = 4096;

type Scope = {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
};
const scope = globalThis as unknown as Scope;
let engine: LocalDnsEngine | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
let stopping = false;
/** Records the main thread has room for. */
let credit = 0;

function handOver(): void {
  if (!engine) return;
  do {
    const records = engine.drainLog(Math.min(BATCH_MAX, credit));
    credit -= records.length;
    scope.postMessage({ type: "batch", records, stats: engine.stats() });
    if (records.length < BATCH_MAX) break;
  } while (!stopping);
}

scope.onmessage = (event: MessageEvent) => {
  const msg = event.data as ToWorker;
  switch (msg.type) {
    case "start":
      credit = msg.credit;
      void LocalDnsEngine.start(msg.config, msg.spec, msg.macs).then((r) => {
        if (!r.ok) {
          scope.postMessage({ type: "failed", error: r.error });
          return;
        }
        engine = r.engine;
        timer = setInterval(handOver, BATCH_MS);
        scope.postMessage({ type: "ready", address: r.engine.address(), names: r.names, bytes: r.bytes, lists: r.lists });
      });
      break;
    case "reload":
      if (!engine) return;
      void engine.reload(msg.spec, msg.upstreams).then(
        (outcome) => scope.postMessage({ type: "reloaded", id: msg.id, outcome }),
        // The filter in force stays; the firmware hears why.
        (e: unknown) => scope.postMessage({ type: "reloaded", id: msg.id, outcome: { ok: false, error: { kind: "exception", message: String((e as Error)?.message ?? e) }, ms: 0 } }),
      );
      break;
    case "explain":
      if (!engine) return;
      scope.postMessage({ type: "explained", id: msg.id, result: engine.explainNow(msg.name, msg.client) });
      break;
    case "macs":
      engine?.setMacs(msg.macs);
      break;
    case "credit":
      credit += msg.n;
      break;
    case "stop": {
      stopping = true;
      if (timer !== undefined) clearInterval(timer);
      const e = engine;
      void (e?.stop() ?? Promise.resolve()).then(() => {
        // Everything logged until the sockets closed goes back in this one message.
        scope.postMessage({ type: "stopped", records: e?.drainLog() ?? [], stats: e?.stats() ?? zeroStats() });
        scope.close();
      });
      break;
    }
  }
};
