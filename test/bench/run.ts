// The bench runner (as root):
//   node_modules/.bin/deno run -A --config deno.json test/bench/run.ts [name...]
// No names: apply, set-diff, forwarding, ingest, dns-qps, dns-memory, dns-reload, webui (forwarding-why and ingest-why only when named). Each writes test/bench/results/<name>.json; a summary table is
// printed at the end. Benches are not tests: a missed goal is reported (pass: false), it does
// not fail the run. Only an error (a broken apply, a lab that did not come up) does.
import { loadavg } from "node:os";
import process from "node:process";
import { benchApply } from "./apply.ts";
import { benchDnsMemory } from "./dns-memory.ts";
import { benchDnsQps } from "./dns-qps.ts";
import { benchDnsReload } from "./dns-reload.ts";
import { benchForwarding, benchForwardingWhy } from "./forwarding.ts";
import { benchIngest, benchIngestWhy } from "./ingest.ts";
import { writeResult, type BenchResult } from "./measure.ts";
import { closeScopesOnSignals } from "./scope.ts";
import { benchSetDiff } from "./set-diff.ts";
import { benchWebui } from "./webui.ts";

const BENCHES: Record<string, (log: (line: string) => void) => Promise<BenchResult>> = {
  apply: benchApply,
  "set-diff": benchSetDiff,
  forwarding: benchForwarding,
  ingest: benchIngest,
  "dns-qps": benchDnsQps,
  "dns-memory": benchDnsMemory,
  "dns-reload": benchDnsReload,
  webui: benchWebui,
  // Diagnostics: run only when named (they take longer and explain, they do not judge).
  "forwarding-why": benchForwardingWhy,
  "ingest-why": benchIngestWhy,
};
const DEFAULT = ["apply", "set-diff", "forwarding", "ingest", "dns-qps", "dns-memory", "dns-reload", "webui"];

function table(rows: (BenchResult | { name: string; error: string })[]): string {
  const head = ["bench", "ours", "peer", "ratio", "goal", "pass"];
  const body = rows.map((r) =>
    "error" in r
      ? [r.name, "-", "-", "-", "-", `ERROR: ${r.error}`]
      : [r.name, `${r.ours} ${r.unit}`, `${r.peer} ${r.unit}`, String(r.ratio), r.goal, r.pass ? "yes" : "NO"]
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("the benches need root (network namespaces, nft)");
    return 2;
  }
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown bench(es): ${unknown.join(" ")}; known: ${Object.keys(BENCHES).join(" ")}`);
    return 2;
  }
  closeScopesOnSignals();
  const rows: (BenchResult | { name: string; error: string })[] = [];
  for (const name of names.length > 0 ? names : DEFAULT) {
    console.log(`== ${name}`);
    const t0 = performance.now();
    try {
      const loadBefore = loadavg()[0]!;
      const r = await BENCHES[name]!((line) => console.log(line));
      // Other work on the machine shows up as noise in every figure: keep the load beside them.
      r.machine = { ...r.machine, loadavg1mBefore: Number(loadBefore.toFixed(2)), loadavg1mAfter: Number(loadavg()[0]!.toFixed(2)) };
      const path = writeResult(r);
      for (const n of r.notes) console.log(`  note: ${n}`);
      console.log(`  -> ${path} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      rows.push(r);
    } catch (e) {
      console.error(`  ${name} failed:`, e);
      rows.push({ name, error: (e as Error).message.split("\n")[0] ?? String(e) });
    }
  }
  console.log(`\n${table(rows)}`);
  return rows.some((r) => "error" in r) ? 1 : 0;
}

process.exitCode = await main();
