// dns-memory: the matcher's bytes per blocked name at ~1 M names, and the resident memory of
// the firmware (the process the DNS filter runs in on the box) with them loaded, against
// dnsmasq with the same names (issue 6, "Benchmarks").
//
// - ours (judged, B/name): `compileDnsFilter` of the list in this process (Deno), the table's
//   own figure (`filter.bytes / filter.names`: fingerprints, palette, masks).
// - rss_mb (judged): `sekisho run` under Deno with the box's permissions in a lab's box
//   namespace, the names as the kept copy of one URL list; RSS at rest after loading and
//   after 10 s of 2k q/s (the mix of dns-qps), the larger of the two against the goal.
// - peer: dnsmasq's bytes per name: (RSS with the hosts file - RSS without) / names.
// - the firmware with no list at all, for the same subtraction on our side.
import { loadavg } from "node:os";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { compileDnsFilter } from "../../firmware/dns/filter.ts";
import { storedListText } from "../../firmware/dns/list-store.ts";
import { DnsPolicy } from "../../policies/schema.ts";
import { loadDnsBenchData, writeDnsLists, writeQueryMix } from "./dns-data.ts";
import {
  createDnsBenchLab, dnsperf, OURS_PORT, PEER_PORT, restingRssMb, rssMb, rssParts, startOurs, startPeer, startUpstream, UPSTREAM, UPSTREAM_ANSWER,
  waitAnswer, type DnsBenchLab,
} from "./dns-sides.ts";
import { machineInfo, median, summarise, type BenchResult } from "./measure.ts";
import { DENO_RUNTIME_FLAGS } from "../../firmware/deno-permissions.ts";
import { Scope } from "./scope.ts";
import type { LabProcess } from "../lab/lab.ts";

const ROUNDS = 3;

/** The matcher alone: bytes per name of a compiled filter of `listPath` (one list, subdomain scope). */
export function matcherBytesPerName(listPath: string): { names: number; bytes: number; bytesPerName: number; compileS: number } {
  const policy = DnsPolicy.parse({
    enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block: [], dohNames: [], dohAddresses: [], upstreams: [],
    lists: [{ id: "bench", category: "malware", format: "domains", match: "subdomain", url: "https://lists.example/bench.txt" }],
  });
  const t0 = performance.now();
  const r = compileDnsFilter({ policy, listTexts: new Map([["bench", storedListText(listPath)]]), box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } });
  const compileS = (performance.now() - t0) / 1000;
  if (!r.ok) throw new Error(`compile failed: ${JSON.stringify(r.error).slice(0, 500)}`);
  return { names: r.filter.names, bytes: r.filter.bytes, bytesPerName: Number((r.filter.bytes / r.filter.names).toFixed(2)), compileS };
}

/** RSS (MB) at rest and under load; anonymous / file-backed parts at rest and at the load peak. */
type Phase = { restMb: number; restWaitS: number; loadMb: number; loadMaxMb: number; restAnonMb: number; restFileMb: number; loadMaxAnonMb: number; loadMaxFileMb: number };

/** RSS at rest, then during and after 10 s of 2k q/s of the mix (sampled every 250 ms). */
async function memoryPhases(b: DnsBenchLab, pid: number, port: number, mix: string): Promise<Phase> {
  const rest = await restingRssMb(pid);
  const restParts = await rssParts(pid);
  let max = 0;
  let maxParts = restParts;
  const sampler = setInterval(() => void rssParts(pid).then((m) => {
    if (m.rss > max) {
      max = m.rss;
      maxParts = m;
    }
  }, () => {}), 250);
  try {
    await dnsperf(b.lab, port, mix, 10, ["-Q", "2000"]);
  } finally {
    clearInterval(sampler);
  }
  const loadMb = await rssMb(pid);
  return {
    restMb: rest.mb, restWaitS: rest.waitedS, loadMb, loadMaxMb: Math.max(max, loadMb),
    restAnonMb: restParts.anon, restFileMb: restParts.file, loadMaxAnonMb: maxParts.anon, loadMaxFileMb: maxParts.file,
  };
}

