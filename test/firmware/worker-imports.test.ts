// The workers' module graphs stay free of Node compatibility modules and of npm packages:
// each worker is an isolate of its own that loads, compiles and runs again every module it
// imports, and one `node:` import brings Deno's shared Node compatibility code in (about 6 MB
// a worker; firmware/dns/README.md "Memory"). The graph is Deno's own (`deno info --json`):
// static code imports only; type-only imports are erased and dynamic import() runs only on the
// path that needs it (Node's fallbacks).
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../..");
const DENO = join(REPO, "node_modules", ".bin", "deno");

type Dep = { specifier: string; code?: { specifier: string }; isDynamic?: boolean };
type Info = { roots: string[]; modules: { specifier: string; dependencies?: Dep[] }[] };

/** Every module the entry loads when it starts, and those of them that are not repository files (with who imports them). */
async function loadedModules(entry: string): Promise<{ files: number; external: string[] }> {
  const { stdout } = await run(DENO, ["info", "--json", "--config", join(REPO, "deno.json"), join(REPO, entry)], { maxBuffer: 64 << 20, timeout: 60_000 });
  const info = JSON.parse(stdout) as Info;
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (specifier: string, from: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    if (!specifier.startsWith("file:")) {
      external.add(`${specifier} (from ${from.replace(`file://${REPO}/`, "")})`);
      return;
    }
    for (const d of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) visit(d.code.specifier, specifier);
    }
  };
  visit(info.roots[0]!, entry);
  return { files: [...seen].filter((s) => s.startsWith("file:")).length, external: [...external].sort() };
}

describe("what the workers load", () => {
  it("the log receiver's worker: no node: module, no npm package", async () => {
    const g = await loadedModules("firmware/logs/receiver-thread.ts");
    expect(g.files).toBeGreaterThan(5);
    expect(g.external).toEqual([]);
  }, 60_000);

  it("the DNS filter's worker: node:net for TCP only, no npm package", async () => {
    const g = await loadedModules("firmware/dns/server-thread.ts");
    expect(g.files).toBeGreaterThan(10);
    expect(g.external.map((e) => e.split(" ")[0])).toEqual(["node:net"]);
  }, 60_000);
});
