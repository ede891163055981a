/**
 * The DNS filter's decisions, pure: the policy's DNS section, the list texts and the local
 * overrides compile into a `DnsFilter` (one immutable value: swapping filters is one
 * reference assignment), and `matchName` decides a name with one table probe per suffix and
 * no allocation.
 *
 * Precedence, highest first (README, "URL filter"):
 *   1. built-in names: sekisho.home.arpa (the box), resolver.arpa (NODATA), the DoH canaries
 *      use-application-dns.net, mask.icloud.com, mask-h2.icloud.com (NXDOMAIN);
 *   2. the policy's DoH names (NXDOMAIN; not overridable: they are what keeps the filter
 *      from being bypassed);
 *   3. local overrides (the admin page);
 *   4. the provider: the policy's allow/block and its lists.
 * Inside tiers 3 and 4 the most specific rule wins (the deepest matching suffix), and at
 * the same name allow beats block. A list rule counts only when its category is active for
 * the client (the client's group's categories, or the policy's); the policy's and local
 * allow/block always count.
 */
import type { DnsCategory, DnsLocalOverrides, DnsPolicy } from "../../policies/schema.ts";
import { formatIpv6, MAC_RE, parseIpv4, parseIpv6, parsePrefix, type Prefix } from "../../policies/net.ts";
import {
  DomainTableBuilder, findFingerprint, KIND_ALLOW, KIND_BLOCK, refKind, refScope, refSource, ruleRef, SCOPE_BELOW,
  SCOPE_EXACT, SCOPE_SUBDOMAIN, tableBytes, type DomainTable, type Kind, type Scope, type TableBuildError,
} from "./domain-table.ts";
import { hashTextName, hashTextNameDots, hashWireLabel, newHashState, resetHash } from "./name-hash.ts";
import { countLines, listUnusable, parseDomainListChunked, type ListParseReport, type ListText } from "./lists.ts";
import { encodeWireName, normaliseName, presentLabels, type NormalName } from "./names.ts";
import { NameReader, TYPE_A, TYPE_AAAA, type SynthAnswer } from "./codec.ts";

/** Category bit order: the schema's enum order. */
export const CATEGORY_ORDER: readonly DnsCategory[] = [
  "malware", "phishing", "c2", "adult", "gambling", "online-storage", "social", "ads", "tracking", "doh", "piracy", "scam", "other",
];
/** Rules that apply whatever the client's categories (policy and local allow/block). */
const ALWAYS = 0x80000000;

export function categoryMask(cats: readonly DnsCategory[]): number {
  let m = 0;
  for (const c of cats) {
    const i = CATEGORY_ORDER.indexOf(c);
    if (i >= 0) m |= 1 << i;
  }
  return m >>> 0;
}

// Sources 0..63 are the policy's lists, in order.
const SRC_POLICY = 64;
const SRC_LOCAL = 65;
const SRC_DOH = 66;
const SRC_CANARY = 67;
const SRC_RESOLVER_ARPA = 68;
const SRC_BOX_NAME = 69;

/** The name the box answers with its management address. */
export const BOX_NAME = "sekisho.home.arpa";

/** What a name got. Small integers: the hot path passes these, not objects. */
export const VERDICT_PASS = 0;
export const VERDICT_ALLOW = 1;
export const VERDICT_BLOCK = 2;
export const VERDICT_DOH = 3;
export const VERDICT_CANARY = 4;
export const VERDICT_RESOLVER_ARPA = 5;
export const VERDICT_BOX_NAME = 6;
export type Verdict = 0 | 1 | 2 | 3 | 4 | 5 | 6;
export const VERDICT_NAMES = ["pass", "allow", "block", "doh", "canary", "resolver-arpa", "box-name"] as const;

const TIER_SPECIAL = 0;
const TIER_LOCAL = 1;
const TIER_PROVIDER = 2;

/** Where a rule came from, for the log, the CLI and the block page. */
export type RuleSource = {
  /** The list's id, or "policy", "local", "doh", "builtin". */
  id: string;
  kind: "list" | "policy" | "local" | "doh" | "builtin";
  category?: DnsCategory;
};

export type BoxAddresses = {
  /** The box's management address (answers sekisho.home.arpa). */
  management4: string;
  management6?: string | undefined;
  /** Where blocked A / AAAA queries point when the policy says "blockpage". */
  blockPage4: string;
  blockPage6?: string | undefined;
};

