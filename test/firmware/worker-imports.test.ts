// The workers' module graphs stay free of Node compatibility modules and of zod: each worker
// is an isolate of its own that loads, compiles and runs again every module it imports, and
// one `node:` import brings Deno's shared Node compatibility code in (about 6 MB a worker;
// firmware/dns/README.md "Memory"). Follows static value imports and re-exports; type-only
// imports (erased) and dynamic import() (loaded only when run: Node's fallbacks) are not loads.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../..");

/** The static value imports of one file (`import type` and `export type` left out). */
function staticImports(source: string): string[] {
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?(?:[^;"']*?\s+from\s+)?["']([^"']+)["'];?/gm;
  for (const m of source.matchAll(re)) if (!m[2]) out.push(m[3]!);
  return out;
}

/** Every module a worker entry loads: repository files, and the bare specifiers it reaches. */
function moduleGraph(entry: string): { files: string[]; external: string[] } {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string, from: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec), file);
      else external.add(`${spec} (from ${from.slice(REPO.length + 1)})`);
    }
  };
  visit(join(REPO, entry), entry);
  return { files: [...seen], external: [...external].sort() };
}

describe("what the workers load", () => {
  it("reads static imports and leaves type-only ones out", () => {
    const src = [
      'import { a } from "./a.ts";',
      'import type { B } from "./b.ts";',
      'import {\n  c,\n  type D,\n} from "node:net";',
      'export { e } from "./e.ts";',
      'export type { F } from "./f.ts";',
      'import "./side-effect.ts";',
      'const g = await import("node:dgram");',
    ].join("\n");
    expect(staticImports(src)).toEqual(["./a.ts", "node:net", "./e.ts", "./side-effect.ts"]);
  });

  for (const entry of ["firmware/dns/server-thread.ts", "firmware/logs/receiver-thread.ts"]) {
    it(`${entry}: no node: module, no npm package`, () => {
      const g = moduleGraph(entry);
      expect(g.files.length).toBeGreaterThan(5);
      expect(g.external).toEqual([]);
    });
  }
});
