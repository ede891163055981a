/**
 * The enforcer puts a compiled ruleset into the kernel and keeps the last-known-good (LKG).
 *
 * - A ruleset whose structure changed replaces both Sekisho tables in one nft transaction
 *   (add-delete-add, the firewall4 way): the kernel applies all of it or none of it, so a
 *   failed apply leaves the running ruleset exactly as it was.
 * - When only single-address blocklist elements changed, it sends element diffs (add /
 *   delete) instead: the table and its dynamic state (bans, meters) stay.
 * - After every successful apply the full replace batch is written to the data directory
 *   (atomically); the boot path applies it before anything else, so the box never boots open.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Nft } from "../nftables/driver.ts";
import type { Conntrack } from "./conntrack.ts";
import { appendJournal, foldJournal, journalPath, readJournal, removeJournal } from "./journal.ts";
import { NftCommandError, NftError } from "../nftables/errors.ts";
import type { Command, NamedSet, SetElement } from "../nftables/types.ts";
import { containsPrefix, parseIpv4, parsePrefix, splitAddressList, type Prefix } from "../../policies/net.ts";
import { buildReplaceBatch, objectName, TABLE, type CompiledRuleset, type ElementSet } from "../ruleset/compile.ts";
import type { RuleMetaMap } from "../ruleset/meta.ts";

export type LkgRecord = {
  format: 1;
  /** Changes with every full save: journal lines name the LKG they apply to. */
  id: string;
  savedAt: string;
  policy: { id: string; serial: number };
  /** Hash of the ruleset without the element-diffable set contents. */
  structure: string;
  elementSets: ElementSet[];
  meta: RuleMetaMap;
  /** The full replace batch: what the boot path applies. */
  batch: Command[];
};

/** Hosts added to and removed from one policy blocklist (by its id). */
export type ListDelta = { list: string; add: readonly string[]; remove: readonly string[] };

export type ApplyOutcome =
  | {
    ok: true; kind: "replace" | "diff" | "unchanged"; added: number; deleted: number; ms: number; policy: { id: string; serial: number };
    /** Addresses whose live flows were cut (conntrack), or why that failed: the ruleset is in force either way. */
    cut?: number; cutError?: string;
  }
  | { ok: false; error: string; nftMessage?: string; failedCommand?: unknown };

/** The file layout of the enforcer's state in the data directory. */
export function lkgPath(dataDir: string): string {
  return join(dataDir, "ruleset", "last-known-good.json");
}

/** Hash of everything but the elements of the diffable sets: equal hashes mean a diff suffices. */
export function structureHash(compiled: CompiledRuleset): string {
  const diffable = new Set(compiled.elementSets.map((s) => s.name));
  const json = JSON.stringify(compiled.commands, (key, value: unknown) => {
    if (key === "set" && value && typeof value === "object" && "elem" in value && diffable.has((value as NamedSet).name)) {
      const { elem: _elem, ...rest } = value as NamedSet;
      return rest;
    }
    return value;
  });
  return createHash("sha256").update(json).digest("hex");
}

/** Element add/delete commands that turn `before` into `after` (sets matched by name). */
export function buildElementDiff(before: readonly ElementSet[], after: readonly ElementSet[]): { commands: Command[]; added: number; deleted: number } {
  const commands: Command[] = [];
  let added = 0;
  let deleted = 0;
  const old = new Map(before.map((s) => [s.name, s]));
  for (const s of after) {
    const prev = new Set(old.get(s.name)?.elements ?? []);
    const next = new Set(s.elements);
    const del: SetElement[] = [...prev].filter((e) => !next.has(e));
    const add: SetElement[] = s.elements.filter((e) => !prev.has(e));
    const target = { family: s.family, table: s.table, name: s.name };
    if (del.length > 0) commands.push({ delete: { element: { ...target, elem: del } } });
    if (add.length > 0) commands.push({ add: { element: { ...target, elem: add } } });
    added += add.length;
    deleted += del.length;
  }
  return { commands, added, deleted };
}

function failure(prefix: string, e: unknown): ApplyOutcome {
  if (e instanceof NftCommandError) {
    return {
      ok: false,
      error: `${prefix}: ${e.message}`,
      nftMessage: e.stderr,
      ...(e.failedCommand ? { failedCommand: e.failedCommand.command } : {}),
    };
  }
  if (e instanceof NftError) return { ok: false, error: `${prefix}: ${e.message}` };
  throw e; // not an nft failure: a bug or an I/O error the caller must see as such
}