export async function benchDnsMemory(log: (line: string) => void): Promise<BenchResult & { rss_mb: number; peer_rss_mb: number }> {
  const scope = new Scope();
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  try {
    const data = loadDnsBenchData();
    const b = await createDnsBenchLab(scope, log);
    const files = writeDnsLists(b.dir, data, b.blockAddress);
    const emptyHosts = join(b.dir, "empty.hosts");
    writeFileSync(emptyHosts, "");
    log(`  ${data.list.length} names (${data.source})`);

    const matcher = [0, 1, 2].map(() => matcherBytesPerName(files.domains));
    const m = matcher[0]!;
    log(`  matcher: ${m.names} names, ${m.bytes} bytes, ${m.bytesPerName} B/name`);

    await startUpstream(b);
    const probe = data.list[data.list.length - 1]!;
    const rows: { round: number; side: string; phase: Phase }[] = [];
    let fileNo = 0;
    const mix = () => {
      const path = join(b.dir, `mem-mix-${fileNo}.txt`);
      writeQueryMix(path, data, `m${fileNo++}`, 60_000);
      return path;
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Fresh processes every round (memory depends on history); one side at a time.
      const sides: [string, () => Promise<{ pid: number; port: number; stop: () => Promise<void> }>][] = [
        ["ours", async () => {
          const o = await startOurs(b, { bench: files.domains }, ["bench"], probe, `mem-${round}`);
          return { pid: o.proc.pid, port: OURS_PORT, stop: () => o.proc.kill() };
        }],
        ["peer", async () => {
          const p = await startPeer(b, files.hosts, probe, `dnsmasq-mem-${round}`);
          return { pid: p.pid, port: PEER_PORT, stop: () => p.kill() };
        }],
        ["oursEmpty", async () => {
          const o = await startOurs(b, {}, [], "sekisho.home.arpa", `mem-empty-${round}`);
          return { pid: o.proc.pid, port: OURS_PORT, stop: () => o.proc.kill() };
        }],
        ["peerEmpty", async () => {
          const p = await startPeerEmpty(b, emptyHosts, round);
          return { pid: p.pid, port: PEER_PORT, stop: () => p.kill() };
        }],
      ];
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      const figures: string[] = [];
      for (const [side, start] of order) {
        const s = await start();
        const file = mix();
        try {
          const phase = await memoryPhases(b, s.pid, s.port, file);
          rows.push({ round, side, phase });
          figures.push(`${side} rest ${phase.restMb} / 2k ${phase.loadMaxMb} MB`);
        } finally {
          await s.stop();
          await rm(file);
        }
      }
      log(`  round ${round + 1}/${ROUNDS}: ${figures.join("  ")}`);
    }
    const of = (side: string, k: keyof Phase) => rows.filter((r) => r.side === side).map((r) => r.phase[k]);
    const oursRest = median(of("ours", "restMb"));
    const oursLoad = median(of("ours", "loadMaxMb"));
    const peerRest = median(of("peer", "restMb"));
    const peerLoad = median(of("peer", "loadMaxMb"));
    const rss = Math.max(oursRest, oursLoad);
    const peerRss = Math.max(peerRest, peerLoad);
    const perName = (a: number, b0: number) => Number((((a - b0) * 1024 * 1024) / data.list.length).toFixed(1));
    const peerBytes = perName(peerRest, median(of("peerEmpty", "restMb")));
    const oursRssBytes = perName(oursRest, median(of("oursEmpty", "restMb")));
    const pass = m.bytesPerName <= 16 && rss <= 128;
    return {
      name: "dns-memory",
      ours: m.bytesPerName,
      peer: peerBytes,
      ratio: Number((m.bytesPerName / peerBytes).toFixed(3)),
      unit: "bytes/name",
      runs: ROUNDS,
      date: new Date().toISOString(),
      goal: "ours (matcher bytes per blocked name at 1 M) <= 16 and rss_mb (the firmware with 1 M loaded) <= 128",
      pass,
      ratioIs: "ours/peer (lower is better; peer is dnsmasq's RSS per name, ours the matcher's own bytes)",
      rss_mb: rss,
      peer_rss_mb: peerRss,
      notes: [
        `Lists: ${data.description}.`,
        `Matcher: ${m.names} distinct names in ${m.bytes} bytes = ${m.bytesPerName} B/name (goal <= 16).`,
        `The firmware (sekisho run from the bundle the box runs, build/main.js, under Deno with the box permissions; baseline policy + the list) with ${m.names} names: ${oursRest} MB at rest, ${oursLoad} MB at most during 10 s of 2k q/s (medians of ${ROUNDS} fresh starts; goal <= 128 for the larger). The same firmware without any list: ${median(of("oursEmpty", "restMb"))} MB at rest, so the list costs ${oursRssBytes} B/name of RSS.`,
        `dnsmasq with the same names as a hosts file: ${peerRest} MB at rest, ${peerLoad} MB under 2k q/s; without them ${median(of("peerEmpty", "restMb"))} MB: ${peerBytes} B/name.`,
        `The firmware without any list is already at ${median(of("oursEmpty", "restMb"))} MB at rest and ${median(of("oursEmpty", "loadMaxMb"))} MB under 2k q/s: the 128 MB budget is missed before the filter holds a name; the list adds ${(oursRest - median(of("oursEmpty", "restMb"))).toFixed(1)} MB at rest, of which the table is ${(m.bytes / 1048576).toFixed(1)} MB.`,
        `Of the firmware's RSS at rest, ${median(of("ours", "restAnonMb"))} MB is anonymous (its own heaps) and ${median(of("ours", "restFileMb"))} MB file-backed (pages of the deno binary and libsql's library: clean, shared, dropped by the kernel under pressure); at the load peak ${median(of("ours", "loadMaxAnonMb"))} MB anonymous.`,
        `The firmware runs with the box's runtime flags (${DENO_RUNTIME_FLAGS.join(" ")}; firmware/deno-permissions.ts).`,
        "Under saturation the firmware's RSS goes higher still (dns-qps details.perRun[].rssMb, dns-reload underLoad.oursRssMb).",
      ],
      details: {
        data: { source: data.source, names: data.list.length },
        matcher,
        ours: {
          rest: summarise(of("ours", "restMb"), 1), loadMax: summarise(of("ours", "loadMaxMb"), 1),
          restAnon: summarise(of("ours", "restAnonMb"), 1), loadMaxAnon: summarise(of("ours", "loadMaxAnonMb"), 1),
        },
        peer: { rest: summarise(of("peer", "restMb"), 1), loadMax: summarise(of("peer", "loadMaxMb"), 1) },
        oursEmpty: { rest: summarise(of("oursEmpty", "restMb"), 1), loadMax: summarise(of("oursEmpty", "loadMaxMb"), 1) },
        peerEmpty: { rest: summarise(of("peerEmpty", "restMb"), 1) },
        oursRssBytesPerName: oursRssBytes,
        rows,
        loadavg: { start: loadStart, end: loadavg().map((x) => Number(x.toFixed(2))) },
      },
      machine: { ...machineInfo(), dnsmasq: "2.90" },
    };
  } finally {
    await scope.close();
  }
}

/** dnsmasq with an empty hosts file: its own baseline. */
async function startPeerEmpty(b: DnsBenchLab, emptyHosts: string, round: number): Promise<LabProcess> {
  const p = b.lab.spawn("box", `dnsmasq-empty-${round}`, ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
    "--bind-interfaces", "--listen-address=127.0.0.1", `--port=${PEER_PORT}`, "--pid-file=", "--cache-size=10000", "--dns-forward-max=4096",
    `--addn-hosts=${emptyHosts}`, `--server=${UPSTREAM.address}#${UPSTREAM.port}`]);
  await waitAnswer(b.lab, "127.0.0.1", PEER_PORT, "any.example", UPSTREAM_ANSWER, p);
  return p;
}
