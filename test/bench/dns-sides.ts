// The DNS benches' processes, all in one lab's box namespace (loopback only, nothing leaves
// the lab): an upstream resolver, the firmware itself (`sekisho run` under Deno with the box's
// permission flags, the DNS filter inside it as on the box), dnsmasq as the peer, the filter
// under Node as a reference, and dnsperf to drive them.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { createLab, destroyLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { prepareFirmware, REPO_ROOT, startFirmware, type FirmwareDirs } from "../lab/firmware.ts";
import { DENO_RUNTIME_FLAGS } from "../../firmware/deno-permissions.ts";
import { createTempDir, type Scope } from "./scope.ts";

const run = promisify(execFile);
const baseline = JSON.parse(await readFile(join(REPO_ROOT, "policies/baseline.json"), "utf8"));

/** The upstream every side forwards to: dnsmasq on the box's loopback, answering every name. */
export const UPSTREAM = { address: "127.0.0.53", port: 53 };
/** Where the upstream points every name (the lab's web server; no packet goes there). */
export const UPSTREAM_ANSWER = "198.51.100.80";
/** The firmware's DNS port in the lab (test/lab/firmware.ts labDevice). */
export const OURS_PORT = 5353;
export const PEER_PORT = 5400;
export const NODE_PORT = 5401;
export const ALONE_PORT = 5402;

export type DnsBenchLab = { lab: Lab; dir: string; blockAddress: string };