export type EnforcerOptions = {
  nft: Nft;
  dataDir: string;
  now?: () => Date;
  /** Cuts live flows of newly listed addresses; without it, open flows run until they end. */
  conntrack?: Conntrack;
};

export class Enforcer {
  readonly #nft: Nft;
  readonly #dataDir: string;
  readonly #now: () => Date;
  readonly #conntrack: Conntrack | undefined;
  /** The LKG as last read or written: the enforcer is its only writer, so a 5 MB file is parsed once. */
  #lkg: LkgRecord | undefined;
  /**
   * For list deltas: the members of each diffable set and the prefix test of each list, for
   * the LKG with this id (rebuilt after a full apply). Deltas change the members in place
   * and leave the LKG's element arrays stale (`#stale`) until someone reads them.
   */
  #deltaState: DeltaState | undefined;
  #stale = false;

  constructor(opts: EnforcerOptions) {
    this.#nft = opts.nft;
    this.#dataDir = opts.dataDir;
    this.#now = opts.now ?? (() => new Date());
    this.#conntrack = opts.conntrack;
  }

  /** The LKG on disk, or undefined when there is none (first boot). A corrupt file is an error. */
  async readLastKnownGood(): Promise<LkgRecord | undefined> {
    const lkg = this.#lkg ?? (await this.#readLastKnownGoodFile());
    if (lkg && this.#stale && this.#deltaState?.id === lkg.id) {
      const members = this.#deltaState.members;
      this.#lkg = { ...lkg, elementSets: lkg.elementSets.map((s) => ({ ...s, elements: [...(members.get(s.name) ?? s.elements)] })) };
      this.#stale = false;
      return this.#lkg;
    }
    return lkg;
  }

