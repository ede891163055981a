/**
 * Bundles the firmware for the box: `build/main.js` and the two worker entries
 * (`build/dns/server-thread.js`, `build/logs/receiver-thread.js`), minified, with the code
 * they share in chunks and lazily imported modules in chunks of their own.
 *
 *   deno run -A --config deno.json image/bundle.ts        (npm run build)
 *
 * Why: V8 keeps the source text of every module it loaded, per isolate. Deno's TypeScript
 * output is the code with all its comments plus an inline source map that embeds the
 * original file again, and one non-Latin-1 character (a "→" in a comment) makes V8 store the
 * whole text at two bytes a character: main.ts alone was 271 KB of heap. Measured on the
 * firmware's imports (image/README.md, "Bundle"): the main isolate 80 → 70 MB RSS. No
 * source map is written: Deno loads a linked one whole into memory (+20 MB).
 *
 * The bundle is checked before it is kept: every entry exists, and each worker's static
 * imports (its chunks included) reach no `node:` module or package beyond what it is
 * allowed (firmware/dns/README.md, "Memory": every module a worker loads costs it memory).
 */
import { join, relative, resolve } from "node:path";
import { externalClosure } from "./bundle-check.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const OUT = join(ROOT, "build");

/** Entry points, under firmware/, without extension (app-root.ts workerEntryUrl uses the same names). */
const ENTRIES = ["main", "dns/server-thread", "logs/receiver-thread"] as const;

/** Packages left out of the bundle: libsql loads its native library at run time. */
const EXTERNAL = ["libsql", "@libsql/client"];

/** What each worker's static import closure may reach outside the bundle. */
const WORKER_ALLOWED: Record<string, readonly string[]> = {
  "dns/server-thread": ["node:net"],
  "logs/receiver-thread": [],
};

class BundleError extends Error {
  override name = "BundleError";
}

async function bundle(): Promise<void> {
  await Deno.remove(OUT, { recursive: true }).catch((e: unknown) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const args = [
    "bundle", "--quiet", "--config", join(ROOT, "deno.json"), "--platform", "deno", "--minify", "--code-splitting",
    "--outdir", OUT, ...EXTERNAL.map((e) => `--external=${e}`), ...ENTRIES.map((e) => join(ROOT, "firmware", `${e}.ts`)),
  ];
  const r = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) throw new BundleError(`deno bundle failed (exit ${r.code}): ${new TextDecoder().decode(r.stderr).slice(-2000)}`);
  for (const e of ENTRIES) {
    const file = join(OUT, `${e}.js`);
    try {
      Deno.statSync(file);
    } catch {
      throw new BundleError(`deno bundle wrote no ${relative(ROOT, file)}`);
    }
  }
  for (const [entry, allowed] of Object.entries(WORKER_ALLOWED)) {
    const extra = [...externalClosure(join(OUT, `${entry}.js`), (f) => Deno.readTextFileSync(f))].filter((s) => !allowed.includes(s));
    if (extra.length > 0) {
      throw new BundleError(`the ${entry} worker would load ${extra.join(", ")} (allowed: ${allowed.join(", ") || "nothing"}); see firmware/dns/README.md, "Memory"`);
    }
  }
  let bytes = 0;
  for await (const f of Deno.readDir(OUT)) if (f.isFile) bytes += Deno.statSync(join(OUT, f.name)).size;
  console.log(`bundled ${ENTRIES.join(", ")} into ${relative(ROOT, OUT)}/ (${Math.round(bytes / 1024)} KiB at the top level)`);
}

if (import.meta.main) {
  try {
    await bundle();
  } catch (e) {
    console.error(`image/bundle.ts: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