export type ListStatus = "ok" | "missing" | "unreadable";
export type ListReport = { id: string; category: DnsCategory; status: ListStatus; parse?: ListParseReport };

type CompiledGroup = { id: string; mask: number; macs: Set<string>; prefixes: Prefix[] };

export type DnsFilter = {
  readonly enabled: boolean;
  readonly table: DomainTable;
  readonly sources: readonly RuleSource[];
  /** Per palette entry, MASK_STRIDE words: see `paletteMasks`. */
  readonly masks: Uint32Array;
  readonly defaultMask: number;
  readonly groups: readonly CompiledGroup[];
  readonly answers: FilterAnswers;
  readonly lists: readonly ListReport[];
  /** Distinct names in the table, and the bytes it holds. */
  readonly names: number;
  readonly bytes: number;
};

type FilterAnswers = {
  blockA: SynthAnswer;
  blockAAAA: SynthAnswer;
  blockOther: SynthAnswer;
  boxA: SynthAnswer;
  boxAAAA: SynthAnswer;
  nodata: SynthAnswer;
  nxdomain: SynthAnswer;
};

export type CompileOptions = {
  /** Most names the filter may hold (memory budget). Default 4 M (about 50 MB). */
  maxNames?: number;
  /**
   * A list without text or with unreadable text fails the compile (the caller keeps the
   * filter it has) unless this is set: then the other lists are used and the report says
   * which were left out. For the first boot, when there is no filter to keep.
   */
  allowPartial?: boolean;
};

export type CompileInput = {
  policy: DnsPolicy;
  /**
   * List id → text, for lists the box downloads (`url`): a string, or the pieces of one
   * (`storedListText` reads a kept list from its file that way). Inline lists carry their entries.
   */
  listTexts: ReadonlyMap<string, ListText>;
  overrides?: DnsLocalOverrides | undefined;
  box: BoxAddresses;
};

export type CompileError =
  | { kind: "lists-unusable"; lists: ListReport[] }
  | { kind: "bad-name"; where: string; name: string; problem: string }
  | { kind: "bad-address"; where: string; value: string }
  | { kind: "table"; error: TableBuildError; lists: ListReport[] };

export type CompileResult = { ok: true; filter: DnsFilter } | { ok: false; error: CompileError };

const MASK_STRIDE = 16;
// Word offsets inside a palette entry's masks.
const M_PROV = 0; // allow exact, sub, below, block exact, sub, below
const M_LOCAL = 6;
const M_SPECIAL = 12; // special action (verdict) for exact, sub, below

