/**
 * DNS throughput and latency, ours against dnsmasq, in one run (the future `dns-qps` bench;
 * not a test). As root, with dnsperf and dnsmasq installed:
 *
 *   node_modules/.bin/deno run -A --config deno.json test/bench/dns-qps-probe.ts [--rounds 3] [--seconds 10]
 *
 * - Lists: the union of the category lists in ../shared/data/dns (real names) topped up with
 *   generated names to 1 M, and allowed names from its `popular` list that no list entry
 *   covers; without that directory, generated lists of the same shape (the result says which).
 * - Peers, each fresh per round, interleaved: the filter under Deno (Deno.listenDatagram,
 *   scoped permissions as on the box), the filter under Node (node:dgram), dnsmasq with the
 *   same names as a hosts file (cache 10,000, forward-max 4,096). All forward to one upstream
 *   dnsmasq that answers every name (`--address=/#/`).
 * - Query mix, one third each: blocked names, a thousand allowed names again and again
 *   (cache hits), allowed names never asked before (upstream). dnsperf -c 4 -q 100.
 * - Latency: dnsperf -Q 2000 -v on the same mix; p50/p99 of ours and of the upstream asked
 *   directly (the loopback and dnsperf share), the difference is the added latency.
 * Prints one JSON object (and progress on stderr).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parseArgs, promisify } from "node:util";
import { gunzipSync } from "node:zlib";

const repo = resolve(import.meta.dirname ?? ".", "../..");
const shared = resolve(repo, "../shared/data/dns");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "10" }, names: { type: "string", default: "1000000" } },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const NAMES = Number(values.names);
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Data = { source: "shared-data" | "generated"; list: string[]; allowed: string[] };

function loadData(): Data {
  if (existsSync(join(shared, "popular.txt.gz"))) {
    const read = (f: string) => gunzipSync(readFileSync(join(shared, f))).toString("utf8").split("\n").filter(Boolean);
    const names = new Set<string>();
    for (const f of execFileSync("ls", [shared]).toString().split("\n")) {
      if (!f.endsWith(".txt.gz") || f === "popular.txt.gz") continue;
      for (const n of read(f)) names.add(n);
    }
    const list = [...names];
    for (let i = 0; list.length < NAMES; i++) list.push(`gen-${i}.blocklist.test`);
    list.length = Math.min(list.length, NAMES);
    const listed = new Set(list);
    const covered = (n: string) => {
      const l = n.split(".");
      for (let i = 0; i < l.length; i++) if (listed.has(l.slice(i).join("."))) return true;
      return false;
    };
    return { source: "shared-data", list, allowed: read("popular.txt.gz").filter((n) => !covered(n)) };
  }
  const tlds = ["com", "net", "org", "jp", "co.jp", "info", "io", "de", "ru", "xyz"];
  const word = (i: number, salt: number) => ((i * 2654435761 + salt) >>> 0).toString(36);
  const list: string[] = [];
  for (let i = 0; i < NAMES; i++) list.push(`${i % 3 === 0 ? `${word(i, 7)}.` : ""}${word(i, 1)}-${word(i, 3)}.${tlds[i % tlds.length]}`);
  const allowed: string[] = [];
  for (let i = 0; i < 70_000; i++) allowed.push(`www.${word(i, 11)}allowed.${tlds[i % tlds.length]}`);
  return { source: "generated", list, allowed };
}

function writeInputs(dir: string, d: Data): { list: string; hosts: string; mix: string; queries: number; probe: string } {
  const list = join(dir, "list.txt");
  const hosts = join(dir, "list.hosts");
  writeFileSync(list, `${d.list.join("\n")}\n`);
  writeFileSync(hosts, d.list.map((n) => `0.0.0.0 ${n}\n`).join(""));
  const lines: string[] = [];
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const cached = d.allowed.slice(0, 1000);
  const rest = d.allowed.slice(1000);
  const n = 400_000;
  for (let i = 0; i < n; i++) {
    lines.push(`${d.list[Math.floor(rnd() * d.list.length)]} A`);
    lines.push(`${cached[i % cached.length]} A`);
    lines.push(`u${i}.${rest[i % rest.length]} A`);
  }
  const mix = join(dir, "mix.txt");
  writeFileSync(mix, `${lines.join("\n")}\n`);
  return { list, hosts, mix, queries: lines.length, probe: d.list[d.list.length - 1]! };
}

/** Waits until `name` gets an answer (containing `expect`, when given) from host:port. */
async function waitUdp(port: number, host = "127.0.0.1", name = "sekisho.home.arpa", expect?: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { stdout } = await promisify(execFile)("dig", [`@${host}`, "-p", String(port), name, "+short", "+time=1", "+tries=1"]);
      if (expect === undefined || stdout.includes(expect)) return;
      throw new Error(`not yet: ${stdout}`);
    } catch (e) {
      if (process.env.BENCH_DEBUG) log(`waitUdp ${host}:${port} ${name}: ${(e as Error).message.slice(0, 200)}`);
      if (Date.now() > deadline) throw new Error(`nothing answers on ${host}:${port}`);
      await sleep(200);
    }
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

