/**
 * The main thread's side of the threaded log receiver (receiver-thread.ts): the same
 * `takeBatch` / `counters` / `close` as LogReceiver, with the socket read on a worker so the
 * event writer's commits never stall it. Deno only (the box); under Node the firmware uses
 * LogReceiver directly.
 *
 * Accounting stays exact across the two threads: the worker counts what it received,
 * rejected and dropped; records it handed over that do not fit this side's bounded queue
 * are dropped here and counted, so received = accepted + rejected + dropped still holds.
 */
import { workerEntryUrl } from "../app-root.ts";
import { BoundedQueue } from "./bounded-queue.ts";
import { DEFAULT_QUEUE_CAPACITY, type BindLogReceiverOptions } from "./receiver.ts";
import type { RejectReason } from "./parse-result.ts";
import type { DatagramPeer } from "./socket.ts";
import type { LogRecord, ReceiverCounters } from "./types.ts";

type Rejections = Partial<Record<RejectReason, number>>;

/** How long close() waits for the worker to hand over and stop. */
const STOP_DEADLINE_MS = 3000;

type FromWorker =
  | { type: "ready"; local: DatagramPeer; implementation: string }
  | { type: "error"; message: string }
  | { type: "warning"; message: string }
  | { type: "records" | "stopped"; records: LogRecord[]; counters: ReceiverCounters; rejections: Rejections };

export class ThreadedLogReceiver {
  readonly #worker: Worker;
  readonly #queue: BoundedQueue<LogRecord>;
  #remote: ReceiverCounters = { received: 0, accepted: 0, rejected: 0, dropped: 0 };
  #rejections: Rejections = {};
  #local: DatagramPeer = { address: "", port: 0 };
  #implementation = "";
  #localDropped = 0;
  #stopped: Promise<void> | undefined;
  #onStopped: (() => void) | undefined;
  #onError: ((e: Error) => void) | undefined;

  private constructor(worker: Worker, capacity: number) {
    this.#worker = worker;
    this.#queue = new BoundedQueue(capacity);
  }

  /** Starts the worker and binds the port there; rejects when it cannot be bound. */
  static start(options: Omit<BindLogReceiverOptions, "onError" | "now"> & { onError?: (e: Error) => void }): Promise<ThreadedLogReceiver> {
    const { onError, ...rest } = options;
    const worker = new Worker(workerEntryUrl("logs/receiver-thread"), { type: "module" });
    const self = new ThreadedLogReceiver(worker, options.capacity ?? DEFAULT_QUEUE_CAPACITY);
    self.#onError = onError;
    return new Promise((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        const err = new Error(`log receiver thread failed: ${e.message}`);
        onError?.(err);
        reject(err);
      };
      worker.onmessage = (event: MessageEvent) => {
        const msg = event.data as FromWorker;
        switch (msg.type) {
          case "ready":
            self.#local = msg.local;
            self.#implementation = `${msg.implementation} (worker)`;
            resolve(self);
            break;
          case "error": worker.terminate(); reject(new Error(msg.message)); break;
          case "warning": onError?.(new Error(msg.message)); break;
          case "records":
          case "stopped":
            self.#take(msg.records, msg.counters);
            self.#rejections = msg.rejections;
            if (msg.type === "stopped") self.#onStopped?.();
            break;
        }
      };
      worker.postMessage({ type: "start", options: rest });
    });
  }

  #take(records: LogRecord[], counters: ReceiverCounters): void {
    this.#remote = counters;
    for (const r of records) if (!this.#queue.push(r)) this.#localDropped++;
  }

  takeBatch(max?: number): LogRecord[] {
    return this.#queue.take(max);
  }

  get pending(): number {
    return this.#queue.size;
  }

  counters(): ReceiverCounters {
    const r = this.#remote;
    return { received: r.received, accepted: r.accepted - this.#localDropped, rejected: r.rejected, dropped: r.dropped + this.#localDropped };
  }

  rejections(): Rejections {
    return { ...this.#rejections };
  }

  local(): DatagramPeer {
    return this.#local;
  }

  get implementation(): string {
    return this.#implementation;
  }

  /** Unknown from here (the socket is the worker's); the bench reads it with ss. */
  recvBufferBytes(): number | undefined {
    return undefined;
  }

  /**
   * Stops the socket; everything the worker had parsed is handed over before this resolves.
   * A worker that does not answer within STOP_DEADLINE_MS (it died) is terminated: what it
   * still held is lost and counted nowhere, so this is said on onError.
   */
  close(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        this.#onStopped = undefined;
        this.#worker.terminate();
        this.#onError?.(new Error(`log receiver thread did not stop within ${STOP_DEADLINE_MS} ms; terminated`));
        resolve();
      }, STOP_DEADLINE_MS);
      this.#onStopped = () => {
        clearTimeout(deadline);
        this.#worker.terminate();
        resolve();
      };
      this.#worker.postMessage({ type: "stop" });
    });
    return this.#stopped;
  }
}