/** A bridge-mode lab (removed when `scope` closes) and a temp directory the peers can read. */
export async function createDnsBenchLab(scope: Scope, log: (line: string) => void): Promise<DnsBenchLab> {
  // Our own id, registered before the lab exists: Ctrl-C during creation still removes it.
  const id = `skb${[...randomBytes(6)].map((b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("")}`;
  let built: Lab | undefined;
  scope.defer(`destroy lab ${id}`, () => (built ? built.destroy() : destroyLab(id)));
  const t0 = performance.now();
  const lab = built = await createLab({ mode: "bridge", id });
  log(`  lab ${id} up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const dir = await createTempDir(scope, "dns");
  await chmod(dir, 0o755); // dnsmasq reads its files after dropping to "nobody"
  return { lab, dir, blockAddress: lab.box.lanAddr4 };
}

/** The upstream resolver: answers every name (TTL 300), caches nothing itself. */
export async function startUpstream(b: DnsBenchLab): Promise<LabProcess> {
  const p = b.lab.spawn("box", "bench-upstream", ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
    "--bind-interfaces", `--listen-address=${UPSTREAM.address}`, `--port=${UPSTREAM.port}`, "--pid-file=", "--user=root",
    "--cache-size=0", "--local-ttl=300", "--dns-forward-max=4096", `--address=/#/${UPSTREAM_ANSWER}`]);
  await waitAnswer(b.lab, UPSTREAM.address, UPSTREAM.port, "any.example", UPSTREAM_ANSWER, p);
  return p;
}

/** Asks `name` (A) of address:port from the box namespace; the short answer, or "" when none. */
export async function digShort(lab: Lab, address: string, port: number, name: string, timeS = 1): Promise<string> {
  const r = await lab.exec("box", ["dig", "+short", `+time=${timeS}`, "+tries=1", "-p", String(port), `@${address}`, name], { timeoutMs: timeS * 1000 + 5000 });
  return r.stdout.trim();
}

/** Waits until `name` gets `expect` from address:port (a list is loaded when a listed name is blocked). */
export async function waitAnswer(lab: Lab, address: string, port: number, name: string, expect: string, proc?: LabProcess, timeoutMs = 120_000): Promise<void> {
  let exited = false;
  void proc?.exited.then(() => { exited = true; });
  await waitFor(`${name} → ${expect} from ${address}:${port}`, async () => {
    if (exited) throw new Error(`${proc?.name} exited: ${(await readFile(proc!.logFile, "utf8").catch(() => "")).slice(-2000)}`);
    return (await digShort(lab, address, port, name)).split("\n").includes(expect);
  }, { timeoutMs, intervalMs: 100 });
}

export type OurSide = { proc: LabProcess; fw: FirmwareDirs; policyPath: string; serial: number };

/** The policy the firmware runs in the benches: the shipped baseline with one URL list of the names. */
export function benchPolicy(listIds: readonly string[], serial: number): Record<string, unknown> {
  const p = structuredClone(baseline);
  p.id = "bench-dns";
  p.serial = serial;
  p.dns.upstreams = [UPSTREAM.address];
  // Lab policies never name real public addresses (DESIGN "The lab").
  p.dns.dohAddresses = [];
  p.dns.lists = listIds.map((id) => ({ id, category: "malware", format: "domains", match: "subdomain", url: `https://lists.example/${id}.txt` }));
  return p;
}

/**
 * Starts the firmware (`sekisho run`, Deno, the box's permissions) with the list files given
 * as the kept copies of URL lists (what the box has after a download), and waits until
 * `probe` (a listed name) is blocked.
 */
export async function startOurs(b: DnsBenchLab, lists: Record<string, string>, active: readonly string[], probe: string, tag = "0"): Promise<OurSide> {
  // Fresh directories per start: no last-known-good, database or kept lists from an earlier one.
  const fw = await prepareFirmware(b.lab, `fw-dns-${tag}`);
  const listDir = join(fw.dataDir, "dns-lists");
  await mkdir(listDir, { recursive: true });
  for (const [id, path] of Object.entries(lists)) await writeFile(join(listDir, `${id}.txt`), await readFile(path));
  await writeFile(fw.policyPath, JSON.stringify(benchPolicy(active, 1)));
  const proc = await startFirmware(b.lab, fw, { name: `firmware-dns-${tag}` });
  await waitAnswer(b.lab, "127.0.0.1", OURS_PORT, probe, b.blockAddress, proc);
  return { proc, fw, policyPath: fw.policyPath, serial: 1 };
}

/** Lines "sekisho: policy … applied" in the firmware's log. */
export async function appliedCount(p: LabProcess): Promise<number> {
  const text = await readFile(p.logFile, "utf8").catch(() => "");
  return text.split("\n").filter((l) => / applied \(/.test(l)).length;
}

/** The DNS filter's swap counter, from the stats file the firmware rewrites every second. */
export async function filterReloads(ours: OurSide): Promise<number> {
  const text = await readFile(join(ours.fw.runDir, "dns-stats.json"), "utf8").catch(() => "{}");
  return Number((JSON.parse(text) as { reloads?: number }).reloads ?? NaN);
}

/**
 * The firmware's reload as an operator triggers it: a new policy file, then SIGHUP. Resolves
 * when the firmware has logged the policy applied and the DNS filter's swap counter has moved
 * (the stats file is rewritten every second, so this takes at least that long).
 */
export async function reloadOurs(ours: OurSide, active: readonly string[], timeoutMs = 60_000): Promise<number> {
  const before = await appliedCount(ours.proc);
  const swaps = await filterReloads(ours);
  ours.serial++;
  await writeFile(ours.policyPath, JSON.stringify(benchPolicy(active, ours.serial)));
  const t0 = performance.now();
  process.kill(ours.proc.pid, "SIGHUP");
  await waitFor("the firmware to apply the new policy and swap its filter",
    async () => (await appliedCount(ours.proc)) > before && (await filterReloads(ours)) > swaps, { timeoutMs, intervalMs: 20 });
  const log = await readFile(ours.proc.logFile, "utf8");
  if (/dns: reload failed/.test(log)) throw new Error(`the firmware's DNS reload failed:\n${log.slice(-2000)}`);
  return (performance.now() - t0) / 1000;
}

/** dnsmasq with the names as a hosts file (its fastest form for a big list; `--addn-hosts` re-read on SIGHUP). */
export async function startPeer(b: DnsBenchLab, hosts: string, probe: string, name = "dnsmasq-peer", port = PEER_PORT): Promise<LabProcess> {
  const p = b.lab.spawn("box", name, ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
    "--bind-interfaces", "--listen-address=127.0.0.1", `--port=${port}`, "--pid-file=", "--cache-size=10000", "--dns-forward-max=4096",
    `--addn-hosts=${hosts}`, `--server=${UPSTREAM.address}#${UPSTREAM.port}`]);
  await waitAnswer(b.lab, "127.0.0.1", port, probe, b.blockAddress, p);
  return p;
}

/** The same filter code under Node 20 (tsx), for reference: test/firmware/dns/serve-fixture.ts. */
export async function startNode(b: DnsBenchLab, list: string, probe: string): Promise<LabProcess> {
  const node = process.execPath.includes("deno") ? "node" : process.execPath;
  const p = b.lab.spawn("box", "dns-node", [node, "--import", "tsx", join(REPO_ROOT, "test/firmware/dns/serve-fixture.ts"),
    "--listen", `127.0.0.1:${NODE_PORT}`, "--upstream", `${UPSTREAM.address}:${UPSTREAM.port}`, "--list", list, "--socket", "node"],
    { cwd: REPO_ROOT });
  await waitAnswer(b.lab, "127.0.0.1", NODE_PORT, probe, "192.0.2.2", p);
  return p;
}

/**
 * The DNS filter alone under Deno (serve-fixture.ts: DnsServer on the Deno socket, no event
 * pipeline, no ruleset work), for the difference between the filter and the firmware around it.
 */
export async function startFilterAlone(b: DnsBenchLab, list: string, probe: string): Promise<LabProcess> {
  const deno = join(REPO_ROOT, "node_modules/.bin/deno");
  // The firmware's V8 flags too: the difference to the firmware is then the firmware, not the heap sizing.
  const p = b.lab.spawn("box", "dns-filter-alone", [deno, "run", "--quiet", "--config", join(REPO_ROOT, "deno.json"), ...DENO_RUNTIME_FLAGS, "--allow-net",
    `--allow-read=${b.dir},${REPO_ROOT}`, join(REPO_ROOT, "test/firmware/dns/serve-fixture.ts"),
    "--listen", `127.0.0.1:${ALONE_PORT}`, "--upstream", `${UPSTREAM.address}:${UPSTREAM.port}`, "--list", list, "--socket", "deno"]);
  await waitAnswer(b.lab, "127.0.0.1", ALONE_PORT, probe, "192.0.2.2", p);
  return p;
}

export type PerfResult = {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  /** [rcode, name, ms] per answered query (with -v). */
  latencies?: [string, string, number][];
};

/** Runs dnsperf in the box namespace against 127.0.0.1:port (4 clients, 100 in flight, unless `extra` says otherwise). */
export async function dnsperf(lab: Lab, port: number, file: string, seconds: number, extra: string[] = [], address = "127.0.0.1"): Promise<PerfResult> {
  const argv = ["dnsperf", "-s", address, "-p", String(port), "-d", file, "-l", String(seconds), "-c", "4", "-q", "100", ...extra];
  const r = await lab.exec("box", argv, { timeoutMs: (seconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`dnsperf failed (${r.code}): ${r.stderr.slice(-500)}`);
  return parseDnsperf(r.stdout, extra.includes("-v"));
}

/** dnsperf's statistics (and, with -v, one line per answered query). */
export function parseDnsperf(out: string, verbose = false): PerfResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`dnsperf output without ${re}: ${out.slice(-800)}`);
    return Number(m[1]);
  };
  const rcodes: Record<string, number> = {};
  for (const m of (/Response codes:\s+(.*)/.exec(out)?.[1] ?? "").matchAll(/([A-Z]+) (\d+)/g)) rcodes[m[1]!] = Number(m[2]);
  const r: PerfResult = {
    qps: num(/Queries per second:\s+([\d.]+)/), sent: num(/Queries sent:\s+(\d+)/), completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/), rcodes,
  };
  if (verbose) r.latencies = [...out.matchAll(/^> (\S+) (\S+) \S+ ([\d.]+)$/gm)].map((m) => [m[1]!, m[2]!, Number(m[3]) * 1000]);
  return r;
}

