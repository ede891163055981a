// The Sekisho test lab: the box between a fake internet and an office LAN, in network
// namespaces, built from the plan in plan.ts. Sealed: documentation ranges only, nothing
// in the root namespace, no rules in the box (the firmware under test loads those).
// The reference this follows, with the kernel facts behind it: shared/recipes/bridge-lab.sh.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabError } from "./lab-error.ts";
import {
  BR_NETFILTER_SYSCTLS,
  buildLabPlan,
  buildNamespaces,
  buildProbes,
  buildServices,
  buildUlogdConf,
  LAB_ID_PATTERN,
  type LabMode,
  type LabNamespaces,
  type LabNsKey,
  type LabPlan,
  parseNflogGroups,
  parseNftCounterPackets,
} from "./plan.ts";
import {
  type CommandOptions,
  type CommandResult,
  findNetnsPids,
  isAlive,
  type LabProcess,
  readCommandName,
  readStartTime,
  runChecked,
  runCommand,
  startDaemon,
  stopNetnsProcesses,
} from "./processes.ts";
import { waitFor } from "./wait-for.ts";

export type { BoxInfo, DualStack, LabAddresses, LabMode, LabNamespaces, LabNsKey, LanHost } from "./plan.ts";
export { buildUrl, LAB_ID_PATTERN } from "./plan.ts";
export type { CommandOptions, CommandResult, LabProcess } from "./processes.ts";
export { LabError, LabTimeoutError } from "./lab-error.ts";
export { waitFor, type WaitForOptions } from "./wait-for.ts";

/** Where every lab keeps its run directory (logs, pid files, lab.json). */
export const LAB_RUN_ROOT = "/run/sekisho-lab";
const NETNS_ETC = "/etc/netns";
const HERE = import.meta.dirname;
if (HERE === undefined) throw new LabError("test/lab must be loaded from a file (import.meta.dirname)");
const HTTP_LISTENER = join(HERE, "http-listener.py");
const UDP_SINK = join(HERE, "udp-sink.py");
const BRIDGE_SYSCTL_DIR = "/proc/sys/net/bridge";

/**
 * The process a lab belongs to. While it lives the lab is in use; once it is gone (or its
 * pid belongs to a newer process: the start time differs), `sweepStaleLabs` removes the lab.
 */
export interface LabOwner {
  pid: number;
  /** Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTime: string;
  command: string | null;
}

/** `<runDir>/lab.json`: enough for another process to list, sweep or take down the lab. */
export interface LabRecord {
  id: string;
  mode: LabMode;
  ns: LabNamespaces;
  createdAt: string;
  owner: LabOwner;
}

export interface CreateLabOptions {
  mode: LabMode;
  /** Default: "sk" + 6 random [a-z0-9]. Must match LAB_ID_PATTERN and be unused. */
  id?: string;
  /** The pid whose life the lab shares (default: this process). See LabOwner. */
  ownerPid?: number;
}

export interface SpawnOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface NflogListener {
  groups: number[];
  /** The UDP port on the box's 127.0.0.1 where ulogd2 sends its JSON. */
  port: number;
  /** One JSON object per line, one line per logged packet. */
  file: string;
  /** The lines received so far. */
  lines(): Promise<string[]>;
}

export interface Lab {
  id: string;
  mode: LabMode;
  /** /run/sekisho-lab/<id>: lab.json, <name>.log and <name>.pid of every daemon, batches. */
  runDir: string;
  ns: LabNamespaces;
  addr: LabPlan["addr"];
  box: LabPlan["box"];
  /** Runs `argv` inside namespace `ns` (via `ip netns exec`, so /etc/netns/<ns>/resolv.conf applies). */
  exec(ns: LabNsKey, argv: string[], opts?: CommandOptions): Promise<CommandResult>;
  /** Starts a daemon in `ns`: output to <runDir>/<name>.log, pid in <name>.pid; destroy() stops it. */
  spawn(ns: LabNsKey, name: string, argv: string[], opts?: SpawnOptions): LabProcess;
  /**
   * Runs ulogd2 in the box for NFLOG `groups`, sending JSON over UDP to a small listener on
   * the box's loopback that appends each datagram to a file. Resolves once ulogd has bound
   * every group. A group can be bound once per namespace.
   */
  startNflogListener(groups: number[], opts?: { port?: number }): Promise<NflogListener>;
  /** Packets the seal counter caught: anything aimed outside the documentation ranges (expect 0). */
  sealLeaks(): Promise<number>;
  /** Stops every process in the lab's namespaces and removes them, their /etc/netns dirs and runDir. Idempotent. */
  destroy(): Promise<void>;
}

function randomLabId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  // 252 = 7 * 36: rejecting bytes above it keeps every character equally likely.
  const chars = [...randomBytes(32)].filter((b) => b < 252).map((b) => alphabet[b % 36]);
  return "sk" + chars.slice(0, 6).join("");
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/** mkdir -p that survives another lab removing the (empty) parent at the same moment. */
async function ensureDir(path: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await mkdir(path, { recursive: true });
      return;
    } catch (err) {
      if (!isErrno(err, "ENOENT") || attempt >= 3) throw err;
    }
  }
}

