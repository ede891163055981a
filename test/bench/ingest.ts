// Bench "ingest" (issue 3): the highest loss-free rate of ulogd JSON datagrams → parsed →
// committed in libsql, against rsyslog (imudp → omfile) fed by the same generator in the same
// run. Goal: ≥ 50k events/s and ≥ 0.5× rsyslog.
//   ours: the box's path under Deno (ingest-receiver.ts: bindLogReceiver → EventWriter →
//         a fresh libsql file per run), Deno.listenDatagram as on the box
//   peer: rsyslog 8 (imudp → omfile, each datagram written as a line)
//   node: the same path as ours under Node 20 (reference, not judged)
// All three run at once in one throwaway network namespace (loopback only), each a long-lived
// process like a daemon; udp-pace (C, open loop) sends the same 4,096 real ulogd records
// (ingest-payloads.ts) to one of them at a time. Every socket gets the receive buffer the
// box gives the firmware's (the image sets net.core.rmem_default=4194304), applied to all
// three the same way from outside (udp-rcvbuf.c) and read back from the kernel.
//
// A run passes when every datagram sent is stored (rows / lines counted, 0 kernel drops) and
// storage kept up (see ingest-probe.ts). Each side's highest passing rate is found by a
// bisection of 5 runs of 2 s between 1k and 256k/s, sides taking turns run by run; three
// repetitions for ours and rsyslog (medians), one for Node.
//
// Bench "ingest-why" (only when named) says where ours loses: the same search with the
// kernel's default buffer (212,992 B, what a socket gets in a namespace), the socket and
// parse path alone (no database) with the box's buffer, and the cost of every stage per
// event at a fixed rate.
import { machineInfo, median, summarise, type BenchResult } from "./measure.ts";
import { applyRecvBuffer, probe, RateSearch, DRAIN_LIMIT_S, type ProbeResult } from "./ingest-probe.ts";
import {
  createIngestEnv,
  DENO,
  measureDatagramFootprint,
  startFirmwareReceiver,
  startRsyslog,
  type FirmwareReceiver,
  type IngestEnv,
  type IngestReceiver,
} from "./ingest-sides.ts";
import { runChecked, Scope } from "./scope.ts";

const RUN_SECONDS = 2;
const STEPS = 5;
const REPS = 3;
const LOW = 1000;
const HIGH = 256_000;
/** What the box image sets as net.core.rmem_default (image/ulogd/README.md). */
const BOX_RECV_BUFFER = 4 * 1024 * 1024;
const RSYSLOG_PORT = 5514;
const GOAL_RATE = 50_000;
const GOAL_RATIO = 0.5;

type Log = (line: string) => void;

/** A run as the result file keeps it. */
function compact(r: ProbeResult): Record<string, unknown> {
  const d = r.details as { writer?: { maxBatchMs?: number }; timing?: { commitMs?: number; prepareMs?: number; maxCommitMs?: number } };
  return {
    rate: r.rate, sentRate: r.sentRate, pass: r.pass, sent: r.sent, stored: r.stored, kernelDrops: r.kernelDrops,
    drainSeconds: r.drainSeconds, cpuSecondsPer100k: r.cpuSecondsPer100k, rssMB: r.rssMB,
    ...(d.writer ? { maxBatchMs: d.writer.maxBatchMs, maxCommitMs: d.timing?.maxCommitMs } : {}),
  };
}

function describe(name: string, r: ProbeResult): string {
  const verdict = r.pass ? "pass" : r.lossFree ? `kept up? no (drain ${r.drainSeconds} s)` : `LOSS ${r.sent - r.stored} (kernel ${r.kernelDrops})`;
  return `${name} ${r.rate}/s: ${r.stored}/${r.sent} ${verdict}, ${r.cpuSecondsPer100k} CPU-s/100k`;
}

