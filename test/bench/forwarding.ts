// Bench "forwarding": TCP throughput LAN → WAN through the box, in the bridge-mode lab.
//   ours: the firmware's full ruleset (baseline + the 100k blocklist), loaded in the box by
//         the Enforcer: br_netfilter, conntrack, and every packet through the blocklist
//         lookups (they sit before `established`, so they cost per packet, not per flow)
//   peer: the same lab with an empty box ruleset (a plain bridge)
// One iperf3 stream (the 2-core VM is CPU-bound on veth), lan1 → the wan web host, the
// variants taking turns; the box's ruleset is swapped between runs (untimed) and read back
// from the kernel before each run, so a run never measures the wrong ruleset.
//
// Bench "forwarding-why" (run only when named) answers where a gap comes from, with more
// rounds and three more variants between peer and ours: conntrack alone, the baseline
// without blocklist entries, and ours with the blocklist rules moved after `ct state
// established,related accept` (a what-if, not the firmware: the compiler puts the lists
// first so that a list update also cuts connections that are already open).
import { randomBytes } from "node:crypto";
import { Enforcer } from "../../firmware/enforce/enforcer.ts";
import { Nft } from "../../firmware/nftables/driver.ts";
import type { Command } from "../../firmware/nftables/types.ts";
import { buildReplaceBatch, compileRuleset, TABLE, type CompiledRuleset } from "../../firmware/ruleset/compile.ts";
import { createLab, destroyLab, type Lab, waitFor } from "../lab/lab.ts";
import { buildBlocklists, countEntries, type Blocklists } from "./blocklist.ts";
import { buildBenchDevice, buildBenchPolicy } from "./fixture.ts";
import { interleave, machineInfo, median, pairedRatio, summarise, type BenchResult } from "./measure.ts";
import { createTempDir, Scope } from "./scope.ts";

const SECONDS = 3;
const PORT = 5201;
const GOAL = 0.95;

type IperfRun = { gbps: number; retransmits: number; senderCpu: number; receiverCpu: number };

/** Parses `iperf3 -J` client output: the receiver's figure (what actually arrived). */
function parseIperf(stdout: string): IperfRun {
  const doc = JSON.parse(stdout) as {
    error?: string;
    end?: {
      sum_received?: { bits_per_second?: number };
      sum_sent?: { retransmits?: number };
      cpu_utilization_percent?: { host_total?: number; remote_total?: number };
    };
  };
  const bps = doc.end?.sum_received?.bits_per_second;
  if (doc.error !== undefined || typeof bps !== "number") throw new Error(`iperf3: ${doc.error ?? "no sum_received in its output"}`);
  return {
    gbps: bps / 1e9,
    retransmits: doc.end?.sum_sent?.retransmits ?? 0,
    senderCpu: doc.end?.cpu_utilization_percent?.host_total ?? NaN,
    receiverCpu: doc.end?.cpu_utilization_percent?.remote_total ?? NaN,
  };
}

const BLOCKLIST = '"@bl_';
const ESTABLISHED = '"established"';
const isForwardRule = (c: Command, needle = "") =>
  "add" in c && "rule" in c.add && c.add.rule.chain === "forward" && JSON.stringify(c.add.rule.expr).includes(needle);

/** The what-if ruleset: the forward chain's blocklist rules moved to just after `established`. */
function moveListsAfterEstablished(compiled: CompiledRuleset): CompiledRuleset {
  const lists = compiled.commands.filter((c) => isForwardRule(c, BLOCKLIST));
  const rest = compiled.commands.filter((c) => !isForwardRule(c, BLOCKLIST));
  const at = rest.findIndex((c) => isForwardRule(c, ESTABLISHED));
  if (lists.length === 0 || at === -1) throw new Error("what-if: no blocklist or established rule in the forward chain");
  return { ...compiled, commands: [...rest.slice(0, at + 1), ...lists, ...rest.slice(at + 1)] };
}

