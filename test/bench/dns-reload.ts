// dns-reload: how long new lists take to compile, and whether a swap under load fails any
// query, against dnsmasq re-reading its hosts file on SIGHUP (issue 6, "Benchmarks").
//
// - ours (judged, s): `compileDnsFilter` of the ~1 M names in this process (Deno), the work a
//   reload does before its one-assignment swap.
// - peer (s): dnsmasq's reload as it is done: SIGHUP, and the time until a name added to its
//   hosts file answers (polled with dig, which waits up to 10 s: dnsmasq answers nothing while
//   it reads the file, then answers the waiting query).
//   The firmware's same end-to-end figure (new policy file, SIGHUP, until a name only in the
//   new list is blocked; it includes the ruleset apply that a policy reload also does) is
//   `details.firmwareReloadS`.
// - failed_queries (judged): dnsperf at full load on the dns-qps mix for 20 s against the
//   firmware while its lists are swapped four times (SIGHUP with a changed policy): lost
//   queries plus answers other than NOERROR/NXDOMAIN. `peer_failed_queries`: the same for
//   dnsmasq with four SIGHUPs.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { waitFor, type LabProcess } from "../lab/lab.ts";
import { loadDnsBenchData, writeDnsLists, writeQueryMix } from "./dns-data.ts";
import { matcherBytesPerName } from "./dns-memory.ts";
import { failedQueries } from "./dns-qps.ts";
import {
  benchPolicy, createDnsBenchLab, digShort, filterReloads, dnsperf, OURS_PORT, PEER_PORT, reloadOurs, rssMb, startOurs, startPeer, startUpstream, type DnsBenchLab,
  type OurSide, type PerfResult,
} from "./dns-sides.ts";
import { machineInfo, median, summarise, type BenchResult } from "./measure.ts";
import { Scope } from "./scope.ts";

const ROUNDS = 5;
const SWAPS = 4;
const LOAD_SECONDS = 20;

/** Sends SIGHUP to dnsmasq and times until `name` answers `expect` (dig every few ms). */
async function timePeerReload(b: DnsBenchLab, peer: LabProcess, name: string, expect: string): Promise<number> {
  const t0 = performance.now();
  process.kill(peer.pid, "SIGHUP");
  await waitFor(`dnsmasq to answer ${name}`, async () => (await digShort(b.lab, "127.0.0.1", PEER_PORT, name, 10)) === expect,
    { timeoutMs: 60_000, intervalMs: 5 });
  return (performance.now() - t0) / 1000;
}

/** The firmware's reload end to end: policy file + SIGHUP, until `name` (new list only) is blocked. */
async function timeOursReload(b: DnsBenchLab, ours: OurSide, list: string, name: string): Promise<number> {
  ours.serial++;
  await writeFile(ours.policyPath, JSON.stringify(benchPolicy([list], ours.serial)));
  const t0 = performance.now();
  process.kill(ours.proc.pid, "SIGHUP");
  await waitFor(`the firmware to block ${name}`, async () => (await digShort(b.lab, "127.0.0.1", OURS_PORT, name)) === b.blockAddress,
    { timeoutMs: 60_000, intervalMs: 5 });
  return (performance.now() - t0) / 1000;
}

/** dnsperf at full load while `swap` runs SWAPS times, spread over the run. */
async function loadWithSwaps(b: DnsBenchLab, port: number, mix: string, swap: (i: number) => Promise<unknown>): Promise<{ perf: PerfResult; swapS: number[] }> {
  const perf = dnsperf(b.lab, port, mix, LOAD_SECONDS);
  const swapS: number[] = [];
  const started = performance.now();
  for (let i = 0; i < SWAPS; i++) {
    // Start each swap at its share of the run (the first after 2 s), never before the last ended.
    const at = 2000 + (i * (LOAD_SECONDS - 6) * 1000) / SWAPS;
    await waitFor("the swap's turn", () => performance.now() - started >= at, { timeoutMs: LOAD_SECONDS * 1000, intervalMs: 20 });
    const t0 = performance.now();
    await swap(i);
    swapS.push(Number(((performance.now() - t0) / 1000).toFixed(3)));
  }
  if (performance.now() - started > (LOAD_SECONDS - 1) * 1000) throw new Error("the swaps outlasted the load: the run measured nothing");
  return { perf: await perf, swapS };
}

