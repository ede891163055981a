// Shared pieces of the two nft benches: the firmware stack in a throwaway namespace, the
// check that the kernel holds exactly what the policy says, and a step-by-step timing of
// what the Enforcer does (so a lost ratio can be explained, not just reported).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildElementDiff, Enforcer, lkgPath, structureHash, writeFileAtomic } from "../../firmware/enforce/enforcer.ts";
import { Nft } from "../../firmware/nftables/driver.ts";
import { toBatch, type Command, type Family } from "../../firmware/nftables/types.ts";
import { buildReplaceBatch, compileRuleset, TABLE, type CompiledRuleset } from "../../firmware/ruleset/compile.ts";
import type { Device } from "../../policies/device.ts";
import type { Policy } from "../../policies/schema.ts";
import { createNetns, createTempDir, runChecked, type Scope } from "./scope.ts";
import { buildBenchDevice } from "./fixture.ts";

export type Stack = {
  ns: string;
  nsExec: string[];
  dataDir: string;
  device: Device;
  nft: Nft;
  /** Replaced by forceReplaceNext: a new Enforcer with a stale last-known-good in memory. */
  enforcer: Enforcer;
};

/** A namespace with the firmware's driver and enforcer pointed at it; all removed with `scope`. */
export async function createStack(scope: Scope, tag: string): Promise<Stack> {
  const ns = await createNetns(scope, tag);
  const dataDir = await createTempDir(scope, tag);
  const device = buildBenchDevice(dataDir);
  const nft = new Nft({ argv: [...ns.exec, "nft"], runDir: device.runDir });
  return { ns: ns.name, nsExec: ns.exec, dataDir, device, nft, enforcer: new Enforcer({ nft, dataDir }) };
}

/**
 * Makes the Enforcer's next apply a full replace, as after a policy whose rules changed:
 * the stack gets a new Enforcer (its constructor only keeps its arguments) whose in-memory
 * last-known-good, read here untimed, records another structure. So the timed apply is that
 * of a long-running Enforcer, without a first read of the file.
 */
export async function forceReplaceNext(stack: Stack): Promise<void> {
  const rec = JSON.parse(await readFile(lkgPath(stack.dataDir), "utf8"));
  rec.structure = "0".repeat(64);
  await writeFile(lkgPath(stack.dataDir), JSON.stringify(rec));
  stack.enforcer = new Enforcer({ nft: stack.nft, dataDir: stack.dataDir });
  const lkg = await stack.enforcer.readLastKnownGood();
  if (lkg?.structure !== rec.structure) throw new Error("forceReplaceNext: the Enforcer did not load the stale last-known-good");
}

/**
 * Every blocklist set in the kernel against the compiled ruleset: hash sets hold exactly the
 * hosts, interval sets exactly the prefixes. Returns the number of elements checked; throws
 * on any difference (a bench that measures a broken apply is worthless).
 */
export async function verifySets(stack: Stack, policy: Policy, compiled: CompiledRuleset): Promise<number> {
  // Every set the enforcer diffs, in its own table (the device block's set is in the bridge
  // table in bridge mode), and the blocklists' interval sets.
  const want = new Map<string, { family: Family; table: string; elements: string[] }>(
    compiled.elementSets.map((s) => [s.name, { family: s.family, table: s.table, elements: s.elements }]));
  for (const list of policy.blocklists) {
    const base = `bl_${list.id.replace(/-/g, "_")}`;
    want.set(`${base}_n4`, { family: "inet", table: TABLE, elements: list.entries.filter((e) => e.includes("/") && !e.includes(":")) });
    want.set(`${base}_n6`, { family: "inet", table: TABLE, elements: list.entries.filter((e) => e.includes("/") && e.includes(":")) });
  }
  let checked = 0;
  for (const [name, { family, table, elements }] of want) {
    const got = await stack.nft.listSetElements(family, table, name);
    const g = new Set(got);
    const missing = elements.filter((e) => !g.has(e));
    if (missing.length > 0 || got.length !== elements.length) {
      throw new Error(`set ${name}: kernel has ${got.length} elements, policy ${elements.length}; missing e.g. ${missing.slice(0, 3).join(" ")}`);
    }
    checked += got.length;
  }
  return checked;
}