/** Resident memory of a process (MB, one decimal). */
export async function rssMb(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Math.round(Number(m[1]) / 102.4) / 10;
}

/**
 * Resident memory split (MB, one decimal): anonymous (the process's own heaps) and
 * file-backed (pages of the deno binary and the native libraries: clean, shared, and dropped
 * by the kernel under memory pressure, but counted in RSS).
 */
export async function rssParts(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(text);
    if (!m) throw new Error(`no ${key} for ${pid}`);
    return Math.round(Number(m[1]) / 102.4) / 10;
  };
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

/**
 * RSS once the process is at rest: polled every second until it has not fallen for 5 s
 * (V8's memory reducer works a few idle seconds after a load), at most `timeoutMs`.
 */
export async function restingRssMb(pid: number, timeoutMs = 30_000): Promise<{ mb: number; waitedS: number }> {
  const t0 = performance.now();
  let low = await rssMb(pid);
  let lowAt = performance.now();
  await waitFor("RSS to settle", async () => {
    const now = await rssMb(pid);
    if (now < low - 0.5) {
      low = now;
      lowAt = performance.now();
    }
    return performance.now() - lowAt >= 5000;
  }, { timeoutMs, intervalMs: 1000 }).catch(() => undefined);
  return { mb: await rssMb(pid), waitedS: Number(((performance.now() - t0) / 1000).toFixed(1)) };
}

/** The process's CPU time (user + system, s) from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** percentile (nearest rank) of xs, 3 decimals. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3));
}

export { run as execFileAsync };