/** A bench error, not a slow result: the path does not do what is measured (garbage, misclassified, leftovers). */
function checkRun(name: string, r: ProbeResult, receiver: IngestReceiver): void {
  const d = r.details as {
    receiver?: { rejected: number }; writer?: { unclassified: number; writeErrors: number }; stale?: number; bytes?: number; errors?: string[];
  };
  if (d.receiver && d.receiver.rejected > 0) throw new Error(`${name}: ${d.receiver.rejected} bench datagrams rejected: ${JSON.stringify(d)}`);
  if (d.writer && d.writer.unclassified > 0) throw new Error(`${name}: ${d.writer.unclassified} records not classified: ${JSON.stringify(d)}`);
  if (d.writer && d.writer.writeErrors > 0) throw new Error(`${name}: write errors: ${JSON.stringify(d.errors)}`);
  if ((d.stale ?? 0) > 0) throw new Error(`${name}: ${d.stale} records of an earlier run were still queued`);
  if (d.bytes !== undefined && r.stored === r.sent && d.bytes !== receiver.target(r.sent)) {
    throw new Error(`${name}: ${d.bytes} bytes written for ${r.sent} lines, expected ${receiver.target(r.sent)}: not the datagrams sent`);
  }
  if (r.sendErrors > 0) throw new Error(`${name}: the generator had ${r.sendErrors} send errors`);
}

const WARMUP_RATE = 4000;

/**
 * One warm-up run per receiver at a rate any of them takes, long enough to compile the hot
 * paths (the first batches of a fresh process are several times slower); it must be loss-free.
 */
async function warmUp(env: IngestEnv, receivers: Record<string, IngestReceiver>, log: Log): Promise<void> {
  for (const [name, receiver] of Object.entries(receivers)) {
    const r = await probe(env, receiver, WARMUP_RATE, 2);
    checkRun(name, r, receiver);
    log(`  warm-up ${describe(name, r)}`);
    if (!r.lossFree) {
      throw new Error(`${name} lost datagrams at ${WARMUP_RATE}/s in the warm-up (stored ${r.stored} of ${r.sent}, kernel drops ${r.kernelDrops}): the set-up is broken`);
    }
  }
}

/**
 * Interleaved bisections, one per side: every step runs each side once at its own next rate.
 * Returns each side's search (its best rate and runs).
 */
async function searchAll(
  env: IngestEnv,
  sides: Record<string, IngestReceiver>,
  label: string,
  log: Log,
): Promise<Record<string, RateSearch>> {
  const searches = Object.fromEntries(Object.keys(sides).map((n) => [n, new RateSearch(LOW, HIGH)]));
  for (let step = 0; step < STEPS; step++) {
    const lines: string[] = [];
    for (const [name, receiver] of Object.entries(sides)) {
      const s = searches[name]!;
      const r = await probe(env, receiver, s.next(), RUN_SECONDS);
      checkRun(name, r, receiver);
      s.record(r);
      lines.push(describe(name, r));
    }
    log(`  ${label} step ${step + 1}/${STEPS}: ${lines.join(" | ")}`);
  }
  log(`  ${label}: best ${Object.entries(searches).map(([n, s]) => `${n} ${s.best}/s`).join(", ")}`);
  return searches;
}

/** The run at a side's best rate (the highest passing), for its CPU and RSS. */
function bestRun(s: RateSearch): ProbeResult | undefined {
  return s.runs.filter((r) => r.pass).sort((a, b) => b.rate - a.rate)[0];
}

/** The lowest failing rate above the best: where the loss starts. */
function firstFailure(s: RateSearch): ProbeResult | undefined {
  return s.runs.filter((r) => !r.pass && r.rate > s.best).sort((a, b) => a.rate - b.rate)[0];
}

/**
 * Where a run of ours spent its time per stored event (µs): parse (CPU, timed on the same
 * datagrams in the process; on the receiver's thread under Deno), classify + incidents +
 * rollups + statement JSON ("prepare") and the commit (libsql's batch), both wall time on the
 * main thread counted by the writer, and the rest of the process's CPU (socket receive,
 * handing records between threads, the event loop, GC, timers). The main thread can carry at
 * most 1e6 / (prepare + commit) events a second; the process's CPU per event against the
 * machine's two cores bounds the whole.
 */
