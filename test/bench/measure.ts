// Measuring and reporting: interleaved ours/peer runs, medians, the result file.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";

export const RESULTS_DIR = join(import.meta.dirname ?? ".", "results");

/** What every results/<name>.json holds (the first seven fields are the contract). */
export type BenchResult = {
  name: string;
  ours: number;
  peer: number;
  ratio: number;
  unit: string;
  runs: number;
  date: string;
  /** "ratio <= 1.2" and the like; `pass` says whether this run met it. */
  goal: string;
  pass: boolean;
  /** What "ratio" means for this bench (ours/peer or peer/ours). */
  ratioIs: string;
  notes: string[];
  details: Record<string, unknown>;
  machine: Record<string, unknown>;
};

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The median of per-round ratios a[i]/b[i]: pairing cancels noise that drifts between rounds. */
export function pairedRatio(a: readonly number[], b: readonly number[], digits = 3): number {
  return Number(median(a.map((x, i) => x / b[i]!)).toFixed(digits));
}

/** Median, min and max, rounded to `digits` decimals. */
export function summarise(xs: readonly number[], digits = 4): { median: number; min: number; max: number; all: number[] } {
  const r = (x: number) => Number(x.toFixed(digits));
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), all: xs.map(r) };
}

/**
 * Runs the sides in turn (ours, peer[, diagnostics…] ours, peer, …, after `warmup` untimed
 * rounds), so machine noise hits all of them alike. Each side returns its figure for one run.
 */
export async function interleave<K extends string>(
  runs: number,
  warmup: number,
  sides: Record<K, (i: number) => Promise<number>>,
  log: (line: string) => void,
): Promise<Record<K, number[]>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < warmup + runs; i++) {
    const figures: string[] = [];
    for (const n of names) {
      const x = await sides[n](i);
      figures.push(`${n} ${x.toFixed(4)}`);
      if (i >= warmup) out[n].push(x);
    }
    log(`  ${i < warmup ? "warm-up" : `run ${i - warmup + 1}/${runs}`}: ${figures.join("  ")}`);
  }
  return out;
}

/** Seconds since `t0` (a performance.now() value). */
export const secondsSince = (t0: number) => (performance.now() - t0) / 1000;

let machineCache: Record<string, unknown> | undefined;
/** The machine the figures come from: compare figures only within one run on one machine. */
export function machineInfo(): Record<string, unknown> {
  if (machineCache) return machineCache;
  const first = (argv: string[]) => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8" }).split("\n")[0]?.trim() ?? "";
    } catch {
      return "unknown";
    }
  };
  const c = cpus();
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  machineCache = {
    cpus: c.length,
    cpuModel: c[0]?.model ?? "unknown",
    kernel: release(),
    nft: first(["nft", "--version"]),
    iperf3: first(["iperf3", "--version"]),
    runtime: deno ? `deno ${deno.version.deno}` : `node ${process.version}`,
  };
  return machineCache;
}

/** Writes results/<name>.json and returns its path. */
export function writeResult(r: BenchResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${r.name}.json`);
  writeFileSync(path, JSON.stringify(r, null, 2) + "\n");
  return path;
}
