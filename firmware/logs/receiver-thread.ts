/**
 * The log receiver on a thread of its own (a Web Worker, under Deno on the box). The event
 * writer's batch commit is a synchronous native call that holds the main thread for tens of
 * milliseconds; with the socket read on that same thread, the kernel's receive buffer
 * overflowed at about 19k events/s (test/bench, ingest). Here the socket is read and parsed
 * on this thread, and parsed records are handed to the main thread in small batches.
 *
 * Messages in: { type: "start", options } then { type: "stop" }.
 * Messages out: { type: "ready" } | { type: "error", message } |
 *   { type: "records", records, counters } | { type: "stopped", records, counters }.
 */
import { bindLogReceiver, type BindLogReceiverOptions, type LogReceiver } from "./receiver.ts";

/** How often parsed records are handed over; and the most per message. */
const FORWARD_MS = 5;
const FORWARD_MAX = 4096;

type Scope = {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  close(): void;
};
const scope = globalThis as unknown as Scope;
let receiver: LogReceiver | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function forward(type: "records" | "stopped"): void {
  if (!receiver) return;
  const records = receiver.takeBatch(type === "stopped" ? undefined : FORWARD_MAX);
  if (records.length > 0 || type === "stopped") {
    scope.postMessage({ type, records, counters: receiver.counters(), rejections: receiver.rejections() });
  }
}

scope.onmessage = (event: MessageEvent) => {
  const msg = event.data as { type: "start"; options: BindLogReceiverOptions } | { type: "stop" };
  if (msg.type === "start") {
    bindLogReceiver({ ...msg.options, onError: (e) => scope.postMessage({ type: "warning", message: e.message }) }).then((r) => {
      receiver = r;
      timer = setInterval(() => {
        while (receiver && receiver.pending > 0) {
          forward("records");
          if (receiver.pending < FORWARD_MAX) break;
        }
      }, FORWARD_MS);
      scope.postMessage({ type: "ready", local: r.local(), implementation: r.implementation });
    }, (e: unknown) => scope.postMessage({ type: "error", message: (e as Error).message }));
  } else if (msg.type === "stop") {
    if (timer !== undefined) clearInterval(timer);
    void (receiver?.close() ?? Promise.resolve()).then(() => {
      forward("stopped");
      if (!receiver) scope.postMessage({ type: "stopped", records: [], counters: { received: 0, accepted: 0, rejected: 0, dropped: 0 } });
      scope.close();
    });
  }
};