/** Runs a JSON batch file through nft itself (no driver): the floor for what the driver does. */
export async function timeNftFile(stack: Stack, file: string, json: boolean): Promise<number> {
  const t0 = performance.now();
  await runChecked([...stack.nsExec, "nft", ...(json ? ["-j"] : []), "-f", file]);
  return performance.now() - t0;
}

/**
 * The Enforcer's steps, one at a time, through the same public functions it uses: where the
 * time of one apply goes. It mirrors `Enforcer.apply` in firmware/enforce/enforcer.ts as of
 * commit acd6fe7 (last-known-good kept in memory, no table check before a diff or replace);
 * if that changes, `sum` stops matching the measured apply, which the notes show side by
 * side. `kind` picks the path; the kernel ends in the state that apply would leave, and the
 * stack's Enforcer is renewed so that its in-memory LKG matches the file again.
 */
export async function timeEnforcerSteps(
  stack: Stack,
  policy: Policy,
  kind: "replace" | "diff",
): Promise<Record<string, number>> {
  const ms: Record<string, number> = {};
  const lap = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    ms[name] = Number((performance.now() - t0).toFixed(1));
    return v;
  };
  const lkg = await stack.enforcer.readLastKnownGood(); // in memory: untimed, as in apply
  const compiled = await lap("compileRuleset", () => compileRuleset(policy, stack.device));
  await lap("structureHash", () => structureHash(compiled));
  let commands: Command[];
  if (kind === "diff") {
    if (!lkg) throw new Error("diff steps need a last-known-good");
    commands = await lap("buildElementDiff", () => buildElementDiff(lkg.elementSets, compiled.elementSets).commands);
  } else {
    await lap("ban re-seed (2 x listSetElements)", async () => {
      for (const name of ["banned_v4", "banned_v6"]) await stack.nft.listSetElements("inet", TABLE, name);
    });
    commands = await lap("buildReplaceBatch", () => buildReplaceBatch(compiled));
  }
  const text = await lap("JSON.stringify batch", () => JSON.stringify(toBatch(commands)));
  const file = join(stack.device.runDir, `bench-steps-${kind}.json`);
  await lap("write batch file", () => writeFile(file, text));
  ms["nft -j -f (process)"] = Number((await timeNftFile(stack, file, true)).toFixed(1));
  await lap("save last-known-good (stringify + fsync)", async () => {
    const rec = {
      format: 1, savedAt: new Date().toISOString(), policy: compiled.policy, structure: structureHash(compiled),
      elementSets: compiled.elementSets, meta: compiled.meta, batch: buildReplaceBatch(compiled),
    };
    await writeFileAtomic(lkgPath(stack.dataDir), JSON.stringify(rec));
  });
  ms["sum"] = Number(Object.values(ms).reduce((a, b) => a + b, 0).toFixed(1));
  stack.enforcer = new Enforcer({ nft: stack.nft, dataDir: stack.dataDir });
  return ms;
}

/** Median of each step over several timeEnforcerSteps passes, largest first, as "name N ms". */
export function describeSteps(passes: readonly Record<string, number>[]): string {
  const names = Object.keys(passes[0] ?? {}).filter((n) => n !== "sum");
  const med = (n: string) => {
    const xs = passes.map((p) => p[n] ?? 0).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)] ?? 0;
  };
  const parts = names.map((n) => [n, med(n)] as const).sort((a, b) => b[1] - a[1]).map(([n, ms]) => `${n} ${ms} ms`);
  return `${parts.join(", ")} (sum ${med("sum")} ms)`;
}