/** A stateful forward chain and nothing else: the cost of conntrack under br_netfilter. */
const CT_ONLY: Command[] = [
  { add: { table: { family: "inet", name: TABLE } } },
  { add: { chain: { family: "inet", table: TABLE, name: "forward", type: "filter", hook: "forward", prio: 0, policy: "accept" } } },
  { add: { rule: { family: "inet", table: TABLE, chain: "forward", expr: [
    { match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, { accept: null },
  ] } } },
];

/** What the box's forward chain looks like: enough to tell every variant apart. */
type Shape = { inet: boolean; forwardRules: number; listRules: number; listsBeforeEstablished: boolean };

function shapeOf(commands: readonly Command[]): Shape {
  const fwd = commands.filter((c) => isForwardRule(c)).map((c) => JSON.stringify((c as { add: { rule: { expr: unknown } } }).add.rule.expr));
  return shape(commands.some((c) => "add" in c && "table" in c.add && c.add.table.family === "inet"), fwd);
}

function shape(inet: boolean, forward: string[]): Shape {
  const list = forward.findIndex((r) => r.includes(BLOCKLIST));
  const est = forward.findIndex((r) => r.includes(ESTABLISHED));
  return { inet, forwardRules: forward.length, listRules: forward.filter((r) => r.includes(BLOCKLIST)).length, listsBeforeEstablished: list !== -1 && list < est };
}

async function readShape(nft: Nft): Promise<Shape> {
  if (!(await nft.tableExists("inet", TABLE))) return shape(false, []);
  const rules = (await nft.listTable("inet", TABLE)).rules.filter((r) => r.chain === "forward");
  return shape(true, rules.map((r) => JSON.stringify(r.expr)));
}

type Variant = {
  name: string;
  /** Puts the variant's ruleset in the box (untimed). */
  load: () => Promise<void>;
  /** The commands it loads, to check the kernel against (empty for the bare bridge). */
  commands: readonly Command[];
  description: string;
};

type LabRun = {
  lab: Lab;
  lists: Blocklists;
  variants: Record<string, Variant>;
  runs: Record<string, number[]>;
  perRun: { variant: string; round: number; run: IperfRun }[];
};

/**
 * Builds the lab, loads the firmware once through the Enforcer (which writes the
 * last-known-good `ours` restores), then runs `names` in turn for `rounds` (+ `warmup`).
 */
async function runInLab(
  scope: Scope,
  names: readonly string[],
  rounds: number,
  warmup: number,
  log: (line: string) => void,
): Promise<LabRun> {
  // Our own id, registered before the lab exists: Ctrl-C during creation still removes it.
  const id = `skb${[...randomBytes(6)].map((b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("")}`;
  let built: Lab | undefined;
  scope.defer(`destroy lab ${id}`, () => (built ? built.destroy() : destroyLab(id)));
  const t0 = performance.now();
  const lab = built = await createLab({ mode: "bridge", id });
  log(`  lab ${id} up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const lists = buildBlocklists(1);
  const dataDir = await createTempDir(scope, "fwd");
  const device = buildBenchDevice(dataDir);
  const nft = new Nft({ argv: ["ip", "netns", "exec", lab.ns.box, "nft"], runDir: device.runDir });
  const enforcer = new Enforcer({ nft, dataDir });
  const compiled = compileRuleset(buildBenchPolicy(lists, 1), device);
  const empty = { hosts: [], prefixes: [] };
  const noLists = compileRuleset(buildBenchPolicy({ "c2-feed": empty, "botnet-feed": empty, "scanner-feed": empty }, 1), device);
  const first = await enforcer.apply(compiled);
  if (!first.ok) throw new Error(`apply in the box: ${first.error}`);

  const replace = (batch: Command[]) => () => nft.apply(batch);
  const all: Record<string, Variant> = {
    ours: {
      name: "ours",
      // The boot path: the last-known-good batch, a full replace of whatever is loaded.
      load: async () => {
        const r = await enforcer.applyLastKnownGood();
        if (!r.ok) throw new Error(`ours: ${r.error}`);
      },
      commands: compiled.commands,
      description: "the firmware: baseline + 100k blocklist, lists checked for every packet",
    },
    peer: {
      name: "peer",
      load: replace([
        { add: { table: { family: "bridge", name: TABLE } } }, { delete: { table: { family: "bridge", name: TABLE } } },
        { add: { table: { family: "inet", name: TABLE } } }, { delete: { table: { family: "inet", name: TABLE } } },
      ]),
      commands: [],
      description: "empty box ruleset: a plain bridge",
    },
    ctOnly: {
      name: "ctOnly",
      load: replace(buildReplaceBatch({ ...compiled, commands: CT_ONLY })),
      commands: CT_ONLY,
      description: "one stateful rule (ct state established,related accept), policy accept: conntrack under br_netfilter",
    },
    baselineNoLists: {
      name: "baselineNoLists",
      load: replace(buildReplaceBatch(noLists)),
      commands: noLists.commands,
      description: "the firmware's ruleset with empty blocklists (every rule, empty sets)",
    },
    listsAfterEstablished: {
      name: "listsAfterEstablished",
      load: replace(buildReplaceBatch(moveListsAfterEstablished(compiled))),
      commands: moveListsAfterEstablished(compiled).commands,
      description: "what-if: ours with the blocklist rules after established (only a flow's first packet is looked up)",
    },
  };
  const variants = Object.fromEntries(names.map((n) => [n, all[n]!]));

  const server = lab.addr.web.v4;
  lab.spawn("wan", "iperf3-server", ["iperf3", "-s", "-B", server, "-p", String(PORT)]);
  await waitFor(`iperf3 server on ${server}:${PORT}`, async () => {
    const r = await lab.exec("wan", ["ss", "-Hltn", `sport = :${PORT}`]);
    return r.stdout.includes(`${server}:${PORT}`);
  }, { timeoutMs: 5000 });
  const lanOut = async () => (await nft.listCounters("inet", TABLE)).get("sys_lan_out")?.packets ?? 0;

  const perRun: LabRun["perRun"] = [];
  const side = (v: Variant) => async (round: number): Promise<number> => {
    await v.load();
    const want = shapeOf(v.commands);
    const got = await readShape(nft);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${v.name}: the box has ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
    const counted = v.commands.some((c) => "add" in c && "counter" in c.add && c.add.counter.name === "sys_lan_out");
    const before = counted ? await lanOut() : 0;
    const r = await lab.exec("lan1", [
      "iperf3", "-c", server, "-p", String(PORT), "-t", String(SECONDS), "-P", "1", "-J", "--connect-timeout", "3000",
    ], { timeoutMs: (SECONDS + 15) * 1000 });
    if (r.code !== 0) throw new Error(`${v.name}: iperf3 client exit ${r.code}: ${(r.stdout || r.stderr).slice(0, 400)}`);
    const run = parseIperf(r.stdout);
    // The ruleset was in the path: iperf3's control and data connections were new LAN flows.
    if (counted && (await lanOut()) - before < 2) throw new Error(`${v.name}: the ruleset did not see iperf3's connections`);
    perRun.push({ variant: v.name, round, run });
    return run.gbps;
  };
  const runs = await interleave(
    rounds,
    warmup,
    Object.fromEntries(Object.values(variants).map((v) => [v.name, side(v)])),
    log,
  );
  const leaks = await lab.sealLeaks();
  if (leaks !== 0) throw new Error(`the lab's seal counted ${leaks} packets leaving the documentation ranges`);
  return { lab, lists, variants, runs, perRun: perRun.filter((p) => p.round >= warmup) };
}

function medianOf(perRun: LabRun["perRun"], variant: string, k: keyof IperfRun): number {
  return summarise(perRun.filter((p) => p.variant === variant).map((p) => p.run[k]), 1).median;
}

function result(name: string, run: LabRun, rounds: number, warmup: number, extraNotes: string[], extra: Record<string, unknown>): BenchResult {
  const o = summarise(run.runs.ours!, 3);
  const p = summarise(run.runs.peer!, 3);
  const ratio = Number((o.median / p.median).toFixed(3));
  const { hosts, prefixes } = countEntries(run.lists);
  return {
    name,
    ours: o.median,
    peer: p.median,
    ratio,
    unit: "Gbit/s",
    runs: rounds,
    date: new Date().toISOString(),
    goal: `ratio (ours/peer) >= ${GOAL}`,
    pass: ratio >= GOAL,
    ratioIs: "ours/peer (higher is better)",
    notes: [
      `iperf3, 1 TCP stream, ${SECONDS} s per run, lan1 ${run.lab.addr.lan1.v4} → wan ${run.lab.addr.web.v4} through the bridged box (and the lab's office router); ${rounds} rounds after ${warmup} warm-up, variants in turn (${Object.keys(run.variants).join(", ")}).`,
      `ours: baseline + ${hosts} hosts + ${prefixes} prefixes; before every run the box's forward chain was read back and matched the variant, and for ours the ruleset counted iperf3's connections. peer: no Sekisho table in the box. Seal leaks: 0.`,
      `Median of per-round ratios ours/peer: ${pairedRatio(run.runs.ours!, run.runs.peer!)}. Run-to-run spread on this VM is about ±10 %, so compare figures within one run only.`,
      `Median retransmits per run: ours ${medianOf(run.perRun, "ours", "retransmits")}, peer ${medianOf(run.perRun, "peer", "retransmits")}; iperf3 sender CPU %: ours ${medianOf(run.perRun, "ours", "senderCpu")}, peer ${medianOf(run.perRun, "peer", "senderCpu")}.`,
      ...extraNotes,
    ],
    details: {
      seconds: SECONDS,
      streams: 1,
      warmupRounds: warmup,
      ours: o,
      peer: p,
      pairedRatio: pairedRatio(run.runs.ours!, run.runs.peer!),
      ...extra,
      perRun: run.perRun,
      labId: run.lab.id,
    },
    machine: machineInfo(),
  };
}

export async function benchForwarding(log: (line: string) => void): Promise<BenchResult> {
  const rounds = 6;
  const warmup = 1;
  const scope = new Scope();
  try {
    const run = await runInLab(scope, ["ours", "peer"], rounds, warmup, log);
    return result("forwarding", run, rounds, warmup, [], {});
  } finally {
    await scope.close();
  }
}

export async function benchForwardingWhy(log: (line: string) => void): Promise<BenchResult> {
  const rounds = 6;
  const warmup = 1;
  const names = ["peer", "ctOnly", "baselineNoLists", "listsAfterEstablished", "ours"];
  const scope = new Scope();
  try {
    const run = await runInLab(scope, names, rounds, warmup, log);
    const peer = run.runs.peer!;
    const variants = Object.fromEntries(names.map((n) => {
      const s = summarise(run.runs[n]!, 3);
      return [n, { description: run.variants[n]!.description, ...s, ratioToPeer: Number((s.median / median(peer)).toFixed(3)), pairedRatioToPeer: pairedRatio(run.runs[n]!, peer) }];
    }));
    const line = names.map((n) => `${n} ${variants[n]!.pairedRatioToPeer}`).join(", ");
    return result("forwarding-why", run, rounds, warmup, [
      `Median per-round ratio to peer, from the bare bridge to the firmware: ${line}.`,
    ], { variants });
  } finally {
    await scope.close();
  }
}