function breakdown(r: ProbeResult, parseMicros: number, bufferDatagrams: number): Breakdown | undefined {
  const d = r.details as {
    rows?: number; writer?: { maxBatchMs: number; batches: number };
    timing?: { commitMs: number; prepareMs: number; maxCommitMs: number };
  };
  const events = d.rows ?? r.stored;
  if (!d.timing || !d.writer || events === 0) return undefined;
  const us = (ms: number) => Number(((ms * 1000) / events).toFixed(2));
  const cpuTotal = Number(((r.cpuSeconds * 1e6) / events).toFixed(2));
  const commit = us(d.timing.commitMs);
  const prepare = us(d.timing.prepareMs);
  return {
    rate: r.rate, pass: r.pass, events,
    perEventCpuMicros: {
      total: cpuTotal, parse: parseMicros, prepare, commit,
      receiveLoopGcRest: Number((cpuTotal - parseMicros - prepare - commit).toFixed(2)),
    },
    batches: d.writer.batches,
    longestBatchMs: d.writer.maxBatchMs,
    longestCommitMs: d.timing.maxCommitMs,
    bufferLastsMs: Number(((bufferDatagrams / r.rate) * 1000).toFixed(1)),
  };
}

type Breakdown = {
  rate: number; pass: boolean; events: number;
  perEventCpuMicros: { total: number; parse: number; prepare: number; commit: number; receiveLoopGcRest: number };
  batches: number; longestBatchMs: number; longestCommitMs: number; bufferLastsMs: number;
};

/** Medians over repetitions of each figure of the breakdowns given. */
function medianBreakdown(xs: (Breakdown | undefined)[]): Breakdown | undefined {
  const b = xs.filter((x): x is Breakdown => x !== undefined);
  if (b.length === 0) return undefined;
  const m = (f: (x: Breakdown) => number) => Number(median(b.map(f)).toFixed(2));
  return {
    rate: m((x) => x.rate), pass: b.every((x) => x.pass), events: m((x) => x.events),
    perEventCpuMicros: {
      total: m((x) => x.perEventCpuMicros.total), parse: m((x) => x.perEventCpuMicros.parse),
      prepare: m((x) => x.perEventCpuMicros.prepare), commit: m((x) => x.perEventCpuMicros.commit),
      receiveLoopGcRest: m((x) => x.perEventCpuMicros.receiveLoopGcRest),
    },
    batches: m((x) => x.batches), longestBatchMs: m((x) => x.longestBatchMs), longestCommitMs: m((x) => x.longestCommitMs),
    bufferLastsMs: m((x) => x.bufferLastsMs),
  };
}

async function startAll(scope: Scope, env: IngestEnv): Promise<{ ours: FirmwareReceiver; peer: IngestReceiver & { version: string }; node: FirmwareReceiver }> {
  const ours = await startFirmwareReceiver(scope, env, "deno");
  const peer = await startRsyslog(scope, env, RSYSLOG_PORT);
  // Node's receiver would ask for 4 MiB itself (8 MiB after the kernel doubles it): 0 leaves
  // the kernel's default, so that every side gets exactly the buffer the bench sets.
  const node = await startFirmwareReceiver(scope, env, "node", { recvBufferBytes: 0 });
  if (!String(ours.startup.implementation).startsWith("deno-ffi")) throw new Error(`ours runs on ${String(ours.startup.implementation)}, not the box's FFI socket`);
  return { ours, peer, node };
}

async function versions(): Promise<Record<string, string>> {
  const first = async (argv: string[]) => (await runChecked(argv).catch(() => "unknown")).split("\n")[0]!.trim();
  return {
    deno: await first([DENO, "--version"]),
    node: await first(["node", "--version"]),
    rsyslog: (await first(["/usr/sbin/rsyslogd", "-v"])).replace(/\s*compiled with:$/, ""),
  };
}

