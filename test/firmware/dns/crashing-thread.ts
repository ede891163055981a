/**
 * The real DNS filter worker (firmware/dns/server-thread.ts) with one addition for the
 * threaded test: an explain request for `crash.now.test` throws on the worker, as an
 * uncaught error in the filter would. Nothing else differs.
 */
import "../../../firmware/dns/server-thread.ts";

type Scope = { onmessage: ((event: MessageEvent) => void) | null };
const scope = globalThis as unknown as Scope;
const real = scope.onmessage;
scope.onmessage = (event: MessageEvent) => {
  const msg = event.data as { type: string; name?: string };
  if (msg.type === "explain" && msg.name === "crash.now.test") throw new Error("a bug in the filter (test)");
  real?.(event);
};