export async function benchDnsReload(log: (line: string) => void): Promise<BenchResult & { failed_queries: number; peer_failed_queries: number }> {
  const scope = new Scope();
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  try {
    const data = loadDnsBenchData();
    const b = await createDnsBenchLab(scope, log);
    const files = writeDnsLists(b.dir, data, b.blockAddress);
    log(`  ${data.list.length} names (${data.source})`);
    // Two versions of each list: the last 1,000 names replaced by names of each version's own.
    const base = data.list.slice(0, data.list.length - 1000);
    const versionNames = (v: string) => Array.from({ length: 1000 }, (_, i) => `swap-${v}-${i}.reload.test`);
    const listOf = (v: string) => {
      const path = join(b.dir, `list-${v}.txt`);
      writeFileSync(path, `${[...base, ...versionNames(v)].join("\n")}\n`);
      return path;
    };
    const lists = { "bench-a": listOf("a"), "bench-b": listOf("b") };
    const hostsOf = (v: string) => {
      const path = join(b.dir, `hosts-${v}`);
      writeFileSync(path, [...base, ...versionNames(v)].map((n) => `${b.blockAddress} ${n}\n`).join(""));
      return path;
    };
    const hostsVersions = { a: hostsOf("a"), b: hostsOf("b") };
    const peerHosts = join(b.dir, "peer.hosts");
    writeFileSync(peerHosts, readFileSync(hostsVersions.a));

    await startUpstream(b);
    const ours = await startOurs(b, lists, ["bench-a"], "swap-a-999.reload.test");
    const peer = await startPeer(b, peerHosts, "swap-a-999.reload.test");

    // Compile (ours) and reload times (firmware end to end, dnsmasq), taking turns.
    const compileS: number[] = [];
    const firmwareS: number[] = [];
    const peerS: number[] = [];
    for (let i = 0; i < ROUNDS + 1; i++) {
      const v = i % 2 === 0 ? "b" : "a";
      const c = matcherBytesPerName(lists[`bench-${v}`]);
      const f = await timeOursReload(b, ours, `bench-${v}`, `swap-${v}-${i}.reload.test`);
      // dnsmasq: the new version moved in place (untimed), then SIGHUP.
      writeFileSync(`${peerHosts}.new`, readFileSync(hostsVersions[v]));
      renameSync(`${peerHosts}.new`, peerHosts);
      const p = await timePeerReload(b, peer, `swap-${v}-${i}.reload.test`, b.blockAddress);
      if (i === 0) {
        log(`  warm-up: compile ${c.compileS.toFixed(3)} s, firmware reload ${f.toFixed(3)} s, dnsmasq reload ${p.toFixed(3)} s`);
        continue;
      }
      compileS.push(c.compileS);
      firmwareS.push(f);
      peerS.push(p);
      log(`  run ${i}/${ROUNDS}: compile ${c.compileS.toFixed(3)} s, firmware reload ${f.toFixed(3)} s, dnsmasq reload ${p.toFixed(3)} s`);
    }

    // Swaps under full load: ours, then dnsmasq, on fresh query files.
    const mixOurs = join(b.dir, "reload-mix-ours.txt");
    const mixPeer = join(b.dir, "reload-mix-peer.txt");
    writeQueryMix(mixOurs, data, "ro", 1_200_000);
    writeQueryMix(mixPeer, data, "rp", 1_200_000);
    const rssBefore = await rssMb(ours.proc.pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => void rssMb(ours.proc.pid).then((m) => (rssMax = Math.max(rssMax, m)), () => {}), 100);
    let oursLoad: Awaited<ReturnType<typeof loadWithSwaps>>;
    const swapsBefore = await filterReloads(ours);
    try {
      let n = 0;
      oursLoad = await loadWithSwaps(b, OURS_PORT, mixOurs, () => reloadOurs(ours, [n++ % 2 === 0 ? "bench-a" : "bench-b"]));
    } finally {
      clearInterval(sampler);
    }
    const swapsDone = (await filterReloads(ours)) - swapsBefore;
    if (!(swapsDone >= SWAPS)) throw new Error(`the filter swapped ${swapsDone} times during the load, not ${SWAPS}`);
    const failed = failedQueries(oursLoad.perf);
    log(`  ours under load: ${Math.round(oursLoad.perf.qps)} q/s, ${oursLoad.perf.completed} answered, ${failed} failed (lost ${oursLoad.perf.lost}); swaps ${oursLoad.swapS.join(", ")} s`);
    let pv = 0;
    const peerLoad = await loadWithSwaps(b, PEER_PORT, mixPeer, async () => {
      const v = pv++ % 2 === 0 ? "b" : "a";
      writeFileSync(`${peerHosts}.new`, readFileSync(hostsVersions[v]));
      renameSync(`${peerHosts}.new`, peerHosts);
      process.kill(peer.pid, "SIGHUP");
    });
    const peerFailed = failedQueries(peerLoad.perf);
    log(`  dnsmasq under load: ${Math.round(peerLoad.perf.qps)} q/s, ${peerLoad.perf.completed} answered, ${peerFailed} failed (lost ${peerLoad.perf.lost})`);
    await rm(mixOurs);
    await rm(mixPeer);

    const o = Number(median(compileS).toFixed(3));
    const p = Number(median(peerS).toFixed(3));
    const fw = Number(median(firmwareS).toFixed(3));
    const pass = o <= 0.5 && failed === 0;
    return {
      name: "dns-reload",
      ours: o,
      peer: p,
      ratio: Number((o / p).toFixed(3)),
      unit: "s",
      runs: ROUNDS,
      date: new Date().toISOString(),
      goal: "ours (compile of 1 M names) <= 0.5 s and failed_queries (during swaps under dnsperf load) = 0",
      pass,
      ratioIs: "ours (compile) / peer (dnsmasq: SIGHUP until a name added to its hosts file answers); lower is better",
      failed_queries: failed,
      peer_failed_queries: peerFailed,
      notes: [
        `Lists: ${data.description}; two versions that differ in their last 1,000 names.`,
        `Compile of ${data.list.length} names: ${o} s (goal <= 0.5). End to end, the firmware (new policy file, SIGHUP, until a name of the new list is blocked; includes the ruleset apply of the policy reload) took ${fw} s; dnsmasq, SIGHUP until a name added to its hosts file answers: ${p} s. Medians of ${ROUNDS} runs taking turns.`,
        `Under full dnsperf load for ${LOAD_SECONDS} s with ${SWAPS} swaps: ours ${oursLoad.perf.completed} answered, ${failed} failed (lost ${oursLoad.perf.lost}, rcodes ${JSON.stringify(oursLoad.perf.rcodes)}); each reload took ${oursLoad.swapS.join(", ")} s under load (until applied and the swap counter moved, which the firmware writes once a second), and the filter swapped ${swapsDone} times. dnsmasq with ${SWAPS} SIGHUPs: ${peerLoad.perf.completed} answered, ${peerFailed} failed (lost ${peerLoad.perf.lost}, rcodes ${JSON.stringify(peerLoad.perf.rcodes)}).`,
        `The firmware's RSS during the swaps under load: ${rssBefore} MB before, ${rssMax} MB at most (sampled every 100 ms).`,
      ],
      details: {
        data: { source: data.source, names: data.list.length },
        compileS: summarise(compileS, 3),
        firmwareReloadS: summarise(firmwareS, 3),
        peerReloadS: summarise(peerS, 3),
        underLoad: {
          seconds: LOAD_SECONDS, swaps: SWAPS,
          ours: { qps: Math.round(oursLoad.perf.qps), completed: oursLoad.perf.completed, lost: oursLoad.perf.lost, rcodes: oursLoad.perf.rcodes, failed, swapS: oursLoad.swapS, filterSwaps: swapsDone },
          peer: { qps: Math.round(peerLoad.perf.qps), completed: peerLoad.perf.completed, lost: peerLoad.perf.lost, rcodes: peerLoad.perf.rcodes, failed: peerFailed },
          oursRssMb: { before: rssBefore, max: rssMax },
        },
        loadavg: { start: loadStart, end: loadavg().map((x) => Number(x.toFixed(2))) },
      },
      machine: { ...machineInfo(), dnsmasq: "2.90", dnsperf: "2.10.0" },
    };
  } finally {
    await scope.close();
  }
}
