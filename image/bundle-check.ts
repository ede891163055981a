/**
 * The check image/bundle.ts runs on what it built (pure, so it is tested under Node): which
 * modules outside the bundle an entry loads before it runs.
 */
import { dirname, resolve } from "node:path";

/** The static imports of one emitted (minified ESM) file: its chunks and outside specifiers; dynamic `import()` is not one. */
export function staticImports(code: string): string[] {
  const out: string[] = [];
  // Minified ESM: `import{a as b}from"./chunk-X.js"`, `import"./chunk-Y.js"`, `export{…}from"…"`.
  for (const m of code.matchAll(/(?:^|[;\s}])(?:import|export)\s*(?:[\w${},*\s]+?from\s*)?"([^"]+)"/g)) out.push(m[1]!);
  return out;
}

/** Everything outside the bundle that `entryFile` loads before it runs (dynamic imports excluded). */
export function externalClosure(entryFile: string, read: (file: string) => string): Set<string> {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(read(file))) {
      if (spec.startsWith("./") || spec.startsWith("../")) visit(resolve(dirname(file), spec));
      else external.add(spec);
    }
  };
  visit(entryFile);
  return external;
}
