/**
 * Reading a /proc file on both runtimes. Under Deno, node:fs refuses every /proc path unless
 * the process has --allow-all ("Requires all access", measured with Deno 2.9.6), while
 * Deno.readTextFile needs only --allow-read for that file: so Deno reads it natively.
 */
import { readFile } from "node:fs/promises";

type DenoFs = { readTextFile(path: string): Promise<string> };

/** The text of a /proc file; rejects as readFile does (code "ENOENT" when it does not exist). */
export async function readProcFile(path: string): Promise<string> {
  const deno = (globalThis as { Deno?: Partial<DenoFs> }).Deno;
  if (typeof deno?.readTextFile !== "function") return await readFile(path, "utf8");
  try {
    return await deno.readTextFile(path);
  } catch (err) {
    // Deno's NotFound carries code ENOENT as well; make sure callers can rely on it.
    if ((err as { name?: string }).name === "NotFound" && (err as { code?: string }).code === undefined) {
      Object.assign(err as object, { code: "ENOENT" });
    }
    throw err;
  }
}

/** Whether an error from readProcFile means the file does not exist. */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown }).code === "ENOENT" || (err as { name?: unknown }).name === "NotFound";
}
