/**
 * The local overrides as the admin page changes them (`PolicyControl` in webui/deps.ts):
 * change → merge with the provider's policy → apply (the composition root's `apply`
 * compiles and enforces the ruleset and reloads the DNS filter) → only then keep the new
 * overrides and write a history row. One change at a time, in the order asked.
 */
import {
  applyOverrideChange, EMPTY_OVERRIDES, mergeOverrides, OverrideChange, type LocalOverrides, type MergedPolicy,
  type PolicyHistoryEntry,
} from "../../policies/overrides.ts";
import type { DnsCategory, Policy } from "../../policies/schema.ts";
import type { PolicyChangeResult, PolicyControl } from "../../webui/deps.ts";
import type { Database } from "../store/database.ts";
import { diffFromNothing, diffPolicies } from "./diff.ts";
import { PolicyHistory } from "./history.ts";
import type { OverrideStore } from "./override-store.ts";

/** Puts a merged policy into force (ruleset and DNS filter); an expected failure is a value. */
export type ApplyMerged = (merged: MergedPolicy) => Promise<{ ok: true } | { ok: false; error: string }>;

export type PolicyControllerOptions = {
  store: OverrideStore;
  /** The box's database, with the policy migrations applied (`applyPolicyMigrations`). */
  database: Database;
  /** The provider policy in force. */
  policy: () => Policy;
  apply: ApplyMerged;
  /** Wall clock, ms (history times). */
  clock?: () => number;
  /** Operator log: problems that do not undo a change (a history row that could not be written). */
  log?: (line: string) => void;
};

export class PolicyController implements PolicyControl {
  readonly #o: PolicyControllerOptions;
  readonly #history: PolicyHistory;
  #overrides: LocalOverrides = EMPTY_OVERRIDES;
  /** The tail of the queue: every change waits for the one before it. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: PolicyControllerOptions) {
    this.#o = options;
    this.#history = new PolicyHistory({ database: options.database, ...(options.clock ? { clock: options.clock } : {}) });
  }

  /**
   * Reads the kept overrides. On an unreadable or invalid file the controller keeps none and
   * returns the error for the caller to log; it never throws for a bad file.
   */
  async load(): Promise<{ ok: true; found: boolean } | { ok: false; error: string }> {
    return this.#serialised(async () => {
      const r = await this.#o.store.load();
      this.#overrides = r.ok ? r.overrides : EMPTY_OVERRIDES;
      return r.ok ? { ok: true as const, found: r.found } : r;
    });
  }

  current(): Policy {
    return this.#o.policy();
  }

  overrides(): LocalOverrides {
    return this.#overrides;
  }

  /** The provider policy in force with the kept overrides merged in: what the box enforces. */
  merged(): MergedPolicy {
    return mergeOverrides(this.#o.policy(), this.#overrides);
  }

  switchableCategories(): readonly DnsCategory[] {
    return this.#o.policy().dns.localSwitchable;
  }

  /**
   * Changes the overrides: applied first, kept (file and memory) and recorded only once the
   * apply succeeded. On any failure the overrides in force stay as they were and the error
   * says why. A change that changes nothing (blocking a device already blocked) applies
   * nothing and records nothing.
   */
  change(change: OverrideChange): Promise<PolicyChangeResult> {
    return this.#serialised(() => this.#change(change));
  }

  /**
   * Applies the provider policy in force with the kept overrides, in turn with the admin
   * page's changes (for the composition root when a new provider policy arrives, so the two
   * never race).
   */
  reapply(): Promise<{ ok: true } | { ok: false; error: string }> {
    return this.#serialised(() => this.#applySafely(this.merged()));
  }

  history(limit: number): Promise<PolicyHistoryEntry[]> {
    return this.#history.list(limit);
  }

  /**
   * Records a provider policy put into force: a history row with the rule ids it added,
   * removed and changed against `before` (every rule added when there was none).
   */
  recordProviderPolicy(before: Policy | undefined, after: Policy): Promise<void> {
    return this.#serialised(() => this.#history.record({
      source: "provider", policy: { id: after.id, serial: after.serial },
      diff: before === undefined ? diffFromNothing(after) : diffPolicies(before, after),
    }));
  }

  async #change(raw: OverrideChange): Promise<PolicyChangeResult> {
    // The type says parsed; parsing again is cheap and keeps a hand-built value from
    // getting past the schema (a MAC with a shell in it, a domain with markup).
    const parsed = OverrideChange.safeParse(raw);
    if (!parsed.success) return { ok: false, error: `not a valid change: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(change)"}: ${i.message}`).join("; ")}` };
    const change = parsed.data;
    const policy = this.#o.policy();
    const before = this.#overrides;
    const next = applyOverrideChange(policy, before, change);
    if (!next.ok) return next;
    if (JSON.stringify(next.overrides) === JSON.stringify(before)) return { ok: true, overrides: before };

    const applied = await this.#applySafely(mergeOverrides(policy, next.overrides));
    if (!applied.ok) return { ok: false, error: `the change was not applied: ${applied.error}` };
    try {
      await this.#o.store.save(next.overrides);
    } catch (e) {
      // In force but not kept: a restart would silently undo it. Put the previous overrides
      // back so what runs is what is kept.
      const back = await this.#applySafely(mergeOverrides(policy, before));
      const tail = back.ok ? "the previous overrides are back in force" : `putting the previous overrides back failed too: ${back.error}`;
      return { ok: false, error: `the change was applied but could not be kept (${(e as Error).message}); ${tail}` };
    }
    this.#overrides = next.overrides;
    try {
      await this.#history.record({ source: "local", policy: { id: policy.id, serial: policy.serial }, change });
    } catch (e) {
      // The change is in force and kept; only its line in the history is missing.
      this.#o.log?.(`policy: history row for a local change not written: ${(e as Error).message}`);
    }
    return { ok: true, overrides: next.overrides };
  }

  async #applySafely(merged: MergedPolicy): Promise<{ ok: true } | { ok: false; error: string }> {
    try {
      return await this.#o.apply(merged);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /** Runs `task` after every task queued before it; a failed task does not stop the queue. */
  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
