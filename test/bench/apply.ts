// Bench "apply": a full ruleset replace of the baseline policy with the 100k blocklist.
//   ours: policy object → compileRuleset → Enforcer.apply (JSON batch → nft -j -f, LKG saved)
//   peer: `nft -f` of the SAME ruleset as nft text (what `nft list ruleset` printed after
//         ours, behind add/delete table lines so it is a replace too)
// Both start from the same state (the table already loaded) and run in one namespace.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compileRuleset, buildReplaceBatch } from "../../firmware/ruleset/compile.ts";
import { toBatch } from "../../firmware/nftables/types.ts";
import type { Device } from "../../policies/device.ts";
import { splitAddressList } from "../../policies/net.ts";
import type { Policy } from "../../policies/schema.ts";
import { buildBlocklists, countEntries } from "./blocklist.ts";
import { buildBenchPolicy } from "./fixture.ts";
import { interleave, machineInfo, pairedRatio, secondsSince, summarise, type BenchResult } from "./measure.ts";
import { createStack, describeSteps, forceReplaceNext, timeEnforcerSteps, timeNftFile, verifySets } from "./nft-steps.ts";
import { runChecked, Scope } from "./scope.ts";

const RUNS = 7;
const WARMUP = 1;
const GOAL = 1.2;

/**
 * How much of compileRuleset is the blocklists: `splitAddressList` (the function it calls
 * per list: parse, dedupe, collapse, back to canonical text) against the whole compile.
 */
function timeCompileParts(policy: Policy, device: Device): Record<string, number> {
  const lap = (fn: () => void) => {
    const t0 = performance.now();
    fn();
    return Number((performance.now() - t0).toFixed(1));
  };
  return {
    entries: policy.blocklists.reduce((n, l) => n + l.entries.length, 0),
    "splitAddressList (every list)": lap(() => policy.blocklists.forEach((l) => splitAddressList(l.entries))),
    "compileRuleset (all of it)": lap(() => compileRuleset(policy, device)),
  };
}

export async function benchApply(log: (line: string) => void): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const lists = buildBlocklists(1);
    const policy = buildBenchPolicy(lists, 1);
    const stack = await createStack(scope, "apply");
    const listRuleset = () => runChecked([...stack.nsExec, "nft", "list", "ruleset"]);

    // Load ours once: the starting state of every run, and the source of the peer's text.
    const first = await stack.enforcer.apply(compileRuleset(policy, stack.device));
    if (!first.ok || first.kind !== "replace") throw new Error(`first apply: ${JSON.stringify(first)}`);
    const rulesetText = await listRuleset();
    const peerFile = join(stack.dataDir, "peer.nft");
    await writeFile(peerFile, [
      // The text equivalent of buildReplaceBatch: add (no-op if present), delete, then the tables.
      "add table bridge sekisho", "delete table bridge sekisho",
      "add table inet sekisho", "delete table inet sekisho",
      rulesetText,
    ].join("\n"));
    log(`  ruleset: ${rulesetText.length} bytes of nft text, ${countEntries(lists).hosts} hosts + ${countEntries(lists).prefixes} prefixes`);

    const compileMs: number[] = [];
    const enforcerMs: number[] = [];
    const ours = async () => {
      await forceReplaceNext(stack); // untimed: makes the Enforcer take the full-replace path
      const t0 = performance.now();
      const compiled = compileRuleset(policy, stack.device);
      const t1 = performance.now();
      const outcome = await stack.enforcer.apply(compiled);
      const s = secondsSince(t0);
      if (!outcome.ok || outcome.kind !== "replace") throw new Error(`ours: ${JSON.stringify(outcome)}`);
      compileMs.push(t1 - t0);
      enforcerMs.push(performance.now() - t1);
      return s;
    };
    const peer = async () => {
      const t0 = performance.now();
      await runChecked([...stack.nsExec, "nft", "-f", peerFile]);
      return secondsSince(t0);
    };
    const runs = await interleave(RUNS, WARMUP, { ours, peer }, log);

    // Both sides must have produced the same kernel state, or the comparison means nothing.
    await ours();
    const afterOurs = await listRuleset();
    await peer();
    const afterPeer = await listRuleset();
    if (afterOurs !== afterPeer) throw new Error("ours and peer left different rulesets: the comparison is void");
    const compiled = compileRuleset(policy, stack.device);
    const verified = await verifySets(stack, policy, compiled);

    // Where ours spends its time (separate, non-interleaved passes; informational).
    const jsonFile = join(stack.dataDir, "ours.json");
    await writeFile(jsonFile, JSON.stringify(toBatch(buildReplaceBatch(compiled))));
    const rawJson: number[] = [];
    for (let i = 0; i < 3; i++) rawJson.push((await timeNftFile(stack, jsonFile, true)) / 1000);
    const steps = [];
    for (let i = 0; i < 3; i++) {
      await forceReplaceNext(stack);
      steps.push(await timeEnforcerSteps(stack, policy, "replace"));
    }

    const compileParts = [timeCompileParts(policy, stack.device), timeCompileParts(policy, stack.device), timeCompileParts(policy, stack.device)];

    const o = summarise(runs.ours);
    const p = summarise(runs.peer);
    const ratio = Number((o.median / p.median).toFixed(3));
    const compileMed = summarise(compileMs, 1).median;
    const rawJsonMed = summarise(rawJson).median;
    const notes = [
      `ours = compileRuleset + Enforcer.apply full replace (median ${o.median} s: compile ${compileMed} ms, Enforcer ${summarise(enforcerMs, 1).median} ms); peer = nft -f of the same ruleset as text (${p.median} s). Median of per-round ratios: ${pairedRatio(runs.ours, runs.peer)}.`,
      `nft alone on our JSON batch (nft -j -f, no compile, no Enforcer) takes ${rawJsonMed} s, ${(rawJsonMed / p.median).toFixed(2)}x the text peer: the rest of ours is our own code.`,
      `Where one full replace of ours goes, step by step (medians of 3 passes, details.steps): ${describeSteps(steps)}. Of compileRuleset, over ${compileParts[0]!.entries} entries (details.compileParts): ${Object.entries(compileParts[1]!).filter(([k]) => k !== "entries").map(([k, v]) => `${k} ${v} ms`).join(", ")}.`,
      `Both sides leave byte-identical \`nft list ruleset\` output; ${verified} set elements verified against the policy.`,
    ];
    return {
      name: "apply",
      ours: o.median,
      peer: p.median,
      ratio,
      unit: "s",
      runs: RUNS,
      date: new Date().toISOString(),
      goal: `ratio (ours/peer) <= ${GOAL}`,
      pass: ratio <= GOAL,
      ratioIs: "ours/peer (lower is better)",
      notes,
      details: {
        blocklist: { ...countEntries(lists), sets: compiled.elementSets.map((s) => `${s.name}:${s.elements.length}`) },
        rulesetTextBytes: rulesetText.length,
        warmupPairs: WARMUP,
        ours: o,
        peer: p,
        pairedRatio: pairedRatio(runs.ours, runs.peer),
        oursCompileMs: summarise(compileMs, 1),
        oursEnforcerMs: summarise(enforcerMs, 1),
        nftJsonRawS: summarise(rawJson),
        steps,
        compileParts,
        sameRuleset: true,
        elementsVerified: verified,
      },
      machine: machineInfo(),
    };
  } finally {
    await scope.close();
  }
}