/** The `ingest` bench (in the default set): ours vs rsyslog at the box's receive buffer, Node beside them. */
export async function benchIngest(log: Log): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const env = await createIngestEnv(scope, "ingest");
    const footprint = await measureDatagramFootprint(env);
    const { ours, peer, node } = await startAll(scope, env);
    const sides: Record<string, IngestReceiver> = { ours, peer, node };
    const buffers: Record<string, number> = {};
    for (const [name, r] of Object.entries(sides)) {
      buffers[name] = await applyRecvBuffer(env, r, BOX_RECV_BUFFER);
      if (buffers[name] !== BOX_RECV_BUFFER) throw new Error(`${name}'s socket has ${buffers[name]} bytes of receive buffer, not ${BOX_RECV_BUFFER}`);
    }
    const bufferDatagrams = Math.floor(BOX_RECV_BUFFER / footprint.perDatagram);
    log(`  receive buffer ${BOX_RECV_BUFFER} B on every socket ≈ ${bufferDatagrams} datagrams of ${footprint.payloadBytes} B (${footprint.perDatagram} B each in the buffer)`);
    await warmUp(env, sides, log);

    const reps: Record<string, RateSearch>[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      // Node is the reference: one search, in the first repetition.
      const these = rep === 0 ? sides : { ours, peer };
      reps.push(await searchAll(env, these, `rep ${rep + 1}/${REPS}`, log));
    }
    const bests = (name: string) => reps.filter((r) => r[name]).map((r) => r[name]!.best);
    const oursRate = median(bests("ours"));
    const peerRate = median(bests("peer"));
    const nodeRate = median(bests("node"));
    const ratio = peerRate > 0 ? Number((oursRate / peerRate).toFixed(3)) : 0;
    const pass = oursRate >= GOAL_RATE && ratio >= GOAL_RATIO;

    const atBest = (name: string) => {
      const runs = reps.map((r) => r[name] && bestRun(r[name]!)).filter((r): r is ProbeResult => r !== undefined);
      return {
        cpuSecondsPer100k: summarise(runs.map((r) => r.cpuSecondsPer100k), 3),
        rssMB: summarise(runs.map((r) => r.rssMB), 0),
      };
    };
    const parseMicros = (x: FirmwareReceiver) => x.startup.parseMicros as number;
    const where = (name: "ours" | "node", x: FirmwareReceiver) => {
      const perRep = reps.filter((r) => r[name]).map((r) => ({
        atBest: breakdown(bestRun(r[name]!)!, parseMicros(x), bufferDatagrams),
        atFirstLoss: firstFailure(r[name]!) && breakdown(firstFailure(r[name]!)!, parseMicros(x), bufferDatagrams),
      }));
      return {
        atBest: medianBreakdown(perRep.map((p) => p.atBest)),
        atFirstLoss: medianBreakdown(perRep.map((p) => p.atFirstLoss)),
        perRep,
      };
    };
    const oursWhere = where("ours", ours);
    const cost = atBest("ours");
    const nodeCost = atBest("node");
    const loss = oursWhere.atFirstLoss;
    const best = oursWhere.atBest;
    const notes = [
      `ours (Deno: the socket (${String(ours.startup.implementation)}) read on a worker thread (ThreadedLogReceiver) → EventWriter → libsql on the main thread) was loss-free up to ${oursRate} events/s ` +
      `(median of ${REPS} searches: ${bests("ours").join(", ")}), rsyslog (imudp → omfile) up to ${peerRate}/s (${bests("peer").join(", ")}): ` +
      `ratio ${ratio}; goal ≥ ${GOAL_RATE}/s and ≥ ${GOAL_RATIO}× rsyslog: ${pass ? "met" : "missed"}.`,
      `Node 20 on the same path (reference, one search): ${nodeRate}/s. CPU per 100k datagrams at each one's best rate: ` +
      `ours ${cost.cpuSecondsPer100k.median} s, Node ${nodeCost.cpuSecondsPer100k.median} s, rsyslog ${atBest("peer").cpuSecondsPer100k.median} s; ` +
      `RSS ours ${cost.rssMB.median} MB, Node ${nodeCost.rssMB.median} MB, rsyslog ${atBest("peer").rssMB.median} MB.`,
      `Conditions: one network namespace, loopback; every receiving socket had ${BOX_RECV_BUFFER} B of receive buffer (what the firmware's log socket asks for ` +
      `itself; set from outside with SO_RCVBUFFORCE on a pidfd_getfd duplicate, read back with ss), ` +
      `which holds about ${bufferDatagrams} of these ${footprint.payloadBytes}-byte datagrams (${footprint.perDatagram} B each). ` +
      `The databases and rsyslog's file on one tmpfs. Runs of ${RUN_SECONDS} s; a run passes when rows (lines) = datagrams sent, ` +
      `the socket dropped none, and all was stored within ${DRAIN_LIMIT_S} s of the last datagram.`,
      ...(loss && best
        ? [
          `Where the time goes at the best rate (${best.rate}/s; medians over the searches): parse ${best.perEventCpuMicros.parse} µs ` +
          `CPU per event (receiver thread), prepare ${best.perEventCpuMicros.prepare} µs (classify, incidents, rollups, statements) and ` +
          `commit ${best.perEventCpuMicros.commit} µs (both on the main thread, wall time), and ${best.perEventCpuMicros.receiveLoopGcRest} µs ` +
          `of other CPU (socket receive, handing records between threads, GC): ${best.perEventCpuMicros.total} µs of CPU in all, so ` +
          `${Math.round(2e6 / best.perEventCpuMicros.total)} events/s would fill both cores, the sender's share aside; the main thread ` +
          `alone carries at most ${Math.round(1e6 / (best.perEventCpuMicros.prepare + best.perEventCpuMicros.commit))}/s. ` +
          `At the first failing rate (${loss.rate}/s) the longest batch took ${loss.longestBatchMs} ms (commit ${loss.longestCommitMs} ms) ` +
          `while the socket's buffer lasts ${loss.bufferLastsMs} ms; the socket is read on its own thread, so a lost datagram means ` +
          `that thread did not get a core in time (details.where; ingest-why has more).`,
        ]
        : []),
    ];
    return {
      name: "ingest",
      ours: oursRate,
      peer: peerRate,
      ratio,
      unit: "events/s",
      runs: REPS,
      date: new Date().toISOString(),
      goal: `ours >= ${GOAL_RATE} events/s and ours/peer >= ${GOAL_RATIO}`,
      pass,
      ratioIs: "ours/peer (highest loss-free rates)",
      notes,
      details: {
        method: {
          runSeconds: RUN_SECONDS, bisectionSteps: STEPS, repetitions: { ours: REPS, peer: REPS, node: 1 }, bracket: [LOW, HIGH],
          drainLimitSeconds: DRAIN_LIMIT_S, payloads: "4096 ulogd JSON records (ingest-payloads.ts), round robin",
        },
        ours: { best: summarise(bests("ours"), 0), ...cost, startup: ours.startup },
        peer: { best: summarise(bests("peer"), 0), ...atBest("peer"), config: "imudp (127.0.0.1, default queues) → omfile template %rawmsg%\\n" },
        node: { best: summarise(bests("node"), 0), ...nodeCost, startup: node.startup },
        receiveBuffer: { bytes: buffers, datagramFootprint: footprint, datagramsItHolds: bufferDatagrams },
        where: { ours: oursWhere, node: where("node", node) },
        reps: reps.map((r) => Object.fromEntries(Object.entries(r).map(([n, s]) => [n, { best: s.best, runs: s.runs.map(compact) }]))),
      },
      machine: { ...machineInfo(), ...(await versions()) },
    };
  } finally {
    await scope.close();
  }
}

