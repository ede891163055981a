// One run of the `ingest` bench and the search for the highest loss-free rate.
import { forceRecvBuffer, readCpuSeconds, readRecvBuffer, readRss, readSocket, runPace, type IngestEnv, type IngestReceiver } from "./ingest-sides.ts";

/**
 * A run passes when it is loss-free (every datagram sent is stored: database rows or file
 * lines; no send errors, no kernel drops) and the receiver kept up: everything was stored
 * within DRAIN_LIMIT_S of the sender's last datagram. Without the second condition a short
 * run would pass a rate the receiver cannot sustain, its deficit hidden in a queue (ours
 * holds 32k records, rsyslog's main queue tens of thousands of messages) that a longer run would overflow.
 * 0.5 s is the batch window (250 ms) plus a 5k-event commit, with room to spare.
 */
export const DRAIN_LIMIT_S = 0.5;
const DRAIN_DEADLINE_MS = 20_000;
const POLL_MS = 25;

export type ProbeResult = {
  rate: number;
  seconds: number;
  sent: number;
  sendErrors: number;
  /** Datagrams per second the generator achieved. */
  sentRate: number;
  stored: number;
  kernelDrops: number;
  /** From the sender's end until everything was stored; null when the run had lost datagrams already. */
  drainSeconds: number | null;
  lossFree: boolean;
  keptUp: boolean;
  pass: boolean;
  /** CPU of the receiving process (all threads) from the run's start until storage settled. */
  cpuSeconds: number;
  /** The same per 100k datagrams sent. */
  cpuSecondsPer100k: number;
  /** RSS when the sender stopped (MB). */
  rssMB: number;
  details: Record<string, unknown>;
};

let runCounter = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One run: a fresh store, `rate` datagrams/s for `seconds` (open loop), then wait until
 * everything sent is stored or storage stops moving, and count (database rows, file lines).
 * A run that has lost datagrams already (kernel drops when the sender stops) is failed: it
 * only waits for the socket to empty before it is counted, so nothing spills into the next run.
 */
export async function probe(env: IngestEnv, receiver: IngestReceiver, rate: number, seconds: number): Promise<ProbeResult> {
  await receiver.begin(`run${++runCounter}`);
  const socket0 = await readSocket(env, receiver.port);
  const cpu0 = readCpuSeconds(receiver.pid);
  const pace = await runPace(env, receiver.port, rate, seconds);
  const sentAt = performance.now();
  const rssMB = readRss(receiver.pid).rssMB;
  const lostAlready = (await readSocket(env, receiver.port)).drops > socket0.drops;
  const target = receiver.target(pace.sent);
  let last = -1;
  let lastChange = performance.now();
  let doneAt: number | undefined;
  for (;;) {
    const now = performance.now();
    if (now - sentAt > DRAIN_DEADLINE_MS) break;
    if (lostAlready) {
      // Counted once the socket is empty and storage has stood still (the receiver's end drains the rest).
      const s = await readSocket(env, receiver.port);
      const p = await receiver.progress();
      if (p !== last) {
        last = p;
        lastChange = now;
      }
      if (s.rxQueueBytes === 0 && now - lastChange > receiver.settleMs / 2) break;
    } else {
      const p = await receiver.progress();
      if (p >= target) {
        doneAt = now;
        break;
      }
      if (p !== last) {
        last = p;
        lastChange = now;
      } else if (now - lastChange > receiver.settleMs) break;
    }
    await sleep(POLL_MS);
  }
  const cpuSeconds = readCpuSeconds(receiver.pid) - cpu0;
  const kernelDrops = (await readSocket(env, receiver.port)).drops - socket0.drops;
  const { stored, details } = await receiver.end();
  const drainSeconds = doneAt === undefined ? null : Number(((doneAt - sentAt) / 1000).toFixed(3));
  const lossFree = stored === pace.sent && pace.errors === 0 && kernelDrops === 0;
  const keptUp = drainSeconds !== null && drainSeconds <= DRAIN_LIMIT_S;
  return {
    rate, seconds, sent: pace.sent, sendErrors: pace.errors, sentRate: Math.round(pace.sent / pace.seconds), stored, kernelDrops,
    drainSeconds, lossFree, keptUp, pass: lossFree && keptUp,
    cpuSeconds: Number(cpuSeconds.toFixed(2)),
    cpuSecondsPer100k: Number((cpuSeconds / (Math.max(1, pace.sent) / 100_000)).toFixed(3)),
    rssMB, details,
  };
}

/**
 * Bisection in log space between `low` and `high` datagrams/s: each run halves the bracket
 * (pass → it becomes the lower end, fail → the upper), so `steps` runs over 8 octaves end
 * within 2^(8/2^steps). The answer is the highest rate that passed (0 if none did): a
 * measured rate, never an interpolation.
 */
export class RateSearch {
  #low: number;
  #high: number;
  best = 0;
  readonly runs: ProbeResult[] = [];

  constructor(low: number, high: number) {
    this.#low = low;
    this.#high = high;
  }

  /** The next rate to try (rounded to 100/s). */
  next(): number {
    return Math.max(100, Math.round(Math.sqrt(this.#low * this.#high) / 100) * 100);
  }

  record(r: ProbeResult): void {
    this.runs.push(r);
    if (r.pass) {
      this.#low = r.rate;
      // A generator that fell short (it tops out near 200k/s here) passed only the rate it sent.
      this.best = Math.max(this.best, r.sentRate < 0.97 * r.rate ? r.sentRate : r.rate);
    } else this.#high = r.rate;
  }
}

/** Sets (when `bytes` is given) and reads back the receiver's socket buffer. */
export async function applyRecvBuffer(env: IngestEnv, receiver: IngestReceiver, bytes: number | undefined): Promise<number> {
  if (bytes !== undefined) await forceRecvBuffer(env, receiver.pid, receiver.port, bytes);
  return readRecvBuffer(env, receiver.port);
}