function addressBytes(text: string, family: 4 | 6): Uint8Array | undefined {
  if (family === 4) {
    const v = parseIpv4(text);
    if (v === undefined) return undefined;
    return Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  const v = parseIpv6(text);
  if (v === undefined) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number((v >> BigInt(8 * (15 - i))) & 0xffn);
  return out;
}

/** Compiles in one go (the CLI, tests). The service uses `compileDnsFilterSteps` so queries keep flowing. */
export function compileDnsFilter(input: CompileInput, options: CompileOptions = {}): CompileResult {
  const steps = compileDnsFilterSteps(input, options);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The compile as a generator that yields every few tens of milliseconds of work, so the
 * service can run it between queries (`runSteps` in reload.ts). Nothing it builds is
 * visible until it returns the finished filter.
 */
export function* compileDnsFilterSteps(input: CompileInput, options: CompileOptions = {}): Generator<void, CompileResult> {
  // A list found unreadable is left out and the table built again without it (only with
  // allowPartial; otherwise the compile fails and the filter in force stays).
  const skip = new Map<number, ListParseReport>();
  for (;;) {
    const r = yield* compileAttempt(input, options, skip);
    if ("retryWithout" in r) skip.set(r.retryWithout, r.parse);
    else return r;
  }
}

function* compileAttempt(
  input: CompileInput, options: CompileOptions, skip: ReadonlyMap<number, ListParseReport>,
): Generator<void, CompileResult | { retryWithout: number; parse: ListParseReport }> {
  const { policy, box } = input;
  const maxNames = options.maxNames ?? 4_000_000;
  const texts = policy.lists.map((l) => (l.entries ? l.entries.join("\n") : input.listTexts.get(l.id)));
  let expected = 16 + policy.dohNames.length + policy.allow.length + policy.block.length
    + (input.overrides?.allow?.length ?? 0) + (input.overrides?.block?.length ?? 0);
  if (policy.enabled) for (const [i, t] of texts.entries()) if (t !== undefined && !skip.has(i)) expected += countLines(t);
  const builder = new DomainTableBuilder(maxNames, expected);
  const hash = newHashState();
  const sources: RuleSource[] = [];
  const reports: ListReport[] = [];
  const tooMany = (): CompileResult => ({ ok: false, error: { kind: "table", error: builder.error ?? { kind: "too-many-names", max: maxNames }, lists: reports } });

  const addText = (text: string, start: number, end: number, ref: number): boolean => {
    hashTextName(hash, text, start, end);
    return builder.add(hash[2] ?? 1, hash[3] ?? 0, ref);
  };
  /** A policy/override entry: "name" = name and below, "*.name" = below only. */
  const addEntry = (entry: string, source: number, kind: Kind, where: string): CompileResult | undefined => {
    let scope: Scope = SCOPE_SUBDOMAIN;
    let text = entry.trim();
    if (text.startsWith("*.")) {
      scope = SCOPE_BELOW;
      text = text.slice(2);
    }
    const n = normaliseName(text);
    if (!n.ok) return { ok: false, error: { kind: "bad-name", where, name: entry.slice(0, 300), problem: n.problem } };
    return addText(n.name, 0, n.name.length, ruleRef(source, kind, scope)) ? undefined : tooMany();
  };

  // Built-ins first: they are the same for every policy.
  for (let s = 0; s < SRC_POLICY; s++) sources.push({ id: policy.lists[s]?.id ?? "", kind: "list", category: policy.lists[s]?.category ?? "other" });
  sources[SRC_POLICY] = { id: "policy", kind: "policy" };
  sources[SRC_LOCAL] = { id: "local", kind: "local" };
  sources[SRC_DOH] = { id: "doh", kind: "doh", category: "doh" };
  sources[SRC_CANARY] = { id: "builtin", kind: "builtin" };
  sources[SRC_RESOLVER_ARPA] = { id: "builtin", kind: "builtin" };
  sources[SRC_BOX_NAME] = { id: "builtin", kind: "builtin" };
  addText(BOX_NAME, 0, BOX_NAME.length, ruleRef(SRC_BOX_NAME, KIND_BLOCK, SCOPE_SUBDOMAIN));
  addText("resolver.arpa", 0, 13, ruleRef(SRC_RESOLVER_ARPA, KIND_BLOCK, SCOPE_SUBDOMAIN));
  for (const n of ["use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com"]) {
    addText(n, 0, n.length, ruleRef(SRC_CANARY, KIND_BLOCK, SCOPE_SUBDOMAIN));
  }

  if (policy.enabled) {
    const entries: [readonly string[], number, Kind, string][] = [
      [policy.dohNames, SRC_DOH, KIND_BLOCK, "dohNames"],
      [input.overrides?.allow ?? [], SRC_LOCAL, KIND_ALLOW, "overrides.allow"],
      [input.overrides?.block ?? [], SRC_LOCAL, KIND_BLOCK, "overrides.block"],
      [policy.allow, SRC_POLICY, KIND_ALLOW, "allow"],
      [policy.block, SRC_POLICY, KIND_BLOCK, "block"],
    ];
    for (const [names, source, kind, where] of entries) {
      for (const [i, name] of names.entries()) {
        const e = addEntry(name, source, kind, `${where}[${i}]`);
        if (e) return e;
      }
    }
    for (const [i, list] of policy.lists.entries()) {
      const text = texts[i];
      if (text === undefined) {
        reports.push({ id: list.id, category: list.category, status: "missing" });
        continue;
      }
      const skipped = skip.get(i);
      if (skipped) {
        reports.push({ id: list.id, category: list.category, status: "unreadable", parse: skipped });
        continue;
      }
      const parse = yield* parseDomainListChunked(text, list.format, list.match, (t, s, e, dots, nd, kind, scope) => {
        hashTextNameDots(hash, t, s, e, dots, nd);
        return builder.add(hash[2] ?? 1, hash[3] ?? 0, ruleRef(i, kind, scope));
      });
      if (parse.truncated) {
        reports.push({ id: list.id, category: list.category, status: "ok", parse });
        return tooMany();
      }
      // A text that is mostly not a list (an error page saved as the list, a cut download)
      // is not used: better the last good filter than a hole in it.
      if (listUnusable(parse)) {
        reports.push({ id: list.id, category: list.category, status: "unreadable", parse });
        if (!options.allowPartial) return { ok: false, error: { kind: "lists-unusable", lists: reports } };
        return { retryWithout: i, parse };
      }
      reports.push({ id: list.id, category: list.category, status: "ok", parse });
      yield;
    }
    if (!options.allowPartial && reports.some((r) => r.status !== "ok")) return { ok: false, error: { kind: "lists-unusable", lists: reports } };
  }

  const table = builder.finish();
  if (!table) return tooMany();
  const masks = paletteMasks(table, sources);

  const groups: CompiledGroup[] = [];
  for (const g of policy.groups) {
    const macs = new Set<string>();
    const prefixes: Prefix[] = [];
    for (const c of g.clients) {
      if (MAC_RE.test(c)) macs.add(c.toLowerCase().replaceAll("-", ":"));
      else {
        const p = parsePrefix(c);
        if (p.ok) prefixes.push(p.value);
      }
    }
    groups.push({ id: g.id, mask: categoryMask(g.blockCategories), macs, prefixes });
  }

  const a4 = addressBytes(box.blockPage4, 4);
  const m4 = addressBytes(box.management4, 4);
  if (!a4) return { ok: false, error: { kind: "bad-address", where: "blockPage4", value: box.blockPage4 } };
  if (!m4) return { ok: false, error: { kind: "bad-address", where: "management4", value: box.management4 } };
  const a6 = box.blockPage6 === undefined ? new Uint8Array(16) : addressBytes(box.blockPage6, 6);
  if (!a6) return { ok: false, error: { kind: "bad-address", where: "blockPage6", value: String(box.blockPage6) } };
  const m6 = box.management6 === undefined ? undefined : addressBytes(box.management6, 6);
  if (box.management6 !== undefined && !m6) return { ok: false, error: { kind: "bad-address", where: "management6", value: box.management6 } };
  const nodata: SynthAnswer = { kind: "nodata" };
  const nxdomain: SynthAnswer = { kind: "nxdomain" };
  const mode = policy.response;
  const answers: FilterAnswers = {
    blockA: mode === "nxdomain" ? nxdomain : { kind: "address", type: TYPE_A, addresses: [mode === "null" ? new Uint8Array(4) : a4] },
    blockAAAA: mode === "nxdomain" ? nxdomain : { kind: "address", type: TYPE_AAAA, addresses: [mode === "null" ? new Uint8Array(16) : a6] },
    blockOther: mode === "nxdomain" ? nxdomain : nodata,
    boxA: { kind: "address", type: TYPE_A, addresses: [m4] },
    boxAAAA: m6 ? { kind: "address", type: TYPE_AAAA, addresses: [m6] } : nodata,
    nodata,
    nxdomain,
  };

  return {
    ok: true,
    filter: {
      enabled: policy.enabled, table, sources, masks, defaultMask: categoryMask(policy.blockCategories), groups, answers,
      lists: reports, names: table.size, bytes: tableBytes(table) + masks.byteLength,
    },
  };
}

/**
 * Per palette entry, the category masks that make the hot path a few ANDs:
 * [0..5] provider allow exact/sub/below, block exact/sub/below; [6..11] the same for local
 * overrides; [12..14] the special verdict (built-in, DoH) for exact/sub/below.
 */
function paletteMasks(table: DomainTable, sources: readonly RuleSource[]): Uint32Array {
  const masks = new Uint32Array(Math.max(1, table.palette.length) * MASK_STRIDE);
  table.palette.forEach((refs, idx) => {
    const base = idx * MASK_STRIDE;
    for (const ref of refs) {
      const src = refSource(ref);
      const kind = refKind(ref);
      const scope = refScope(ref);
      let special = 0;
      if (src === SRC_DOH) special = VERDICT_DOH;
      else if (src === SRC_CANARY) special = VERDICT_CANARY;
      else if (src === SRC_RESOLVER_ARPA) special = VERDICT_RESOLVER_ARPA;
      else if (src === SRC_BOX_NAME) special = VERDICT_BOX_NAME;
      if (special) {
        const w = base + M_SPECIAL + scope;
        // Built-ins (higher verdict numbers) win over DoH names at the same name.
        masks[w] = Math.max(masks[w] ?? 0, special);
        continue;
      }
      const bit = src === SRC_POLICY || src === SRC_LOCAL ? ALWAYS : 1 << CATEGORY_ORDER.indexOf(sources[src]?.category ?? "other");
      const w = base + (src === SRC_LOCAL ? M_LOCAL : M_PROV) + (kind === KIND_ALLOW ? 0 : 3) + scope;
      masks[w] = ((masks[w] ?? 0) | bit) >>> 0;
    }
  });
  return masks;
}

/**
 * Reusable scratch for `matchName`: the hash state, a name reader, and where the last
 * decision came from (so a caller that needs the reason can ask `explainMatch` afterwards
 * without the hot path building it for every query).
 */
export class MatchScratch {
  readonly hash = newHashState();
  readonly reader = new NameReader();
  /** Label offsets of the name last matched (a query's question or a CNAME target). */
  labels: Int32Array = this.reader.labels;
  count = 0;
  tier = -1;
  kind = 0;
  /** Depth (labels from the right) of the deciding rule's name, and its palette entry. */
  depth = 0;
  palette = -1;
  activeMask = 0;
}

/**
 * Decides the name whose labels start at `labels[0..count)` (offsets into `buf`, leftmost
 * first) for a client whose active categories are `activeMask`. One probe per suffix;
 * allocation-free. The deciding rule is left in `s` for `explainMatch`.
 */
export function matchLabels(f: DnsFilter, buf: Uint8Array, labels: Int32Array, count: number, activeMask: number, s: MatchScratch): Verdict {
  const h = s.hash;
  resetHash(h);
  const masks = f.masks;
  const active = (activeMask | ALWAYS) >>> 0;
  let specialVerdict = 0;
  let specialDepth = 0;
  let specialIdx = -1;
  let localKind = -1;
  let localDepth = 0;
  let localIdx = -1;
  let provKind = -1;
  let provDepth = 0;
  let provIdx = -1;
  for (let d = 1; d <= count; d++) {
    hashWireLabel(h, buf, labels[count - d] ?? 0);
    const idx = findFingerprint(f.table, h[2] ?? 0, h[3] ?? 0);
    if (idx < 0) continue;
    const base = idx * MASK_STRIDE;
    const full = d === count;
    // Which scope words apply at this depth: sub always; exact only for the whole name;
    // below only for a proper suffix.
    const sp = Math.max(masks[base + M_SPECIAL + SCOPE_SUBDOMAIN] ?? 0, masks[base + M_SPECIAL + (full ? SCOPE_EXACT : SCOPE_BELOW)] ?? 0);
    if (sp) {
      specialVerdict = sp;
      specialDepth = d;
      specialIdx = idx;
    }
    const other = full ? SCOPE_EXACT : SCOPE_BELOW;
    if (((masks[base + M_LOCAL + SCOPE_SUBDOMAIN] ?? 0) | (masks[base + M_LOCAL + other] ?? 0)) & active) {
      localKind = KIND_ALLOW;
      localDepth = d;
      localIdx = idx;
    } else if (((masks[base + M_LOCAL + 3 + SCOPE_SUBDOMAIN] ?? 0) | (masks[base + M_LOCAL + 3 + other] ?? 0)) & active) {
      localKind = KIND_BLOCK;
      localDepth = d;
      localIdx = idx;
    }
    if (((masks[base + M_PROV + SCOPE_SUBDOMAIN] ?? 0) | (masks[base + M_PROV + other] ?? 0)) & active) {
      provKind = KIND_ALLOW;
      provDepth = d;
      provIdx = idx;
    } else if (((masks[base + M_PROV + 3 + SCOPE_SUBDOMAIN] ?? 0) | (masks[base + M_PROV + 3 + other] ?? 0)) & active) {
      provKind = KIND_BLOCK;
      provDepth = d;
      provIdx = idx;
    }
  }
  s.labels = labels;
  s.count = count;
  s.activeMask = active;
  if (specialVerdict && (f.enabled || specialVerdict !== VERDICT_DOH)) {
    s.tier = TIER_SPECIAL;
    s.kind = KIND_BLOCK;
    s.depth = specialDepth;
    s.palette = specialIdx;
    return specialVerdict as Verdict;
  }
  if (f.enabled && localKind >= 0) {
    s.tier = TIER_LOCAL;
    s.kind = localKind;
    s.depth = localDepth;
    s.palette = localIdx;
    return localKind === KIND_ALLOW ? VERDICT_ALLOW : VERDICT_BLOCK;
  }
  if (f.enabled && provKind >= 0) {
    s.tier = TIER_PROVIDER;
    s.kind = provKind;
    s.depth = provDepth;
    s.palette = provIdx;
    return provKind === KIND_ALLOW ? VERDICT_ALLOW : VERDICT_BLOCK;
  }
  s.tier = -1;
  s.palette = -1;
  s.depth = 0;
  return VERDICT_PASS;
}

/** Decides the (possibly compressed) name at `off` in `buf`; PASS when it cannot be read. */
export function matchNameAt(f: DnsFilter, buf: Uint8Array, off: number, activeMask: number, s: MatchScratch): Verdict {
  if (!s.reader.read(buf, off)) {
    s.tier = -1;
    s.palette = -1;
    return VERDICT_PASS;
  }
  return matchLabels(f, buf, s.reader.labels, s.reader.count, activeMask, s);
}

/** Why the last `matchLabels` decided what it did. */
export type MatchReason = {
  source: RuleSource;
  /** The rule's name as a list would write it ("ads.example", "*.example") and its scope. */
  rule: string;
  scope: "exact" | "subdomain" | "below";
  action: "allow" | "block" | "special";
};

/**
 * The rule behind the last match in `s` (undefined after a PASS). Picks, among the rules on
 * the deciding name, the first source (in policy order) that is of the deciding kind, in
 * scope at that depth and active for the client.
 */
export function explainMatch(f: DnsFilter, buf: Uint8Array, s: MatchScratch): MatchReason | undefined {
  if (s.palette < 0 || s.tier < 0) return undefined;
  const refs = f.table.palette[s.palette];
  if (!refs) return undefined;
  const full = s.depth === s.count;
  const first = s.count - s.depth;
  const nameText = presentLabels(buf, s.labels.subarray(first, s.count), s.depth);
  for (const ref of refs) {
    const src = refSource(ref);
    const scope = refScope(ref);
    if (scope === SCOPE_EXACT && !full) continue;
    if (scope === SCOPE_BELOW && full) continue;
    const tier = src >= SRC_DOH ? TIER_SPECIAL : src === SRC_LOCAL ? TIER_LOCAL : TIER_PROVIDER;
    if (tier !== s.tier) continue;
    if (tier !== TIER_SPECIAL && refKind(ref) !== s.kind) continue;
    const source = f.sources[src];
    if (!source) continue;
    if (source.kind === "list" && !(s.activeMask & (1 << CATEGORY_ORDER.indexOf(source.category ?? "other")))) continue;
    return {
      source,
      rule: scope === SCOPE_BELOW ? `*.${nameText}` : nameText,
      scope: scope === SCOPE_EXACT ? "exact" : scope === SCOPE_BELOW ? "below" : "subdomain",
      action: tier === TIER_SPECIAL ? "special" : refKind(ref) === KIND_ALLOW ? "allow" : "block",
    };
  }
  return undefined;
}

/** The synthesised answer for a verdict and query type; undefined for PASS/ALLOW (forward). */
export function answerFor(f: DnsFilter, verdict: Verdict, qtype: number): SynthAnswer | undefined {
  const a = f.answers;
  switch (verdict) {
    case VERDICT_BLOCK:
      return qtype === TYPE_A ? a.blockA : qtype === TYPE_AAAA ? a.blockAAAA : a.blockOther;
    case VERDICT_DOH:
    case VERDICT_CANARY:
      return a.nxdomain;
    case VERDICT_RESOLVER_ARPA:
      return a.nodata;
    case VERDICT_BOX_NAME:
      // Only the name itself; anything below it does not exist.
      return qtype === TYPE_A ? a.boxA : qtype === TYPE_AAAA ? a.boxAAAA : a.nodata;
    default:
      return undefined;
  }
}

export type ClientIdentity = { ip: string; mac?: string | undefined };

/**
 * The categories that apply to a client and the group that chose them: the most specific
 * group naming it (MAC, then the longest prefix; ties to the first group), else the
 * policy's. IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function clientCategories(f: DnsFilter, client: ClientIdentity | undefined): { mask: number; group?: string } {
  if (!client || f.groups.length === 0) return { mask: f.defaultMask };
  let best: CompiledGroup | undefined;
  let bestScore = -1;
  const mac = client.mac?.toLowerCase().replaceAll("-", ":");
  let ip = client.ip;
  if (ip.startsWith("::ffff:") && ip.includes(".")) ip = ip.slice(7);
  const v4 = parseIpv4(ip);
  const v6 = v4 === undefined ? parseIpv6(ip) : undefined;
  for (const g of f.groups) {
    let score = -1;
    if (mac && g.macs.has(mac)) score = 1000;
    else {
      for (const p of g.prefixes) {
        if (p.len <= score) continue;
        if (p.family === 4 && v4 !== undefined) {
          const shift = 32n - BigInt(p.len);
          if (BigInt(v4) >> shift === p.bits >> shift) score = p.len;
        } else if (p.family === 6 && v6 !== undefined) {
          const shift = 128n - BigInt(p.len);
          if (v6 >> shift === p.bits >> shift) score = p.len;
        }
      }
    }
    if (score > bestScore) {
      bestScore = score;
      best = g;
    }
  }
  return best ? { mask: best.mask, group: best.id } : { mask: f.defaultMask };
}

/** What `dns query NAME [--client IP]` prints. */
export type NameExplanation =
  | { ok: false; input: string; problem: string }
  | {
    ok: true;
    name: NormalName;
    /** What the filter does with the name. */
    decision: "blocked" | "allowed" | "forwarded" | "doh-refused" | "builtin";
    verdict: (typeof VERDICT_NAMES)[number];
    /** What an A / AAAA query gets. */
    answerA: string;
    answerAAAA: string;
    reason?: MatchReason;
    categories: DnsCategory[];
    group?: string;
  };

function describeAnswer(a: SynthAnswer | undefined): string {
  if (!a) return "forwarded to the upstream resolvers";
  if (a.kind === "nxdomain") return "NXDOMAIN";
  if (a.kind === "nodata") return "NODATA";
  return a.addresses.map((x) => (x.length === 4 ? [...x].join(".") : formatV6(x))).join(", ");
}

function formatV6(b: Uint8Array): string {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return formatIpv6(v);
}

/**
 * The decision for a name typed by a person (the CLI's `dns query`), without a packet: the
 * same matcher the server uses, on the name's wire form. Only the query name is decided:
 * a CNAME an upstream might return is checked when it is returned.
 */
export function explainName(f: DnsFilter, input: string, client?: ClientIdentity): NameExplanation {
  const n = normaliseName(input);
  if (!n.ok) return { ok: false, input: input.slice(0, 300), problem: n.problem };
  const wire = encodeWireName(n.name);
  const s = new MatchScratch();
  const { mask, group } = clientCategories(f, client);
  if (!s.reader.read(wire, 0)) return { ok: false, input: input.slice(0, 300), problem: "too-long" };
  const verdict = matchLabels(f, wire, s.reader.labels, s.reader.count, mask, s);
  const reason = explainMatch(f, wire, s);
  const decision = verdict === VERDICT_BLOCK ? "blocked" : verdict === VERDICT_ALLOW ? "allowed" : verdict === VERDICT_PASS ? "forwarded"
    : verdict === VERDICT_DOH ? "doh-refused" : "builtin";
  return {
    ok: true, name: n.name, decision, verdict: VERDICT_NAMES[verdict],
    answerA: describeAnswer(answerFor(f, verdict, TYPE_A)), answerAAAA: describeAnswer(answerFor(f, verdict, TYPE_AAAA)),
    ...(reason ? { reason } : {}),
    categories: CATEGORY_ORDER.filter((_, i) => mask & (1 << i)),
    ...(group ? { group } : {}),
  };
}

export { KIND_ALLOW, KIND_BLOCK, SCOPE_BELOW, SCOPE_EXACT, SCOPE_SUBDOMAIN };
