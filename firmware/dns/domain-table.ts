/**
 * The compact set of names behind the DNS filter: an open-addressing table (linear probing)
 * of 48-bit name fingerprints, each with a 16-bit index into a small palette of "what rules
 * name this domain". Millions of names share a few hundred distinct palette entries (which
 * lists, allow or block, exact or subdomain), so the per-name cost is one 8-byte slot:
 *
 *   slots[2i]     fingerprint high 32 bits (0 = empty slot)
 *   slots[2i + 1] fingerprint low 16 bits << 16 | palette index
 *
 * The home slot comes from the high bits of the stored high word (multiply-shift range
 * reduction, so the capacity need not be a power of two and the load factor stays where it
 * is set, and the table can rehash itself from what it stores). Two different names are
 * confused only if all 48 stored bits agree: at 1 M names the chance that any such pair
 * exists is about 0.2 %, and the consequence is that the two names share their rules. That
 * is the price of 8 bytes a name.
 *
 * Built once, never mutated: a reload builds a new table and swaps the reference.
 */

/** A rule reference: which source named the domain, allow or block, and the scope. */
export type RuleRef = number;

export const SCOPE_EXACT = 0;
export const SCOPE_SUBDOMAIN = 1;
/** "*.name": everything below the name, not the name itself. */
export const SCOPE_BELOW = 2;
export type Scope = typeof SCOPE_EXACT | typeof SCOPE_SUBDOMAIN | typeof SCOPE_BELOW;

export const KIND_BLOCK = 0;
export const KIND_ALLOW = 1;
export type Kind = typeof KIND_BLOCK | typeof KIND_ALLOW;

/** Sources are small integers (list index, policy, local, built-ins); up to 127. */
export const MAX_SOURCES = 128;

export function ruleRef(source: number, kind: Kind, scope: Scope): RuleRef {
  return (source << 3) | (kind << 2) | scope;
}
export function refSource(r: RuleRef): number {
  return r >>> 3;
}
export function refKind(r: RuleRef): Kind {
  return ((r >>> 2) & 1) as Kind;
}
export function refScope(r: RuleRef): Scope {
  return (r & 3) as Scope;
}

const MAX_PALETTE = 0x10000;
/** Slots per name: 1 / 0.65. Linear probing stays near 1.9 probes per miss at this load. */
const LOAD = 0.65;

export type DomainTable = {
  readonly slots: Uint32Array;
  readonly capacity: number;
  /** Distinct names (after merging duplicates). */
  readonly size: number;
  /** Palette entries: the sorted, distinct rule refs that name a domain. */
  readonly palette: readonly Uint16Array[];
};

/** Bytes the table holds (slots and palette), for the memory budget. */
export function tableBytes(t: DomainTable): number {
  let p = 0;
  for (const e of t.palette) p += e.byteLength + 16;
  return t.slots.byteLength + p;
}

/** The home slot: the high bits of the fingerprint's high word, scaled to the capacity. */
function home(hi: number, capacity: number): number {
  return ((hi >>> 0) * capacity / 4294967296) | 0;
}

/**
 * Palette index of the fingerprint (hi, lo), or -1. Pure, allocation-free; at most one
 * probe run, which ends at the first empty slot.
 */
export function findFingerprint(t: DomainTable, hi: number, lo: number): number {
  const slots = t.slots;
  const cap = t.capacity;
  const check = (lo & 0xffff) << 16;
  let i = home(hi, cap);
  for (;;) {
    const h = slots[2 * i] ?? 0;
    if (h === 0) return -1;
    if (h === hi) {
      const w = slots[2 * i + 1] ?? 0;
      if ((w & 0xffff0000) === check) return w & 0xffff;
    }
    if (++i === cap) i = 0;
  }
}

export type TableBuildError = { kind: "too-many-names"; max: number } | { kind: "too-many-rule-combinations"; max: number };

/** Fingerprints inserted together, at most (fewer for small tables). */
const MAX_BATCH = 65_536;
/** A batch is ordered by this many top bits of the fingerprint before it goes in. */
const ORDER_BITS = 12;

/** Above this load the builder grows the table (linear probing degrades quickly past it). */
const MAX_LOAD = 0.8;

function capacityFor(names: number): number {
  return Math.max(8, Math.ceil(names / LOAD) + 1);
}

/**
 * Builds the table by inserting straight into it (no staging copy of the fingerprints: the
 * peak of a reload is the old table and the new one). Sized from the caller's estimate,
 * grown by rehashing when the estimate was low (the home slot depends only on the stored
 * bits, so the table can rehash itself), and shrunk at the end when it was far too high.
 * Mutable while building; the result is never mutated.
 */
export class DomainTableBuilder {
  private slots: Uint32Array;
  private capacity: number;
  private size = 0;
  private readonly palette: Uint16Array[] = [];
  private readonly paletteIndex = new Map<string, number>();
  private readonly merged = new Map<number, number>();
  private readonly batch: number;
  private readonly batchHi: Uint32Array;
  private readonly batchLo: Uint32Array;
  private readonly batchRef: Uint16Array;
  private readonly order: Uint32Array;
  private readonly buckets = new Uint32Array((1 << ORDER_BITS) + 1);
  private pending = 0;
  private lastRef = -1;
  private lastIdx = -1;
  /** Why the last `add` returned false. */
  error: TableBuildError | undefined;

  constructor(private readonly maxNames: number, expectedNames = 1024) {
    this.capacity = capacityFor(Math.min(Math.max(expectedNames, 16), maxNames));
    this.slots = new Uint32Array(this.capacity * 2);
    this.batch = Math.min(MAX_BATCH, Math.max(1024, expectedNames));
    this.batchHi = new Uint32Array(this.batch);
    this.batchLo = new Uint32Array(this.batch);
    this.batchRef = new Uint16Array(this.batch);
    this.order = new Uint32Array(this.batch);
  }

