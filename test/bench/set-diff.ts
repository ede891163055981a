// Bench "set-diff": a 1 % feed update (1 % of the hosts removed, as many new ones added) on
// the 100k blocklist.
//   ours: the feed update as it arrives from the provider, a delta per list (hosts in, hosts
//         out) → Enforcer.applyListDeltas: element add/delete commands and one journal line,
//         no compile of the whole policy and no rewrite of the last-known-good
//   peer: the same new policy through the Enforcer's full-replace path (the whole table
//         re-applied in one transaction), as a firmware without element diffs would do
// Each pair starts from the same state (the old policy loaded, its LKG on disk) and uses its
// own random change. After every timed run the kernel's sets are checked against the policy.
import { compileRuleset } from "../../firmware/ruleset/compile.ts";
import type { Policy } from "../../policies/schema.ts";
import type { ListDelta } from "../../firmware/enforce/enforcer.ts";
import { buildBlocklists, changeHosts, countEntries, LIST_IDS, type Blocklists } from "./blocklist.ts";
import { buildBenchPolicy } from "./fixture.ts";
import { interleave, machineInfo, pairedRatio, secondsSince, summarise, type BenchResult } from "./measure.ts";
import { createStack, describeSteps, forceReplaceNext, timeEnforcerSteps, verifySets } from "./nft-steps.ts";
import { Scope } from "./scope.ts";

const RUNS = 7;
const WARMUP = 1;
const GOAL = 10;
const FRACTION = 0.01;

export async function benchSetDiff(log: (line: string) => void): Promise<BenchResult> {
  const scope = new Scope();
  try {
    const base = buildBlocklists(1);
    const basePolicy = buildBenchPolicy(base, 1);
    const stack = await createStack(scope, "setdiff");
    const baseCompiled = compileRuleset(basePolicy, stack.device);
    const first = await stack.enforcer.apply(baseCompiled);
    if (!first.ok || first.kind !== "replace") throw new Error(`first apply: ${JSON.stringify(first)}`);

    // One change per pair, parsed beforehand: the timed input is a policy object.
    const changes: { policy: Policy; deltas: ListDelta[]; removed: number; added: number }[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const c = changeHosts(base, FRACTION, 100 + i);
      changes.push({ policy: buildBenchPolicy(c.lists, 2 + i), deltas: deltasOf(base, c.lists), removed: c.removed, added: c.added });
    }

    /** Back to the old policy (untimed): an element diff back, checked by the next run's verify. */
    const reset = async () => {
      const r = await stack.enforcer.apply(baseCompiled);
      if (!r.ok || r.kind === "replace") throw new Error(`reset: ${JSON.stringify(r)}`);
    };
    const verifyMs: number[] = [];
    const verify = async (policy: Policy) => {
      const t0 = performance.now();
      await verifySets(stack, policy, compileRuleset(policy, stack.device));
      verifyMs.push(performance.now() - t0);
    };

    const diffCounts: { added: number; deleted: number }[] = [];
    const ours = async (i: number) => {
      const { policy, deltas } = changes[i]!;
      const t0 = performance.now();
      const outcome = await stack.enforcer.applyListDeltas(deltas, { id: policy.id, serial: policy.serial });
      const s = secondsSince(t0);
      if (!outcome.ok || outcome.kind !== "diff") throw new Error(`ours: expected an element diff, got ${JSON.stringify(outcome)}`);
      diffCounts.push({ added: outcome.added, deleted: outcome.deleted });
      await verify(policy);
      await reset();
      return s;
    };
    const peer = async (i: number) => {
      const { policy } = changes[i]!;
      await forceReplaceNext(stack); // untimed: the Enforcer takes the full-replace path
      const t0 = performance.now();
      const outcome = await stack.enforcer.apply(compileRuleset(policy, stack.device));
      const s = secondsSince(t0);
      if (!outcome.ok || outcome.kind !== "replace") throw new Error(`peer: expected a replace, got ${JSON.stringify(outcome)}`);
      await verify(policy);
      await reset();
      return s;
    };
    const runs = await interleave(RUNS, WARMUP, { ours, peer }, log);

    // Where ours spends its time, step by step (informational, not interleaved).
    const steps: Record<string, number>[] = [];
    for (let i = 0; i < 3; i++) {
      steps.push(await timeEnforcerSteps(stack, changes[i]!.policy, "diff"));
      await verify(changes[i]!.policy);
      await reset();
    }
    const replaceSteps: Record<string, number>[] = [];
    for (let i = 0; i < 2; i++) {
      await forceReplaceNext(stack);
      replaceSteps.push(await timeEnforcerSteps(stack, changes[i]!.policy, "replace"));
      await reset();
    }

    const o = summarise(runs.ours);
    const p = summarise(runs.peer);
    const ratio = Number((p.median / o.median).toFixed(2));
    const nftDiff = summarise(steps.map((s) => s["nft -j -f (process)"]!), 1).median;
    const nftReplace = summarise(replaceSteps.map((s) => s["nft -j -f (process)"]!), 1).median;
    const notes = [
      `${changes[0]!.removed} hosts out + ${changes[0]!.added} in per run (${FRACTION * 100} % of ${countEntries(base).hosts}); ours applied the per-list deltas as element commands every run (${JSON.stringify(diffCounts[0])}), peer a full replace of the same new policy.`,
      `ours ${o.median} s vs full replace ${p.median} s: ${ratio}x (median of per-round ratios ${pairedRatio(runs.peer, runs.ours, 2)}x). nft itself: diff ${nftDiff} ms vs replace ${nftReplace} ms (${(nftReplace / nftDiff).toFixed(1)}x).`,
      `For reference, the same update as a whole new policy (compile + Enforcer.apply's element diff, details.steps): ${describeSteps(steps)}; nft's own share is ${nftDiff} ms.`,
      `After every timed run all 12 blocklist sets were listed and matched the policy exactly (median check ${summarise(verifyMs, 0).median} ms, untimed).`,
    ];
    return {
      name: "set-diff",
      ours: o.median,
      peer: p.median,
      ratio,
      unit: "s",
      runs: RUNS,
      date: new Date().toISOString(),
      goal: `ratio (peer/ours, speed-up) >= ${GOAL}`,
      pass: ratio >= GOAL,
      ratioIs: "peer/ours (speed-up of the element diff; higher is better)",
      notes,
      details: {
        blocklist: countEntries(base),
        change: { fraction: FRACTION, removed: changes[0]!.removed, added: changes[0]!.added },
        warmupPairs: WARMUP,
        ours: o,
        peer: p,
        pairedRatio: pairedRatio(runs.peer, runs.ours, 2),
        diffCounts,
        steps,
        replaceSteps,
        verified: "every timed run (ours and peer): every set the enforcer diffs (the blocked-devices set too) and the blocklists' interval sets listed with listSetElements and compared to the policy",
      },
      machine: machineInfo(),
    };
  } finally {
    await scope.close();
  }
}


/** The update as a provider sends it: per list, the hosts that came and went. */
function deltasOf(before: Blocklists, after: Blocklists): ListDelta[] {
  return LIST_IDS.map((list) => {
    const was = new Set(before[list].hosts);
    const now = new Set(after[list].hosts);
    return { list, add: [...now].filter((h) => !was.has(h)), remove: [...was].filter((h) => !now.has(h)) };
  });
}