type Peer = { name: string; proc: ChildProcess; pid: number; port: number; ready: Record<string, unknown>; stop: () => Promise<string> };

/** The process that does the work (not a wrapper): the direct child, spawned without a shell. */
async function startPeer(kind: "deno" | "node" | "dnsmasq", port: number, upstream: string, inputs: { list: string; hosts: string; probe: string }, dir: string): Promise<Peer> {
  const fixture = join(repo, "test/firmware/dns/serve-fixture.ts");
  const common = ["--listen", `127.0.0.1:${port}`, "--upstream", upstream, "--list", inputs.list];
  let proc: ChildProcess;
  if (kind === "deno") {
    const upHost = upstream.slice(0, upstream.lastIndexOf(":"));
    proc = spawn(join(repo, "node_modules/.bin/deno"), ["run", "--quiet", "--config", join(repo, "deno.json"), "--unstable-net",
      `--allow-net=127.0.0.1,0.0.0.0,${upHost}`, `--allow-read=${dir},${repo}`, fixture, ...common, "--socket", "deno"], { stdio: ["ignore", "pipe", "pipe"] });
  } else if (kind === "node") {
    proc = spawn(process.execPath.includes("deno") ? "node" : process.execPath, ["--import", "tsx", fixture, ...common, "--socket", "node"],
      { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  } else {
    proc = spawn("dnsmasq", ["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
      "--listen-address=127.0.0.1", `--port=${port}`, "--pid-file=", "--cache-size=10000", "--dns-forward-max=4096",
      `--addn-hosts=${inputs.hosts}`, `--server=${upstream.replace(":", "#")}`, "--address=/sekisho.home.arpa/192.0.2.1"],
    { stdio: ["ignore", "pipe", "pipe"] });
  }
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const t0 = performance.now();
  // Ready means the list is loaded: a listed name is blocked (the block page or 0.0.0.0).
  const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`exited with ${code}`))));
  await Promise.race([waitUdp(port, "127.0.0.1", inputs.probe, kind === "dnsmasq" ? "0.0.0.0" : "192.0.2.2"), exited]).catch((e) => {
    proc.kill("SIGKILL");
    throw new Error(`${kind}: ${(e as Error).message}\n${err.slice(-2000)}`);
  });
  const readyMs = Math.round(performance.now() - t0);
  const readyLine = out.split("\n").find((l) => l.includes('"ready"'));
  const ready = readyLine ? JSON.parse(readyLine) as Record<string, unknown> : { readyMs };
  const stop = async () => {
    proc.kill("SIGTERM");
    const deadline = Date.now() + 10_000;
    while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await sleep(50);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    return out;
  };
  return { name: kind, proc, pid: proc.pid!, port, ready, stop };
}

type PerfResult = { qps: number; sent: number; lost: number; latencies?: [string, number][] };