  /** Distinct names so far (after the pending batch is in). */
  get count(): number {
    this.flush();
    return this.size;
  }

  private entryFor(refs: number[]): number {
    const key = refs.join(",");
    let idx = this.paletteIndex.get(key);
    if (idx === undefined) {
      idx = this.palette.length;
      if (idx >= MAX_PALETTE) return -1;
      this.palette.push(Uint16Array.from(refs));
      this.paletteIndex.set(key, idx);
    }
    return idx;
  }

  /**
   * Adds one (fingerprint, rule). A name already there gets the rule added to its palette
   * entry (the same name in several lists, or twice in one). False when the name budget or
   * the palette is used up (`error` says which); the check may come a batch later, at the
   * latest in `finish`.
   */
  add(hi: number, lo: number, ref: RuleRef): boolean {
    // Inserts go in batches: a tight loop of writes overlaps its cache misses, one insert
    // between two parsed lines does not (about 2x on a million names).
    const n = this.pending;
    this.batchHi[n] = hi;
    this.batchLo[n] = lo;
    this.batchRef[n] = ref;
    this.pending = n + 1;
    if (this.pending === this.batch || this.size + this.pending > this.maxNames) return this.flush();
    return true;
  }

  /** Inserts the batch; false when the name budget or the palette ran out (`error` says which). */
  private flush(): boolean {
    const n = this.pending;
    this.pending = 0;
    // In the order of their home slots (which grow with the fingerprint's top bits: a counting
    // sort on those), so the inserts walk the table one way instead of missing the cache at
    // random: about 15 % of a million-name build. The result does not depend on the order.
    const hi = this.batchHi;
    if (this.size + n > this.maxNames) {
      // The budget runs out in this batch: the names first in the list get in, in list order.
      for (let k = 0; k < n; k++) if (!this.insert(hi[k] ?? 1, this.batchLo[k] ?? 0, this.batchRef[k] ?? 0)) return false;
      return true;
    }
    const buckets = this.buckets;
    const shift = 32 - ORDER_BITS;
    buckets.fill(0);
    for (let k = 0; k < n; k++) buckets[((hi[k] ?? 0) >>> shift) + 1]!++;
    for (let b = 1; b < buckets.length; b++) buckets[b]! += buckets[b - 1]!;
    const order = this.order;
    for (let k = 0; k < n; k++) order[buckets[(hi[k] ?? 0) >>> shift]!++] = k;
    for (let j = 0; j < n; j++) {
      const k = order[j] ?? 0;
      if (!this.insert(hi[k] ?? 1, this.batchLo[k] ?? 0, this.batchRef[k] ?? 0)) return false;
    }
    return true;
  }

  private insert(hi: number, lo: number, ref: RuleRef): boolean {
    const check = (lo & 0xffff) << 16;
    const slots = this.slots;
    const cap = this.capacity;
    let i = home(hi, cap);
    for (;;) {
      const h = slots[2 * i] ?? 0;
      if (h === 0) break;
      const w = slots[2 * i + 1] ?? 0;
      if (h === hi && (w & 0xffff0000) === check) {
        const old = w & 0xffff;
        const mkey = old * 1024 + ref;
        let idx = this.merged.get(mkey);
        if (idx === undefined) {
          const refs = [...(this.palette[old] ?? [])];
          if (!refs.includes(ref)) refs.push(ref);
          refs.sort((a, b) => a - b);
          idx = this.entryFor(refs);
          if (idx < 0) return this.fail({ kind: "too-many-rule-combinations", max: MAX_PALETTE });
          this.merged.set(mkey, idx);
        }
        slots[2 * i + 1] = (check | idx) >>> 0;
        return true;
      }
      if (++i === cap) i = 0;
    }
    if (this.size >= this.maxNames) return this.fail({ kind: "too-many-names", max: this.maxNames });
    // Most names carry exactly one rule, most often the same as the name before.
    let idx = this.lastIdx;
    if (ref !== this.lastRef) {
      idx = this.entryFor([ref]);
      if (idx < 0) return this.fail({ kind: "too-many-rule-combinations", max: MAX_PALETTE });
      this.lastRef = ref;
      this.lastIdx = idx;
    }
    slots[2 * i] = hi;
    slots[2 * i + 1] = (check | idx) >>> 0;
    this.size++;
    if (this.size > this.capacity * MAX_LOAD) this.rehash(capacityFor(this.size * 2));
    return true;
  }

  private fail(e: TableBuildError): false {
    this.error = e;
    return false;
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    const slots = new Uint32Array(capacity * 2);
    for (let k = 0; k < old.length; k += 2) {
      const hi = old[k] ?? 0;
      if (hi === 0) continue;
      let i = home(hi, capacity);
      while ((slots[2 * i] ?? 0) !== 0) if (++i === capacity) i = 0;
      slots[2 * i] = hi;
      slots[2 * i + 1] = old[k + 1] ?? 0;
    }
    this.slots = slots;
    this.capacity = capacity;
  }

  /** The finished table (undefined when the last batch ran out of budget: see `error`); shrunk to the usual load if the estimate left it mostly empty. */
  finish(): DomainTable | undefined {
    if (!this.flush()) return undefined;
    if (this.capacity > 1.25 * capacityFor(this.size)) this.rehash(capacityFor(this.size));
    return { slots: this.slots, capacity: this.capacity, size: this.size, palette: this.palette };
  }
}
