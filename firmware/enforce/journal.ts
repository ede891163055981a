/**
 * The last-known-good's journal: list deltas applied since the LKG file was last written.
 * Rewriting a 5 MB LKG for every 1 % feed update would cost more than the update itself, so
 * a delta appends one line (its element commands) and fsyncs; the boot path folds the lines
 * into the LKG before applying it. A full save starts a new LKG (new id) and removes the
 * journal; lines written for another LKG id (a crash between the two) are ignored, and so
 * is a torn last line.
 */
import { open, readFile, rm } from "node:fs/promises";
import type { Command, NamedSet, SetElement } from "../nftables/types.ts";
import type { ElementSet } from "../ruleset/compile.ts";

export type JournalLine = { base: string; policy: { id: string; serial: number }; commands: Command[] };

export function journalPath(lkgFile: string): string {
  return `${lkgFile}.journal`;
}

/** Appends one line and makes it durable before returning. */
export async function appendJournal(path: string, line: JournalLine): Promise<void> {
  // One handle for the write and the fsync: it sits on the path of every feed update.
  const fh = await open(path, "a", 0o600);
  try {
    await fh.appendFile(`${JSON.stringify(line)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The lines that belong to LKG `base`, in order; unreadable (torn) lines are skipped. */
export async function readJournal(path: string, base: string): Promise<JournalLine[]> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw e;
  });
  const out: JournalLine[] = [];
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    try {
      const line = JSON.parse(raw) as JournalLine;
      if (line.base === base && Array.isArray(line.commands)) out.push(line);
    } catch {
      // a line torn by a crash mid-append: it was never acknowledged
    }
  }
  return out;
}

export async function removeJournal(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Folds element add/delete commands into the element sets and into the batch's set
 * definitions (pure: returns new values), so the folded batch alone recreates the state.
 */
export function foldJournal(
  elementSets: readonly ElementSet[], batch: readonly Command[], lines: readonly JournalLine[],
): { elementSets: ElementSet[]; batch: Command[] } {
  const sets = new Map(elementSets.map((s) => [s.name, new Set(s.elements)]));
  for (const line of lines) {
    for (const c of line.commands) {
      const [op, obj] = Object.entries(c)[0] as [string, { element?: { name: string; elem: SetElement[] } }];
      const el = obj.element;
      const set = el ? sets.get(el.name) : undefined;
      if (!el || !set) continue;
      for (const e of el.elem) {
        if (typeof e !== "string") continue;
        if (op === "add") set.add(e);
        else if (op === "delete") set.delete(e);
      }
    }
  }
  const folded = elementSets.map((s) => ({ ...s, elements: [...sets.get(s.name)!] }));
  const byName = new Map(folded.map((s) => [s.name, s]));
  const newBatch = batch.map((c): Command => {
    const set = "add" in c && "set" in c.add ? (c.add as { set: NamedSet }).set : undefined;
    const f = set ? byName.get(set.name) : undefined;
    if (!set || !f) return c;
    const { elem: _old, ...rest } = set;
    return { add: { set: { ...rest, ...(f.elements.length > 0 ? { elem: f.elements } : {}) } } };
  });
  return { elementSets: folded, batch: newBatch };
}