async function dnsperf(port: number, file: string, seconds: number, extra: string[] = [], host = "127.0.0.1"): Promise<PerfResult> {
  const { stdout } = await promisify(execFile)("dnsperf", ["-s", host, "-p", String(port), "-d", file, "-l", String(seconds), "-c", "4", "-q", "100", ...extra],
    { maxBuffer: 512 << 20 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
  const r: PerfResult = { qps: num(/Queries per second:\s+([\d.]+)/), sent: num(/Queries sent:\s+(\d+)/), lost: num(/Queries lost:\s+(\d+)/) };
  if (extra.includes("-v")) r.latencies = [...stdout.matchAll(/^> \S+ (\S+) \S+ ([\d.]+)$/gm)].map((m) => [m[1]!, Number(m[2]) * 1000]);
  return r;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
};
const med = (xs: number[]) => pct(xs, 50);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-dnsperf-"));
  chmodSync(dir, 0o755); // dnsmasq reads the hosts file after dropping to "nobody"
  const upHost = `127.53.${100 + (process.pid % 100)}.1`;
  const upPort = 30_000 + (process.pid % 10_000);
  const upstreamProc = spawn("dnsmasq", ["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
    `--listen-address=${upHost}`, `--port=${upPort}`, "--pid-file=", "--cache-size=0", "--local-ttl=300", "--dns-forward-max=4096",
    "--address=/#/192.0.2.1"], { stdio: "ignore" });
  const peers: Peer[] = [];
  try {
    log("preparing lists and queries …");
    const data = loadData();
    const inputs = writeInputs(dir, data);
    log(`${data.list.length} names (${data.source}), ${data.allowed.length} allowed names, ${inputs.queries} queries; waiting for the upstream`);
    await waitUdp(upPort, upHost, "any.example", "192.0.2.1");
    const upstream = `${upHost}:${upPort}`;
    const results: Record<string, { qps: number[]; lost: number[]; rssMb: number[]; startMs: number[]; compileMs: number[] }> = {};
    const basePort = 31_000 + (process.pid % 10_000);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, kind] of (round % 2 === 0 ? ["deno", "dnsmasq", "node"] as const : ["node", "dnsmasq", "deno"] as const).entries()) {
        const port = basePort + round * 3 + i;
        const t0 = performance.now();
        const p = await startPeer(kind, port, upstream, inputs, dir);
        peers.push(p);
        const startMs = Math.round(performance.now() - t0);
        await dnsperf(port, inputs.mix, 2); // warm-up: the same cached names, the first of the rest
        const r = await dnsperf(port, inputs.mix, SECONDS);
        const rss = rssMb(p.pid);
        await p.stop();
        peers.pop();
        const slot = (results[kind] ??= { qps: [], lost: [], rssMb: [], startMs: [], compileMs: [] });
        slot.qps.push(Math.round(r.qps));
        slot.lost.push(r.lost);
        slot.rssMb.push(rss);
        slot.startMs.push(startMs);
        if (typeof p.ready.compileMs === "number") slot.compileMs.push(p.ready.compileMs);
        log(`round ${round + 1} ${kind}: ${Math.round(r.qps)} q/s, lost ${r.lost}, RSS ${rss} MB, up in ${startMs} ms`);
      }
    }
    // Latency at 2k q/s: ours (Deno) and dnsmasq on the mix, and the upstream asked directly.
    // Latency at 2k q/s, and memory at rest and at that (realistic, still high for an office) load.
    const latency: Record<string, Record<string, { p50: number; p99: number; n: number }>> = {};
    const memory: Record<string, { idleMb: number; at2kMb: number; bytesPerName?: number }> = {};
    const spread = (r: PerfResult) => {
      const by: Record<string, number[]> = { all: [], blocked: [], cached: [], upstream: [] };
      for (const [name, ms] of r.latencies!) {
        by.all!.push(ms);
        by[/^u\d+\./.test(name) ? "upstream" : cachedNames.has(name) ? "cached" : "blocked"]!.push(ms);
      }
      return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, { p50: pct(v, 50), p99: pct(v, 99), n: v.length }]));
    };
    const cachedNames = new Set(data.allowed.slice(0, 1000));
    for (const kind of ["deno", "node", "dnsmasq"] as const) {
      const port = basePort + ROUNDS * 3 + (kind === "deno" ? 0 : kind === "node" ? 1 : 2);
      const p = await startPeer(kind, port, upstream, inputs, dir);
      peers.push(p);
      await sleep(15_000); // at rest: V8's memory reducer runs after a few idle seconds
      const idleMb = rssMb(p.pid);
      await dnsperf(port, inputs.mix, 2, ["-Q", "2000"]);
      const r = await dnsperf(port, inputs.mix, SECONDS, ["-Q", "2000", "-v"]);
      latency[kind] = spread(r);
      memory[kind] = { idleMb, at2kMb: rssMb(p.pid) };
      if (typeof p.ready.bytes === "number" && typeof p.ready.names === "number") memory[kind]!.bytesPerName = Number((p.ready.bytes / p.ready.names).toFixed(2));
      await p.stop();
      peers.pop();
    }
    latency.upstreamDirect = spread(await dnsperf(upPort, inputs.mix, SECONDS, ["-Q", "2000", "-v"], upHost));
    const ours = med(results.deno!.qps);
    const peer = med(results.dnsmasq!.qps);
    process.stdout.write(`${JSON.stringify({
      name: "dns-qps", ours, peer, ratio: Number((ours / peer).toFixed(3)), unit: "queries/s", runs: ROUNDS, date: new Date().toISOString(),
      node_qps: med(results.node!.qps),
      p99_ms_at_2k: latency.deno!.all!.p99,
      p99_added_ms_at_2k: Number((latency.deno!.all!.p99 - latency.upstreamDirect!.all!.p99).toFixed(3)),
      data: data.source, names: data.list.length, mix: "1/3 blocked, 1/3 cached allowed (1000 names), 1/3 new allowed names",
      perPeer: results, latency, memory, loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    }, null, 1)}\n`);
  } finally {
    for (const p of peers) await p.stop();
    upstreamProc.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