/**
 * The `ingest-why` diagnostic (only when named): the same search with the kernel's default
 * buffer, the socket + parse path alone (no database) with the box's buffer, and each stage's
 * cost per event at a fixed rate.
 */
export async function benchIngestWhy(log: Log): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const env = await createIngestEnv(scope, "ingestwhy");
    const footprint = await measureDatagramFootprint(env);
    const { ours, peer, node } = await startAll(scope, env);
    const sides: Record<string, IngestReceiver> = { ours, peer, node };
    // Warm up with the box's buffer (at the default one ours loses even at the warm-up rate),
    // then give every socket the kernel's default back: the value a socket gets at creation.
    for (const r of Object.values(sides)) await applyRecvBuffer(env, r, BOX_RECV_BUFFER);
    await warmUp(env, sides, log);
    const rmemDefault = Number((await runChecked([...env.nsExec, "cat", "/proc/sys/net/core/rmem_default"])).trim());
    const defaults: Record<string, number> = {};
    for (const [name, r] of Object.entries(sides)) {
      defaults[name] = await applyRecvBuffer(env, r, rmemDefault);
      if (defaults[name] !== rmemDefault) throw new Error(`${name}'s socket has ${defaults[name]} bytes, not the default ${rmemDefault}`);
    }
    log(`  kernel default receive buffer (net.core.rmem_default in the namespace) on every socket: ${rmemDefault} B`);
    const atDefault = await searchAll(env, sides, "default buffer", log);

    for (const r of Object.values(sides)) await applyRecvBuffer(env, r, BOX_RECV_BUFFER);
    ours.mode = "discard";
    node.mode = "discard";
    const receiveOnly = await searchAll(env, { ours, node }, "4 MiB, no database", log);
    ours.mode = "store";
    node.mode = "store";

    // Each stage's cost at one rate every path sustains, three times each, with and without the database.
    const fixedRate = 8000;
    const stages: Record<"ours" | "node", { store: Breakdown[]; receiveOnlyCpuMicros: number[] }> = {
      ours: { store: [], receiveOnlyCpuMicros: [] },
      node: { store: [], receiveOnlyCpuMicros: [] },
    };
    const bufferDatagrams = Math.floor(BOX_RECV_BUFFER / footprint.perDatagram);
    for (let i = 0; i < 3; i++) {
      for (const [name, x] of [["ours", ours], ["node", node]] as const) {
        const r = await probe(env, x, fixedRate, 3);
        checkRun(name, r, x);
        const b = breakdown(r, x.startup.parseMicros as number, bufferDatagrams);
        if (b === undefined) throw new Error(`${name}: no timings from the store run`);
        stages[name].store.push(b);
        x.mode = "discard";
        const d = await probe(env, x, fixedRate, 3);
        x.mode = "store";
        checkRun(`${name} (no database)`, d, x);
        const receiveOnly = (d.cpuSeconds * 1e6) / Math.max(1, d.stored);
        stages[name].receiveOnlyCpuMicros.push(receiveOnly);
        log(`  stages ${name} ${fixedRate}/s: ${JSON.stringify(b.perEventCpuMicros)}, longest batch ${b.longestBatchMs} ms; ` +
          `no database: ${receiveOnly.toFixed(2)} µs CPU/datagram`);
      }
    }
    const table = (name: "ours" | "node") => ({
      ...medianBreakdown(stages[name].store)!.perEventCpuMicros,
      receiveAndParseWithoutDatabase: Number(median(stages[name].receiveOnlyCpuMicros).toFixed(2)),
      longestBatchMs: medianBreakdown(stages[name].store)!.longestBatchMs,
    });
    const o = table("ours");
    const n = table("node");
    const oursDefault = atDefault.ours!.best;
    const peerDefault = atDefault.peer!.best;
    return {
      name: "ingest-why",
      ours: oursDefault,
      peer: peerDefault,
      ratio: peerDefault > 0 ? Number((oursDefault / peerDefault).toFixed(3)) : 0,
      unit: "events/s",
      runs: 1,
      date: new Date().toISOString(),
      goal: "diagnostic (no goal): ours and peer here are the highest loss-free rates with the kernel's default receive buffer",
      pass: true,
      ratioIs: "ours/peer at the default buffer",
      notes: [
        `With the kernel's default receive buffer (${defaults.ours} B, about ${Math.floor(defaults.ours! / footprint.perDatagram)} datagrams): ` +
        `ours ${oursDefault}/s, rsyslog ${peerDefault}/s, Node ${atDefault.node!.best}/s (one search each).`,
        `The socket and parse path alone (no database, the queue drained every 250 ms), 4 MiB buffer: Deno ${receiveOnly.ours!.best}/s, ` +
        `Node ${receiveOnly.node!.best}/s.`,
        `Per event at ${fixedRate}/s (medians of 3, µs; prepare and commit as the writer's wall time): Deno ${o.total} CPU = parse ${o.parse} + prepare ${o.prepare} + ` +
        `commit ${o.commit} + socket receive, event loop and GC ${o.receiveLoopGcRest}; the same process without the database ` +
        `${o.receiveAndParseWithoutDatabase}. Node ${n.total} = parse ${n.parse} + prepare ${n.prepare} + commit ${n.commit} + ` +
        `rest ${n.receiveLoopGcRest}; without the database ${n.receiveAndParseWithoutDatabase}.`,
      ],
      details: {
        defaultBuffer: { bytes: defaults, runs: Object.fromEntries(Object.entries(atDefault).map(([k, s]) => [k, { best: s.best, runs: s.runs.map(compact) }])) },
        receiveOnly: Object.fromEntries(Object.entries(receiveOnly).map(([k, s]) => [k, { best: s.best, runs: s.runs.map(compact) }])),
        stages: { rate: fixedRate, perEventCpuMicros: { ours: o, node: n }, runs: stages },
        datagramFootprint: footprint,
      },
      machine: { ...machineInfo(), ...(await versions()) },
    };
  } finally {
    await scope.close();
  }
}
