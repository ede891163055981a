/**
 * Reload without dropping a query: the new filter is compiled in slices between which the
 * event loop answers queries (`runSteps`), and put in force with one reference assignment
 * only when it is complete (`DnsServer.swapFilter`). A compile that fails (a list missing or
 * unreadable, the name budget exceeded) changes nothing: the filter in force stays, and the
 * failure is returned for the operator.
 */
import { compileDnsFilterSteps, type CompileError, type CompileInput, type CompileOptions, type ListReport } from "./filter.ts";
import type { DnsServer } from "./server.ts";

/** Work done between two turns of the event loop (ms). */
const SLICE_MS = 8;

/**
 * Drives a step generator to its end, giving the event loop a turn whenever a slice of
 * `sliceMs` has passed (queries wait at most about that long during a compile).
 */
export async function runSteps<T>(steps: Generator<void, T>, sliceMs = SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - sliceStart >= sliceMs) {
      // The global setImmediate (Node, and Deno 2): importing node:timers would load Deno's
      // Node compatibility code into the filter's worker (README "Memory").
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

export type ReloadOutcome =
  | { ok: true; names: number; bytes: number; ms: number; lists: readonly ListReport[] }
  | { ok: false; error: CompileError; ms: number };

/** Compiles off the hot path and swaps the result in; on failure the filter in force stays. */
export async function reloadDnsFilter(server: DnsServer, input: CompileInput, options: CompileOptions = {}): Promise<ReloadOutcome> {
  const started = performance.now();
  const r = await runSteps(compileDnsFilterSteps(input, options));
  const ms = performance.now() - started;
  if (!r.ok) return { ok: false, error: r.error, ms };
  server.swapFilter(r.filter);
  return { ok: true, names: r.filter.names, bytes: r.filter.bytes, ms, lists: r.filter.lists };
}