  /** The LKG as it is on disk now (the boot path trusts nothing in memory). */
  async #readLastKnownGoodFile(): Promise<LkgRecord | undefined> {
    let text: string;
    try {
      text = await readFile(lkgPath(this.#dataDir), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    const stored = JSON.parse(text) as Omit<LkgRecord, "elementSets"> & { elementSetNames?: string[]; elementSets?: ElementSet[] };
    if (stored.format !== 1 || !Array.isArray(stored.batch)) throw new Error(`${lkgPath(this.#dataDir)}: not a last-known-good record`);
    let rec: LkgRecord = { ...stored, elementSets: stored.elementSets ?? elementSetsFromBatch(stored.batch, stored.elementSetNames ?? []) };
    // List deltas applied since this LKG was written (applyListDeltas) are folded in.
    const lines = await readJournal(journalPath(lkgPath(this.#dataDir)), rec.id);
    if (lines.length > 0) {
      const folded = foldJournal(rec.elementSets, rec.batch, lines);
      rec = { ...rec, ...folded, policy: lines[lines.length - 1]!.policy };
    }
    this.#lkg = rec;
    return rec;
  }

  /**
   * Applies a compiled ruleset: element diff when only diffable elements changed and the
   * table is there, else a full atomic replace. On failure the kernel is unchanged and the
   * LKG is kept.
   */
  async apply(compiled: CompiledRuleset): Promise<ApplyOutcome> {
    const t0 = performance.now();
    const structure = structureHash(compiled);
    const lkg = await this.readLastKnownGood().catch(() => undefined);
    const done = async (kind: "replace" | "diff" | "unchanged", added: number, deleted: number): Promise<ApplyOutcome> => {
      const out: ApplyOutcome = { ok: true, kind, added, deleted, ms: Math.round(performance.now() - t0), policy: compiled.policy };
      if (this.#conntrack && (kind === "replace" || added > 0)) {
        try {
          out.cut = await this.#conntrack.cut(compiled.blocked);
        } catch (e) {
          out.cutError = (e as Error).message;
        }
      }
      return out;
    };

    // Same structure: element diffs. If the table is not there (or its sets drifted), nft
    // refuses the diff and we fall through to a full replace.
    if (lkg && lkg.structure === structure) {
      const diff = buildElementDiff(lkg.elementSets, compiled.elementSets);
      try {
        if (diff.commands.length > 0) {
          // The new LKG is written to a staged file while nft works (another process, the
          // other core), and only takes the LKG's place once nft has applied the batch.
          const staged = this.#stage(compiled, structure);
          try {
            await this.#nft.apply(diff.commands);
          } catch (e) {
            await staged.abort();
            throw e;
          }
          await staged.commit();
          return await done("diff", diff.added, diff.deleted);
        }
        // Nothing to change, as long as the table is really there.
        if (await this.#nft.tableExists("inet", TABLE)) {
          await this.#save(compiled, structure);
          return await done("unchanged", 0, 0);
        }
      } catch (e) {
        if (!(e instanceof NftError)) throw e;
        // The kernel's sets drifted from the LKG (someone edited them): fall through to a
        // full replace, which makes them exact again.
      }
    }
    const reseed = await this.#banReseed();
    // The batch is serialised once: the same text goes to nft and into the LKG file.
    const batch = buildReplaceBatch(compiled);
    const batchJson = JSON.stringify(batch);
    const staged = this.#stage(compiled, structure, batch, batchJson);
    try {
      const withReseed = reseed.length === 0 ? batchJson : `${batchJson.slice(0, -1)},${JSON.stringify(reseed).slice(1)}`;
      await this.#nft.applySerialized([...batch, ...reseed], withReseed);
    } catch (e) {
      await staged.abort();
      return failure("the ruleset was not applied (the running ruleset is unchanged)", e);
    }
    await staged.commit();
    return await done("replace", compiled.elementSets.reduce((n, s) => n + s.elements.length, 0), 0);
  }

  /**
   * A feed update as a delta (hosts added to / removed from policy blocklists): element
   * commands straight into the kernel's hash sets and one journal line, without compiling the
   * whole policy or rewriting the LKG — what makes a 1 % change of a 100k list cheap. Prefixes
   * live in interval sets rebuilt with the table: a delta that adds or removes one, or names a
   * list the ruleset does not have, needs a full apply instead (`needsFullApply`).
   */
  async applyListDeltas(
    deltas: readonly ListDelta[], policy: { id: string; serial: number },
  ): Promise<ApplyOutcome | { ok: false; error: string; needsFullApply: true }> {
    const t0 = performance.now();
    const lkg = this.#lkg ?? (await this.readLastKnownGood().catch(() => undefined));
    const full = (error: string) => ({ ok: false as const, error, needsFullApply: true as const });
    if (!lkg) return full("no ruleset applied yet");
    if (this.#deltaState?.id !== lkg.id) this.#deltaState = newDeltaState(lkg);
    const state = this.#deltaState;
    // Plan everything first; touch the members only once nft has taken the commands.
    const commands: Command[] = [];
    const plan: { set: Set<string>; gone: string[]; fresh: string[] }[] = [];
    const blocked: { dst: string[]; src: string[] } = { dst: [], src: [] };
    let added = 0;
    let deleted = 0;
    for (const d of deltas) {
      const add = splitAddressList(d.add);
      const remove = splitAddressList(d.remove);
      if (add.nets4.length + add.nets6.length + remove.nets4.length + remove.nets6.length > 0) return full(`list ${d.list}: prefixes change with a full apply`);
      const base = `bl_${objectName(d.list)}`;
      let covered = state.covered.get(base);
      if (!covered) state.covered.set(base, covered = coveredBy(lkg.batch, base));
      for (const [v, adds, removes] of [[4, add.hosts4, remove.hosts4], [6, add.hosts6, remove.hosts6]] as const) {
        const name = `${base}_v${v}`;
        const current = state.members.get(name);
        const set = lkg.elementSets.find((s) => s.name === name);
        if (!current || !set) return full(`list ${d.list} is not in the ruleset in force`);
        const gone = removes.filter((e) => current.has(e));
        const goneSet = new Set(gone);
        // A host inside a listed prefix is already blocked by the interval set.
        const fresh = adds.filter((e) => !current.has(e) && !goneSet.has(e) && !covered(e));
        const target = { family: set.family, table: set.table, name };
        if (gone.length > 0) commands.push({ delete: { element: { ...target, elem: gone } } });
        if (fresh.length > 0) commands.push({ add: { element: { ...target, elem: fresh } } });
        plan.push({ set: current, gone, fresh });
        added += fresh.length;
        deleted += gone.length;
        blocked.dst.push(...fresh);
        blocked.src.push(...fresh);
      }
    }
    if (commands.length > 0) {
      try {
        await this.#nft.apply(commands);
      } catch (e) {
        return failure("the list delta was not applied (the running ruleset is unchanged)", e);
      }
      for (const p of plan) {
        for (const e of p.gone) p.set.delete(e);
        for (const e of p.fresh) p.set.add(e);
      }
      this.#stale = true;
      await appendJournal(journalPath(lkgPath(this.#dataDir)), { base: lkg.id, policy, commands });
    }
    this.#lkg = { ...(this.#lkg ?? lkg), policy };
    const out: ApplyOutcome = { ok: true, kind: commands.length > 0 ? "diff" : "unchanged", added, deleted, ms: Math.round(performance.now() - t0), policy };
    if (this.#conntrack && added > 0) {
      try {
        out.cut = await this.#conntrack.cut(blocked);
      } catch (e) {
        out.cutError = (e as Error).message;
      }
    }
    return out;
  }

  /** Boot path: applies the LKG batch as it was saved. */
  async applyLastKnownGood(): Promise<ApplyOutcome | { ok: false; error: string; missing: true }> {
    const t0 = performance.now();
    let lkg: LkgRecord | undefined;
    try {
      lkg = await this.#readLastKnownGoodFile();
    } catch (e) {
      return { ok: false, error: `last-known-good unreadable: ${(e as Error).message}` };
    }
    if (!lkg) return { ok: false, error: "no last-known-good ruleset yet", missing: true };
    try {
      await this.#nft.apply(lkg.batch);
    } catch (e) {
      return failure("the last-known-good ruleset was not applied", e);
    }
    return { ok: true, kind: "replace", added: 0, deleted: 0, ms: Math.round(performance.now() - t0), policy: lkg.policy };
  }

  /** Bans survive a table replace: re-add what the current ban sets hold. */
  async #banReseed(): Promise<Command[]> {
    const out: Command[] = [];
    const listed = await Promise.all(["banned_v4", "banned_v6"].map(async (name) => {
      try {
        return { name, elem: await this.#nft.listSetElements("inet", TABLE, name) };
      } catch (e) {
        // No table (first apply, after a reboot) or no such set in the old ruleset: nothing to carry.
        if (!(e instanceof NftError)) throw e;
        return { name, elem: [] };
      }
    }));
    for (const { name, elem } of listed) {
      if (elem.length > 0) out.push({ add: { element: { family: "inet", table: TABLE, name, elem } } });
    }
    return out;
  }

  /** Starts writing the LKG of `compiled` to a staged file; commit() makes it the LKG, abort() drops it. */
  #stage(compiled: CompiledRuleset, structure: string, batch?: Command[], batchJson?: string): { commit(): Promise<void>; abort(): Promise<void> } {
    const rec = this.#record(compiled, structure, batch);
    const path = lkgPath(this.#dataDir);
    const written = stageFile(path, serialiseLkg(rec, batchJson));
    // A failed write surfaces in commit(); until then it must not be an unhandled rejection.
    written.catch(() => undefined);
    return {
      commit: async () => {
        await commitStagedFile(await written, path);
        this.#lkg = rec;
        this.#stale = false;
        this.#warmDeltaState(rec);
        await removeJournal(journalPath(path));
      },
      abort: async () => {
        const tmp = await written.catch(() => undefined);
        if (tmp) await rm(tmp, { force: true });
      },
    };
  }

  /**
   * The sets of members a feed delta diffs against (100k strings, and each blocklist's
   * prefix cover) are built when a ruleset is put in force, as part of that apply: full
   * applies are rare (a policy change), feed deltas frequent, and a delta then pays only for
   * its own elements.
   */
  #warmDeltaState(rec: LkgRecord): void {
    if (this.#deltaState?.id !== rec.id) this.#deltaState = newDeltaState(rec);
  }

  #record(compiled: CompiledRuleset, structure: string, batch?: Command[]): LkgRecord {
    return {
      format: 1,
      id: crypto.randomUUID(),
      savedAt: this.#now().toISOString(),
      policy: compiled.policy,
      structure,
      elementSets: compiled.elementSets,
      meta: compiled.meta,
      batch: batch ?? buildReplaceBatch(compiled),
    };
  }

  async #save(compiled: CompiledRuleset, structure: string): Promise<void> {
    const rec = this.#record(compiled, structure);
    await writeFileAtomic(lkgPath(this.#dataDir), serialiseLkg(rec));
    this.#lkg = rec;
    this.#stale = false;
    this.#warmDeltaState(rec);
    await removeJournal(journalPath(lkgPath(this.#dataDir)));
  }

}

/** Write, fsync, rename: a crash leaves either the old file or the new one, never half. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  await commitStagedFile(await stageFile(path, data), path);
}


/** Writes and fsyncs `data` to a temporary file beside `path`; returns its name. */
async function stageFile(path: string, data: string): Promise<string> {
  await mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  return tmp;
}

/** Puts a staged file in `path`'s place (rename is atomic). */
async function commitStagedFile(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Whether a host is inside one of a list's prefixes (its interval sets in the batch in
 * force). IPv4 ranges are searched by bisection: a delta's thousand hosts against a
 * thousand prefixes must stay cheap.
 */
type DeltaState = { id: string; members: Map<string, Set<string>>; covered: Map<string, (h: string) => boolean> };

/** What a feed delta diffs against: each diffable set's members, and each blocklist's prefix cover. */
function newDeltaState(lkg: LkgRecord): DeltaState {
  const covered = new Map<string, (h: string) => boolean>();
  for (const s of lkg.elementSets) {
    const base = /^(bl_.+)_v[46]$/.exec(s.name)?.[1];
    if (base !== undefined && !covered.has(base)) covered.set(base, coveredBy(lkg.batch, base));
  }
  return { id: lkg.id, members: new Map(lkg.elementSets.map((s) => [s.name, new Set(s.elements)])), covered };
}

function coveredBy(batch: readonly Command[], base: string): (host: string) => boolean {
  const v4: [number, number][] = [];
  const v6: Prefix[] = [];
  for (const c of batch) {
    const set = "add" in c && "set" in c.add ? (c.add as { set: NamedSet }).set : undefined;
    if (!set || (set.name !== `${base}_n4` && set.name !== `${base}_n6`)) continue;
    for (const e of set.elem ?? []) {
      if (typeof e !== "object" || !("prefix" in e)) continue;
      const r = parsePrefix(`${e.prefix.addr}/${e.prefix.len}`);
      if (!r.ok) continue;
      if (r.value.family === 4) {
        const start = Number(r.value.bits);
        v4.push([start, start + 2 ** (32 - r.value.len) - 1]);
      } else v6.push(r.value);
    }
  }
  v4.sort((a, b) => a[0] - b[0]);
  return (host) => {
    const a = parseIpv4(host);
    if (a !== undefined) {
      let lo = 0;
      let hi = v4.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const [start, end] = v4[mid]!;
        if (a < start) hi = mid - 1;
        else if (a > end) lo = mid + 1;
        else return true;
      }
      return false;
    }
    if (v6.length === 0) return false;
    const r = parsePrefix(host);
    return r.ok && v6.some((n) => containsPrefix(n, r.value));
  };
}

/**
 * The LKG as a file: the diffable sets' elements are already in the batch's set definitions,
 * so only their names are written (half the bytes to serialise and fsync). `batchJson`, when
 * given, is JSON.stringify(rec.batch) made once for nft too.
 */
function serialiseLkg(rec: LkgRecord, batchJson?: string): string {
  const { elementSets, batch, ...rest } = rec;
  const head = JSON.stringify({ ...rest, elementSetNames: elementSets.map((s) => s.name) });
  return `${head.slice(0, -1)},"batch":${batchJson ?? JSON.stringify(batch)}}`;
}

/** The diffable sets as the batch defines them (elements in canonical text, as compiled). */
function elementSetsFromBatch(batch: readonly Command[], names: readonly string[]): ElementSet[] {
  const wanted = new Set(names);
  const out: ElementSet[] = [];
  for (const c of batch) {
    const set = "add" in c && "set" in c.add ? (c.add as { set: NamedSet }).set : undefined;
    if (!set || !wanted.has(set.name) || typeof set.type !== "string") continue;
    out.push({
      family: set.family, table: set.table, name: set.name, type: set.type as ElementSet["type"],
      elements: (set.elem ?? []).filter((e): e is string => typeof e === "string"),
    });
  }
  return out;
}
