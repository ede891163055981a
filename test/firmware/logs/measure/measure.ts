// Measurements for the log receiver (not a test; figures for the report and for the
// `ingest` bench the lead writes in test/bench/). Runs unchanged on Node and Deno:
//
//   deno run -A --unstable-net test/firmware/logs/measure/measure.ts parse|receive [rates…]
//   (Node: through any TypeScript runner, e.g. vitest's; see the report)
//
// parse:   parseUlogdJson / parseDatagram / parseSyslog throughput on real records.
// receive: the receiver on loopback fed by udp-pace (C, open loop) at each rate for 5 s;
//          a rate is loss-free when every datagram sent was received and parsed. The
//          consumer drains every 250 ms (no database: the receiver alone).
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { parseDatagram, parseSourcePrefixes } from "../../../../firmware/logs/datagram.ts";
import { bindLogReceiver } from "../../../../firmware/logs/receiver.ts";
import { parseSyslog } from "../../../../firmware/logs/syslog.ts";
import { readUdpSocketStats } from "../../../../firmware/logs/udp-stats.ts";
import { parseUlogdJson } from "../../../../firmware/logs/ulogd-json.ts";

const run = promisify(execFile);
const HERE = import.meta.dirname ?? ".";
const runtime = typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "node";
const lines = ["ulogd-host.jsonl", "ulogd-bridge.jsonl"].flatMap((f) =>
  readFileSync(join(HERE, "..", "fixtures", f), "utf8").split("\n").filter((l) => l !== ""),
);
const enc = new TextEncoder();

/** Per-second rates of each measure over 5 interleaved rounds (the VM is shared: the median says more than one run). */
function rates(measures: Record<string, (i: number) => unknown>, n: number): void {
  const samples: Record<string, number[]> = {};
  for (const fn of Object.values(measures)) for (let i = 0; i < 20_000; i++) fn(i); // warm up the JIT
  for (let round = 0; round < 5; round++) {
    for (const [label, fn] of Object.entries(measures)) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) fn(i);
      (samples[label] ??= []).push(n / ((performance.now() - t0) / 1000));
    }
  }
  for (const [label, xs] of Object.entries(samples)) {
    xs.sort((a, b) => a - b);
    console.log(JSON.stringify({ runtime, measure: label, medianPerSecond: Math.round(xs[2]!), bestPerSecond: Math.round(xs[4]!) }));
  }
}

function measureParse(): void {
  const ulogd = lines.map((l) => enc.encode(`${l}\n`));
  const options = { syslogSources: parseSourcePrefixes(["127.0.0.0/8", "192.0.2.0/24"]) };
  const s3164 = enc.encode("<38>Feb  5 17:32:18 gw sshd[4242]: Failed password for root from 203.0.113.66 port 4711 ssh2");
  const s5424 = enc.encode('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \ufeffAn application event log entry');
  rates(
    {
      "JSON.parse only (reference)": (i) => JSON.parse(lines[i % lines.length]!),
      parseUlogdJson: (i) => parseUlogdJson(ulogd[i % ulogd.length]!, 0),
      "parseDatagram(ulogd, loopback check)": (i) => parseDatagram(ulogd[i % ulogd.length]!, "127.0.0.1", 0, options),
      "parseSyslog(3164)": () => parseSyslog(s3164, "192.0.2.10", 1_800_000_000_000),
      "parseSyslog(5424)": () => parseSyslog(s5424, "192.0.2.10", 1_800_000_000_000),
    },
    100_000,
  );
}

async function measureReceive(rates: number[]): Promise<void> {
  const pace = join(tmpdir(), `udp-pace-${process.pid}`);
  await run("gcc", ["-O2", "-o", pace, join(HERE, "udp-pace.c")]);
  const payloads = join(tmpdir(), `ulogd-payloads-${process.pid}.txt`);
  writeFileSync(payloads, lines.join("\n") + "\n");
  const receiver = await bindLogReceiver({ address: "127.0.0.1", port: 0, capacity: 1 << 16 });
  const port = receiver.local().port;
  let drained = 0;
  const drain = setInterval(() => {
    drained += receiver.takeBatch().length;
  }, 250);
  const results = [];
  try {
    for (const r of rates) {
      const before = receiver.counters();
      const dropsBefore = (await readUdpSocketStats(port)).drops;
      const cpuBefore = process.cpuUsage();
      const { stdout } = await run(pace, ["127.0.0.1", String(port), String(r), "5", payloads]);
      const sender = JSON.parse(stdout) as { sent: number; errors: number; seconds: number };
      // Let the receiver finish what is queued in the socket: stop when the count holds still.
      let last = -1;
      while (receiver.counters().received !== last) {
        last = receiver.counters().received;
        await new Promise((res) => setTimeout(res, 100));
      }
      const cpu = process.cpuUsage(cpuBefore);
      const after = receiver.counters();
      const received = after.received - before.received;
      const kernelDrops = (await readUdpSocketStats(port)).drops - dropsBefore;
      results.push({
        runtime,
        socket: receiver.implementation,
        recvBufferBytes: receiver.recvBufferBytes() ?? "kernel default",
        rate: r,
        sent: sender.sent,
        received,
        accepted: after.accepted - before.accepted,
        rejected: after.rejected - before.rejected,
        dropped: after.dropped - before.dropped,
        kernelDrops,
        lossFree: received === sender.sent && sender.errors === 0,
        cpuSecondsPer100k: +(((cpu.user + cpu.system) / 1e6) / (received / 100_000)).toFixed(3),
        rssMB: Math.round(process.memoryUsage().rss / 1e6),
      });
      console.log(JSON.stringify(results.at(-1)));
    }
  } finally {
    clearInterval(drain);
    await receiver.close();
  }
  const best = results.filter((x) => x.lossFree).map((x) => x.rate);
  console.log(JSON.stringify({ runtime, maxLossFreeRate: best.length > 0 ? Math.max(...best) : 0, drained }));
}

const [mode, ...rest] = process.argv.slice(2).length > 0 ? process.argv.slice(2) : (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? [];
if (mode === "parse") measureParse();
else if (mode === "receive") await measureReceive(rest.length > 0 ? rest.map(Number) : [20_000, 40_000, 50_000, 60_000, 80_000, 100_000]);
else console.error("usage: measure.ts parse|receive [rates…]");
