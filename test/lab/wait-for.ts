import { setTimeout as delay } from "node:timers/promises";
import { LabTimeoutError } from "./lab-error.ts";

export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between polls (default 20 ms). */
  intervalMs?: number;
}

/**
 * Polls `cond` until it returns true; throws a LabTimeoutError naming `what` when the
 * deadline passes. A throwing condition counts as false; the last error becomes the cause.
 * This is the lab's only way to wait: never a blind sleep.
 */
export async function waitFor(
  what: string,
  cond: () => Promise<boolean> | boolean,
  opts: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 20;
  const started = performance.now();
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      lastError = err;
    }
    const elapsed = performance.now() - started;
    if (elapsed >= timeoutMs) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new LabTimeoutError(`timed out after ${Math.round(elapsed)} ms waiting for ${what}${why}`, {
        cause: lastError,
      });
    }
    await delay(Math.min(intervalMs, Math.max(1, timeoutMs - elapsed)));
  }
}
