/** The shipped baseline policy, changed by `patch` and parsed (tests build their policies from it). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePolicy, type Policy } from "../../policies/schema.ts";

const baselineRaw: unknown = JSON.parse(readFileSync(join(import.meta.dirname ?? ".", "../../policies/baseline.json"), "utf8"));

// deno-lint-ignore no-explicit-any
export function policyOf(patch: (p: any) => void = () => {}): Policy {
  const p = structuredClone(baselineRaw);
  patch(p);
  const r = parsePolicy(p);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}