/** Creates <root>/<id> exclusively: false if it exists (the id is taken). */
async function claimRunDir(runDir: string): Promise<boolean> {
  for (let attempt = 0;; attempt++) {
    await ensureDir(LAB_RUN_ROOT);
    try {
      await mkdir(runDir);
      return true;
    } catch (err) {
      if (isErrno(err, "EEXIST")) return false;
      if (!isErrno(err, "ENOENT") || attempt >= 3) throw err;
    }
  }
}

async function readOwner(pid: number): Promise<LabOwner> {
  const startTime = await readStartTime(pid);
  if (startTime === null) throw new LabError(`owner pid ${pid} is not a running process`);
  return { pid, startTime, command: await readCommandName(pid) };
}

function nsExec(name: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", name, ...argv];
}

/** Every namespace name a lab `id` can have, in either mode. */
function allNamespaceNames(id: string): string[] {
  return Object.values(buildNamespaces(id, "bridge")).filter((n): n is string => n !== undefined);
}

async function listNetns(): Promise<string[]> {
  const r = await runChecked(["ip", "netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => n !== "");
}

async function readBridgeSysctls(): Promise<string> {
  const names = ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"];
  const values = await Promise.all(
    names.map((n) => readFile(join(BRIDGE_SYSCTL_DIR, n), "utf8").catch(() => "absent")),
  );
  return values.map((v, i) => `${names[i]}=${v.trim()}`).join(" ");
}

/** Loads br_netfilter where it is a module; it is built in on the CI kernel. */
async function ensureBrNetfilter(): Promise<void> {
  if (existsSync(BRIDGE_SYSCTL_DIR)) return;
  await runChecked(["modprobe", "br_netfilter"]);
  if (!existsSync(BRIDGE_SYSCTL_DIR)) throw new LabError("br_netfilter loaded but /proc/sys/net/bridge is missing");
}

let pluginDirCache: string | undefined;
/** ulogd2's plugin directory (from `dpkg -L ulogd2`), with the JSON output of ulogd2-json in it. */
async function findUlogdPluginDir(): Promise<string> {
  if (pluginDirCache !== undefined) return pluginDirCache;
  const r = await runChecked(["dpkg", "-L", "ulogd2"]);
  const nflog = r.stdout.split("\n").find((l) => l.endsWith("/ulogd_inppkt_NFLOG.so"));
  if (nflog === undefined) throw new LabError("ulogd2 has no ulogd_inppkt_NFLOG.so (dpkg -L ulogd2)");
  const dir = nflog.slice(0, nflog.lastIndexOf("/"));
  if (!existsSync(join(dir, "ulogd_output_JSON.so"))) {
    throw new LabError(`no ${dir}/ulogd_output_JSON.so: install ulogd2-json (npm run setup)`);
  }
  pluginDirCache = dir;
  return dir;
}

/**
 * Builds a lab and resolves once every daemon answers and lan1 reaches the web server
 * through the box (both families). A failure half-way destroys what was built and rethrows.
 */
export async function createLab(opts: CreateLabOptions): Promise<Lab> {
  if (opts.id !== undefined && !LAB_ID_PATTERN.test(opts.id)) {
    throw new RangeError(`lab id ${JSON.stringify(opts.id)} must match ${LAB_ID_PATTERN}`);
  }
  const owner = await readOwner(opts.ownerPid ?? process.pid);
  let id = opts.id ?? randomLabId();
  for (;;) {
    if (await claimRunDir(join(LAB_RUN_ROOT, id))) break;
    if (opts.id !== undefined) {
      throw new LabError(`lab ${id} exists (${join(LAB_RUN_ROOT, id)}): take it down first`);
    }
    id = randomLabId();
  }
  const plan = buildLabPlan(id, opts.mode);
  const runDir = join(LAB_RUN_ROOT, id);
  const record: LabRecord = { id, mode: plan.mode, ns: plan.ns, createdAt: new Date().toISOString(), owner };
  const lab = new LabInstance(plan, runDir);
  const phases = new PhaseClock();
  try {
    await writeFile(join(runDir, "lab.json"), JSON.stringify(record, null, 2) + "\n");
    await buildTopology(plan, runDir, phases);
    await startServices(lab, plan, runDir, phases);
    await writeFile(join(runDir, "timings.json"), JSON.stringify(phases.laps) + "\n");
    return lab;
  } catch (err) {
    try {
      await lab.destroy();
    } catch (cleanupErr) {
      throw new AggregateError([err, cleanupErr], `lab ${id}: creation failed, and so did the clean-up`);
    }
    throw err;
  }
}

/** Milliseconds per phase of createLab, kept in <runDir>/timings.json (for slow machines). */
class PhaseClock {
  readonly laps: Record<string, number> = {};
  #t = performance.now();
  lap(phase: string): void {
    const now = performance.now();
    this.laps[phase] = Math.round(now - this.#t);
    this.#t = now;
  }
}

async function buildTopology(plan: LabPlan, runDir: string, phases: PhaseClock): Promise<void> {
  const nsName = (k: LabNsKey) => plan.ns[k] as string;
  const rootBridgeBefore = plan.mode === "bridge" ? await readBridgeSysctls() : "";
  if (plan.mode === "bridge") await ensureBrNetfilter();

  // Before any `ip netns exec`: it bind-mounts these over /etc/resolv.conf, so tools that
  // resolve on their own (http.server's getfqdn) ask the lab's resolver, never the host's.
  await Promise.all(plan.nsKeys.map(async (k) => {
    const dir = join(NETNS_ETC, nsName(k));
    await ensureDir(dir);
    await writeFile(join(dir, "resolv.conf"), plan.resolvConf);
  }));

  const batch = async (file: string, lines: string[], netns?: string) => {
    const path = join(runDir, file);
    await writeFile(path, lines.join("\n") + "\n");
    await runChecked(["ip", ...(netns === undefined ? [] : ["-n", netns]), "-batch", path]);
  };
  await batch("netns.batch", plan.nsKeys.map((k) => `netns add ${nsName(k)}`));
  phases.lap("namespaces");

  // Sysctls before links: a link copies net.ipv6.conf.default.* when it is created.
  if (plan.mode === "bridge") {
    // The br_netfilter sysctls are per namespace on kernels >= 5.3. Where a namespace cannot
    // see its own copy, writing them would change the host's: refuse.
    const own = await runCommand(nsExec(plan.ns.box, ["test", "-w", join(BRIDGE_SYSCTL_DIR, "bridge-nf-call-iptables")]));
    if (own.code !== 0) {
      throw new LabError("br_netfilter sysctls are not per-namespace on this kernel; refusing to change the host's");
    }
  }
  await Promise.all(plan.nsKeys.map((k) => runChecked(nsExec(nsName(k), ["sysctl", "-qw", ...(plan.sysctls[k] ?? [])]))));
  if (plan.mode === "bridge") {
    const after = await readBridgeSysctls();
    if (after !== rootBridgeBefore) {
      throw new LabError(`the host's bridge sysctls changed (${rootBridgeBefore} -> ${after}): ${BR_NETFILTER_SYSCTLS}`);
    }
  }

  phases.lap("sysctls");
  await batch("links.batch", plan.links);
  await Promise.all(plan.nsKeys.map((k) => batch(`${k}.batch`, plan.nsBatches[k] ?? [], nsName(k))));
  phases.lap("links");

  const sealFile = join(runDir, "seal.nft.json");
  await writeFile(sealFile, JSON.stringify(plan.seal, null, 2) + "\n");
  // As a file, not stdin: nft opens /dev/stdin by path, which fails on a socketpair.
  await runChecked(nsExec(nsName(plan.sealNs), ["nft", "-j", "-f", sealFile]));
  phases.lap("seal");
}

async function startServices(lab: LabInstance, plan: LabPlan, runDir: string, phases: PhaseClock): Promise<void> {
  const www = (site: string) => join(runDir, "www", site);
  const services = buildServices(plan, { httpListener: HTTP_LISTENER, www });
  await Promise.all(["web", "c2", "lan1"].map(async (site) => {
    await ensureDir(www(site));
    await writeFile(join(www(site), "index.html"), `sekisho lab ${site}\n`);
  }));
  const daemons = services.map((s) => lab.spawn(s.ns, s.name, s.argv));
  phases.lap("spawn");
  const probes = async () => {
    // One probe at a time: most pass at their first try once the first has, and fewer
    // concurrent probes leave the CPU to the daemons starting up.
    for (const p of buildProbes(plan)) {
      await waitFor(p.what, async () => {
        const r = await lab.exec(p.ns, p.argv, { timeoutMs: 3000 });
        return r.code === 0 && (p.expect === undefined || r.stdout.split("\n").includes(p.expect));
      }, { timeoutMs: 10_000 });
      phases.lap(p.what);
    }
  };
  await untilExit(daemons, probes());
}

/** `work`, unless one of `daemons` exits first: then a LabError that points at its log. */
async function untilExit<T>(daemons: LabProcess[], work: Promise<T>): Promise<T> {
  let settled = false;
  const died = new Promise<never>((_, reject) => {
    for (const d of daemons) {
      d.exited.then((code) => {
        if (!settled) reject(new LabError(`${d.name} exited (status ${code}) while starting; see ${d.logFile}`));
      });
    }
  });
  try {
    return await Promise.race([work, died]);
  } finally {
    settled = true;
    work.catch(() => {}); // lost the race: its outcome no longer matters
  }
}

class LabInstance implements Lab {
  readonly id: string;
  readonly mode: LabMode;
  readonly ns: LabNamespaces;
  readonly addr: LabPlan["addr"];
  readonly box: LabPlan["box"];
  readonly #plan: LabPlan;
  readonly #processes = new Map<string, LabProcess>();
  readonly #nflogGroups = new Set<number>();
  #destroyed: Promise<void> | undefined;

  readonly runDir: string;

  constructor(plan: LabPlan, runDir: string) {
    this.#plan = plan;
    this.runDir = runDir;
    this.id = plan.id;
    this.mode = plan.mode;
    this.ns = plan.ns;
    this.addr = plan.addr;
    this.box = plan.box;
  }

  #nsName(ns: LabNsKey): string {
    const name = this.ns[ns];
    if (name === undefined) throw new LabError(`lab ${this.id}: no ${ns} namespace in ${this.mode} mode`);
    return name;
  }

  exec(ns: LabNsKey, argv: string[], opts: CommandOptions = {}): Promise<CommandResult> {
    return runCommand(nsExec(this.#nsName(ns), argv), opts);
  }

  spawn(ns: LabNsKey, name: string, argv: string[], opts: SpawnOptions = {}): LabProcess {
    if (this.#destroyed !== undefined) throw new LabError(`lab ${this.id} is destroyed`);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new RangeError(`process name ${JSON.stringify(name)}: use [a-z0-9._-]`);
    if (this.#processes.has(name)) throw new LabError(`lab ${this.id}: a process named ${name} exists`);
    const p = startDaemon({
      name,
      argv: nsExec(this.#nsName(ns), argv),
      logFile: join(this.runDir, `${name}.log`),
      pidFile: join(this.runDir, `${name}.pid`),
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    this.#processes.set(name, p);
    return p;
  }

  async startNflogListener(groups: number[], opts: { port?: number } = {}): Promise<NflogListener> {
    if (groups.length === 0 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 65535)) {
      throw new RangeError(`NFLOG groups must be integers 0-65535: ${groups}`);
    }
    const taken = groups.filter((g) => this.#nflogGroups.has(g));
    if (taken.length > 0) throw new LabError(`lab ${this.id}: NFLOG group(s) ${taken} already have a listener`);
    groups.forEach((g) => this.#nflogGroups.add(g));
    const port = opts.port ?? 10210;
    const tag = `nflog-${groups.join("-")}`;
    const file = join(this.runDir, `${tag}.jsonl`);
    await writeFile(file, "");
    const sink = this.spawn("box", `${tag}-sink`, ["python3", "-u", UDP_SINK, "127.0.0.1", String(port), file]);
    await untilExit(
      [sink],
      waitFor(`${tag} UDP sink on 127.0.0.1:${port}`, async () => (await readFile(sink.logFile, "utf8")).includes("listening on")),
    );
    const conf = join(this.runDir, `${tag}.ulogd.conf`);
    await writeFile(conf, buildUlogdConf({
      pluginDir: await findUlogdPluginDir(),
      groups,
      port,
      logFile: join(this.runDir, `${tag}.ulogd-internal.log`),
      device: this.ns.box,
    }));
    // -p: ulogd locks its pid file ("another ulogd already running"), so one per run.
    const ulogd = this.spawn("box", `${tag}-ulogd`, ["ulogd", "-c", conf, "-p", join(this.runDir, `${tag}.ulogd.own.pid`)]);
    // /proc/net/netfilter/nfnetlink_log is per namespace: read the box's.
    await untilExit(
      [sink, ulogd],
      waitFor(`ulogd bound to NFLOG group(s) ${groups}`, async () => {
        const r = await this.exec("box", ["cat", "/proc/net/netfilter/nfnetlink_log"]);
        const bound = parseNflogGroups(r.stdout);
        return groups.every((g) => bound.includes(g));
      }),
    );
    return {
      groups,
      port,
      file,
      lines: async () => {
        const text = await readFile(file, "utf8");
        // A line still being written has no newline yet: leave it for the next read.
        return text.split("\n").slice(0, -1).filter((l) => l !== "");
      },
    };
  }

  async sealLeaks(): Promise<number> {
    const r = await runChecked(nsExec(this.#nsName(this.#plan.sealNs), ["nft", "-j", "list", "counter", "inet", "seal", "leak"]));
    return parseNftCounterPackets(r.stdout, "leak");
  }

  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      // Our own children first (their exit is awaited, so nothing is left a zombie);
      // then whatever else runs in the namespaces, as for a lab of a killed process.
      await Promise.all([...this.#processes.values()].map((p) => p.kill()));
      await destroyLab(this.id);
    })();
    return this.#destroyed;
  }
}

/**
 * Takes down lab `id`, whoever built it: stops every process in its namespaces, deletes
 * them, their /etc/netns dirs and the run directory. Safe on partial or missing labs.
 */
export async function destroyLab(id: string): Promise<void> {
  if (!LAB_ID_PATTERN.test(id)) throw new RangeError(`lab id ${JSON.stringify(id)} must match ${LAB_ID_PATTERN}`);
  // Exactly the names a lab can have, never a prefix match: another tool's namespace
  // may well start with "<id>-".
  const names = allNamespaceNames(id);
  const existing = (await listNetns()).filter((n) => names.includes(n));
  await stopNetnsProcesses(names);
  // A namespace someone else removed meanwhile fails here harmlessly; the check below counts.
  await Promise.all(existing.map((n) => runCommand(["ip", "netns", "delete", n])));
  await Promise.all(names.map((n) => rm(join(NETNS_ETC, n), { recursive: true, force: true })));
  await removeIfEmpty(NETNS_ETC);
  await rm(join(LAB_RUN_ROOT, id), { recursive: true, force: true });
  await removeIfEmpty(LAB_RUN_ROOT);
  const left = (await listNetns()).filter((n) => names.includes(n));
  if (left.length > 0) throw new LabError(`lab ${id}: namespaces left after take-down: ${left.join(" ")}`);
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTEMPTY") && !isErrno(err, "EEXIST")) throw err;
  }
}

export interface LabSummary {
  id: string;
  runDir: string;
  /** Null for a run directory without lab.json (another tool's, or one being created). */
  record: LabRecord | null;
  /** Whether the owner still runs; null when unknown (no record). */
  ownerAlive: boolean | null;
  /** Namespaces of the lab that exist now. */
  namespaces: string[];
  /** Processes running in them. */
  processes: number;
}

function parseRecord(text: string): LabRecord | null {
  try {
    const r = JSON.parse(text) as Partial<LabRecord>;
    const o = r.owner;
    if (typeof r.id !== "string" || (r.mode !== "bridge" && r.mode !== "router") || typeof r.ns !== "object") return null;
    if (typeof o !== "object" || typeof o.pid !== "number" || typeof o.startTime !== "string") return null;
    return r as LabRecord;
  } catch {
    return null;
  }
}

/** Every lab with a run directory under /run/sekisho-lab, with its owner's state. */
export async function listLabs(): Promise<LabSummary[]> {
  let ids: string[];
  try {
    ids = (await readdir(LAB_RUN_ROOT, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && LAB_ID_PATTERN.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  const netns = await listNetns();
  return Promise.all(ids.map(async (id) => {
    const runDir = join(LAB_RUN_ROOT, id);
    const record = await readFile(join(runDir, "lab.json"), "utf8").then(parseRecord, () => null);
    const namespaces = netns.filter((n) => allNamespaceNames(id).includes(n));
    return {
      id,
      runDir,
      record,
      ownerAlive: record === null ? null : await isAlive(record.owner.pid, record.owner.startTime),
      namespaces,
      processes: (await findNetnsPids(namespaces)).length,
    };
  }));
}

/**
 * Removes every lab whose owner process is dead (leftovers of killed runs) and returns
 * their ids. Labs without lab.json are left alone: they are not ours or still being built.
 */
export async function sweepStaleLabs(): Promise<string[]> {
  const stale = (await listLabs()).filter((l) => l.ownerAlive === false).map((l) => l.id);
  for (const id of stale) await destroyLab(id);
  return stale;
}

/** Whether lab `id` has a run directory. */
export function labExists(id: string): boolean {
  return LAB_ID_PATTERN.test(id) && existsSync(join(LAB_RUN_ROOT, id));
}
