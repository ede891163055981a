/**
 * Parsers for nft's JSON listings (`nft -j list …`): zod schemas that are loose on keys we
 * do not read and strict on the ones we do, checked at compile time against types.ts so the
 * two cannot drift apart. Pure: bytes in, typed values or NftParseError out.
 */
import { z } from "zod";
import { NftParseError, type NftParseIssue } from "./errors.ts";
import type {
  Chain,
  ChainHook,
  Counter,
  CtKey,
  Expr,
  Family,
  Literal,
  MatchOp,
  MetaKey,
  NamedSet,
  PayloadProtocol,
  Rule,
  SetElement,
  SetKeyType,
  Stmt,
  Table,
  Verdict,
} from "./types.ts";

/** An object as nft lists it: it always carries the kernel's handle. */
export type Listed<T> = T & { handle: number };
export type ListedCounter = Listed<Counter> & { packets: number; bytes: number };

/** One table as `nft -j list table` shows it, split by object kind, in nft's order. */
export type TableListing = {
  table: Listed<Table>;
  chains: Listed<Chain>[];
  rules: Listed<Rule>[];
  sets: Listed<NamedSet>[];
  counters: ListedCounter[];
};

// ---- schema helpers ------------------------------------------------------------------------

type KeysOfUnion<T> = T extends unknown ? keyof T : never;
type ValueOfKey<U, K extends PropertyKey> = U extends Record<K, infer V> ? V : never;
/** One schema per key of a union of single-key objects; `satisfies` makes it exhaustive. */
type KindSchemas<U> = { [K in KeysOfUnion<U> & string]: z.ZodType<ValueOfKey<U, K>> };

/** A z.enum that must list every member of T (a Record<T, true> cannot miss one). */
function enumOf<T extends string>(members: Record<T, true>): z.ZodType<T> {
  return z.enum(Object.keys(members) as [T, ...T[]]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isLiteral(value: unknown): value is Literal {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

type IssueSink = { addIssue(issue: { code: "custom"; message: string; path?: PropertyKey[]; input?: unknown }): void };

/**
 * nft's expressions and statements are objects with exactly one key naming the kind
 * (`{"counter": …}`). Dispatching on that key, instead of a z.union that tries every
 * branch, keeps errors short: "expr.1: unknown statement "xt"".
 */
function parseOneKey<U>(
  what: string,
  kinds: Readonly<Record<string, z.ZodType>>,
  input: unknown,
  ctx: IssueSink,
): U | typeof z.NEVER {
  if (!isRecord(input)) {
    ctx.addIssue({ code: "custom", message: `expected a ${what} object`, input });
    return z.NEVER;
  }
  const keys = Object.keys(input);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) {
    ctx.addIssue({ code: "custom", message: `expected one ${what} key, got ${JSON.stringify(keys)}`, input });
    return z.NEVER;
  }
  const schema = Object.hasOwn(kinds, key) ? kinds[key] : undefined;
  if (schema === undefined) {
    ctx.addIssue({ code: "custom", message: `unknown ${what} ${JSON.stringify(key)}`, input });
    return z.NEVER;
  }
  const result = schema.safeParse(input[key]);
  if (!result.success) {
    for (const issue of result.error.issues) {
      ctx.addIssue({ code: "custom", message: issue.message, path: [key, ...issue.path] });
    }
    return z.NEVER;
  }
  return { [key]: result.data } as U;
}

function oneKeyOf<U>(what: string, kinds: () => Readonly<Record<string, z.ZodType>>): z.ZodType<U> {
  return z.unknown().transform((input, ctx) => parseOneKey<U>(what, kinds(), input, ctx));
}

// ---- enums ---------------------------------------------------------------------------------

const familySchema = enumOf<Family>({ ip: true, ip6: true, inet: true, arp: true, bridge: true, netdev: true });
const payloadProtocolSchema = enumOf<PayloadProtocol>({
  ether: true, ip: true, ip6: true, tcp: true, udp: true, th: true, icmp: true, icmpv6: true,
});
const metaKeySchema = enumOf<MetaKey>({
  iifname: true, oifname: true, iif: true, oif: true, l4proto: true, nfproto: true, mark: true,
  pkttype: true, protocol: true, skuid: true,
});
const ctKeySchema = enumOf<CtKey>({ state: true, status: true, mark: true, direction: true });
const matchOpSchema = enumOf<MatchOp>({ "==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true, in: true, "!": true });
const chainHookSchema = enumOf<ChainHook>({
  prerouting: true, input: true, forward: true, output: true, postrouting: true, ingress: true,
});
const setKeyTypeSchema = enumOf<SetKeyType>({
  ipv4_addr: true, ipv6_addr: true, ether_addr: true, inet_proto: true, inet_service: true, mark: true, ifname: true,
});
type SetFlag = NonNullable<NamedSet["flags"]>[number];
const setFlagSchema = enumOf<SetFlag>({ constant: true, interval: true, timeout: true });
type ChainType = NonNullable<Chain["type"]>;
const chainTypeSchema = enumOf<ChainType>({ filter: true, nat: true, route: true });

// ---- expressions ---------------------------------------------------------------------------

const literalSchema: z.ZodType<Literal> = z.union([z.string(), z.number(), z.boolean()]);

type ExprObject = Exclude<Expr, Literal | Literal[]>;

/** Literals and literal lists (ct state {…}) pass as they are; objects dispatch on their key. */
export const exprSchema: z.ZodType<Expr> = z.unknown().transform((input, ctx): Expr => {
  if (isLiteral(input)) return input;
  if (Array.isArray(input)) {
    const bad = input.findIndex((v) => !isLiteral(v));
    if (bad >= 0) {
      ctx.addIssue({ code: "custom", message: "expected a list of literals", path: [bad], input: input[bad] });
      return z.NEVER;
    }
    return input as Literal[];
  }
  return parseOneKey<ExprObject>("expression", exprKinds, input, ctx);
});

const exprPairSchema = z.tuple([exprSchema, exprSchema]);
const prefixValueSchema = z.looseObject({ addr: z.string(), len: z.number().int() });

const exprKinds = {
  payload: z.looseObject({ protocol: payloadProtocolSchema, field: z.string() }),
  meta: z.looseObject({ key: metaKeySchema }),
  ct: z.looseObject({ key: ctKeySchema }),
  prefix: prefixValueSchema,
  range: exprPairSchema,
  concat: z.array(exprSchema),
  set: z.array(exprSchema),
  "&": exprPairSchema,
  "|": exprPairSchema,
} satisfies KindSchemas<ExprObject>;

// ---- statements ----------------------------------------------------------------------------

const setRefSchema = z.templateLiteral(["@", z.string()]);
const limitValueSchema = z.looseObject({
  rate: z.number(),
  per: z.enum(["second", "minute", "hour", "day", "week"]),
  burst: z.number().optional(),
  rate_unit: z.enum(["packets", "bytes"]).optional(),
  burst_unit: z.enum(["packets", "bytes"]).optional(),
  inv: z.boolean().optional(),
});
const natValueSchema = z.looseObject({
  addr: z.string(),
  family: z.enum(["ip", "ip6"]).optional(),
  port: z.number().optional(),
});
const portValueSchema = z.looseObject({ port: z.number().optional() });
type MangleKey = Extract<Stmt, { mangle: unknown }>["mangle"]["key"];
const mangleKeyKinds = {
  meta: exprKinds.meta,
  payload: exprKinds.payload,
  ct: exprKinds.ct,
} satisfies KindSchemas<MangleKey>;

const stmtKinds = {
  match: z.looseObject({ op: matchOpSchema, left: exprSchema, right: exprSchema }),
  counter: z.union([z.string(), z.looseObject({ packets: z.number(), bytes: z.number() })]),
  limit: limitValueSchema,
  log: z.looseObject({ prefix: z.string().optional(), group: z.number().optional(), level: z.string().optional(), snaplen: z.number().optional() }),
  set: z.looseObject({
    op: z.enum(["add", "update", "delete"]),
    elem: exprSchema,
    set: setRefSchema,
    stmt: z.array(z.strictObject({ limit: limitValueSchema })).optional(),
  }),
  mangle: z.looseObject({
    key: oneKeyOf<MangleKey>("mangle key", () => mangleKeyKinds),
    value: exprSchema,
  }),
  reject: z.looseObject({
    type: z.enum(["tcp reset", "icmpx", "icmp", "icmpv6"]).optional(),
    expr: z.string().optional(),
  }).nullable(),
  masquerade: portValueSchema.nullable(),
  redirect: portValueSchema.nullable(),
  snat: natValueSchema,
  dnat: natValueSchema,
  notrack: z.null(),
  vmap: z.looseObject({
    key: exprSchema,
    data: z.union([
      setRefSchema,
      z.looseObject({ set: z.array(z.tuple([z.union([z.string(), z.number(), z.boolean()]), z.lazy(() => verdictSchema)])) }),
    ]),
  }),
  accept: z.null(),
  drop: z.null(),
  continue: z.null(),
  return: z.null(),
  jump: z.looseObject({ target: z.string() }),
  goto: z.looseObject({ target: z.string() }),
} satisfies KindSchemas<Stmt>;

const verdictSchema: z.ZodType<Verdict> = oneKeyOf<Verdict>("verdict", () => ({
  accept: z.null(), drop: z.null(), continue: z.null(), return: z.null(),
  jump: z.looseObject({ target: z.string() }), goto: z.looseObject({ target: z.string() }),
} satisfies KindSchemas<Verdict>));

/** A rule statement as nft lists it; also usable to check the compiler's output. */
export const stmtSchema: z.ZodType<Stmt> = oneKeyOf<Stmt>("statement", () => stmtKinds);

// ---- set elements --------------------------------------------------------------------------

type ElementObject = Exclude<SetElement, Literal>;
type ElementValue = Extract<SetElement, { elem: unknown }>["elem"]["val"];

const elementValueSchema: z.ZodType<ElementValue> = z.unknown().transform((input, ctx): ElementValue => {
  if (isLiteral(input)) return input;
  return parseOneKey<Exclude<ElementValue, Literal>>("element value", elementValueKinds, input, ctx);
});
const elementValueKinds = {
  prefix: prefixValueSchema,
  range: exprPairSchema,
  concat: z.array(exprSchema),
} satisfies KindSchemas<Exclude<ElementValue, Literal>>;

const elementKinds = {
  ...elementValueKinds,
  elem: z.looseObject({
    val: elementValueSchema,
    timeout: z.number().optional(),
    expires: z.number().optional(),
    comment: z.string().optional(),
  }),
} satisfies KindSchemas<ElementObject>;

/** Plain values take the fast path: a 100k-element listing is mostly bare strings. */
export const setElementSchema: z.ZodType<SetElement> = z.unknown().transform((input, ctx): SetElement => {
  if (isLiteral(input)) return input;
  return parseOneKey<ElementObject>("set element", elementKinds, input, ctx);
});

// ---- listed objects ------------------------------------------------------------------------

const handleSchema = z.number().int();

const tableSchema: z.ZodType<Listed<Table>> = z.looseObject({
  family: familySchema,
  name: z.string(),
  handle: handleSchema,
});

const chainSchema: z.ZodType<Listed<Chain>> = z.looseObject({
  family: familySchema,
  table: z.string(),
  name: z.string(),
  handle: handleSchema,
  type: chainTypeSchema.optional(),
  hook: chainHookSchema.optional(),
  prio: z.number().optional(),
  policy: z.enum(["accept", "drop"]).optional(),
});

const ruleSchema: z.ZodType<Listed<Rule>> = z.looseObject({
  family: familySchema,
  table: z.string(),
  chain: z.string(),
  handle: handleSchema,
  expr: z.array(stmtSchema),
  comment: z.string().optional(),
});

const setSchema: z.ZodType<Listed<NamedSet>> = z.looseObject({
  family: familySchema,
  table: z.string(),
  name: z.string(),
  handle: handleSchema,
  type: z.union([setKeyTypeSchema, z.array(setKeyTypeSchema)]),
  policy: z.enum(["performance", "memory"]).optional(),
  flags: z.array(setFlagSchema).optional(),
  timeout: z.number().optional(),
  size: z.number().optional(),
  elem: z.array(setElementSchema).optional(),
  comment: z.string().optional(),
});

const counterSchema: z.ZodType<ListedCounter> = z.looseObject({
  family: familySchema,
  table: z.string(),
  name: z.string(),
  handle: handleSchema,
  packets: z.number(),
  bytes: z.number(),
});

const listedKinds = {
  table: tableSchema,
  chain: chainSchema,
  rule: ruleSchema,
  set: setSchema,
  counter: counterSchema,
};
export type ListedKind = keyof typeof listedKinds;
type ListedObject = { [K in ListedKind]: { kind: K; value: z.output<(typeof listedKinds)[K]> } }[ListedKind];

const documentSchema = z.looseObject({ nftables: z.array(z.unknown()) });

// ---- parsers -------------------------------------------------------------------------------

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function toIssues(error: z.ZodError, prefix: readonly PropertyKey[]): NftParseIssue[] {
  return error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }));
}

/** Which listed objects a parser reads; the others are skipped without being checked. */
export type ListingFilter = (kind: ListedKind, raw: Record<string, unknown>) => boolean;

/** One table's objects: a ruleset listing also holds tables that are not ours. */
export function inTable(family: Family, table: string): ListingFilter {
  return (kind, raw) => raw["family"] === family && raw[kind === "table" ? "name" : "table"] === table;
}

/**
 * The typed objects of one nft JSON document, in order. Objects of kinds we do not read
 * (metainfo, map, quota, flowtable, …) and objects the filter leaves out are skipped
 * unchecked; a kept object that does not match its schema fails the whole document, so a
 * caller never acts on half a listing.
 */
export function parseListing(output: string, what: string, keep: ListingFilter = () => true): ListedObject[] {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (cause) {
    throw new NftParseError({
      what,
      issues: [{ path: "", message: `not JSON (${(cause as Error).message})` }],
      output,
      cause,
    });
  }
  const doc = documentSchema.safeParse(json);
  if (!doc.success) throw new NftParseError({ what, issues: toIssues(doc.error, []), output });

  const objects: ListedObject[] = [];
  const issues: NftParseIssue[] = [];
  doc.data.nftables.forEach((entry, index) => {
    if (!isRecord(entry)) {
      issues.push({ path: `nftables[${index}]`, message: "expected an object" });
      return;
    }
    for (const [kind, raw] of Object.entries(entry)) {
      if (!Object.hasOwn(listedKinds, kind)) continue;
      const k = kind as ListedKind;
      if (isRecord(raw) && !keep(k, raw)) continue;
      const result = listedKinds[k].safeParse(raw);
      if (result.success) objects.push({ kind: k, value: result.data } as ListedObject);
      else issues.push(...toIssues(result.error, ["nftables", index, kind]));
    }
  });
  if (issues.length > 0) throw new NftParseError({ what, issues, output });
  return objects;
}

/**
 * One table's objects split by kind, from a `list table` or a whole `list ruleset`
 * document; undefined when the table is not in it.
 */
export function parseTableListing(output: string, family: Family, name: string): TableListing | undefined {
  const objects = parseListing(output, "table listing", inTable(family, name));
  const tables: Listed<Table>[] = [];
  const listing: Omit<TableListing, "table"> = { chains: [], rules: [], sets: [], counters: [] };
  for (const o of objects) {
    if (o.kind === "table") tables.push(o.value);
    else if (o.kind === "chain") listing.chains.push(o.value);
    else if (o.kind === "rule") listing.rules.push(o.value);
    else if (o.kind === "set") listing.sets.push(o.value);
    else listing.counters.push(o.value);
  }
  const [table, ...extra] = tables;
  if (table === undefined) return undefined;
  if (extra.length > 0) {
    throw new NftParseError({
      what: "table listing",
      issues: [{ path: "nftables", message: `expected one table ${family} ${name}, found ${tables.length}` }],
      output,
    });
  }
  return { table, ...listing };
}

/** The tables of a listing; nothing else in it is read. */
export function parseTables(output: string): Listed<Table>[] {
  return parseListing(output, "table list", (kind) => kind === "table").flatMap((o) =>
    o.kind === "table" ? [o.value] : []
  );
}

/**
 * The named counter objects of one table; undefined when the table is not in the
 * listing. Rules are not read, so a rule this driver cannot type does not hide counters.
 */
export function parseCounters(output: string, family: Family, table: string): ListedCounter[] | undefined {
  const scope = inTable(family, table);
  const objects = parseListing(output, "counter listing", (kind, raw) => (kind === "table" || kind === "counter") && scope(kind, raw));
  if (!objects.some((o) => o.kind === "table")) return undefined;
  return objects.flatMap((o) => (o.kind === "counter" ? [o.value] : []));
}

/** The one set of a `list set` document, with its elements. */
export function parseSetListing(output: string): Listed<NamedSet> {
  const sets = parseListing(output, "set listing", (kind) => kind === "set").flatMap((o) =>
    o.kind === "set" ? [o.value] : []
  );
  const [set, ...extra] = sets;
  if (set === undefined || extra.length > 0) {
    throw new NftParseError({
      what: "set listing",
      issues: [{ path: "nftables", message: `expected one set, found ${sets.length}` }],
      output,
    });
  }
  return set;
}

function formatValue(value: Expr): string {
  if (isLiteral(value)) return String(value);
  if (Array.isArray(value)) return value.map(String).join(",");
  if ("prefix" in value) return `${value.prefix.addr}/${value.prefix.len}`;
  if ("range" in value) return `${formatValue(value.range[0])}-${formatValue(value.range[1])}`;
  if ("concat" in value) return value.concat.map(formatValue).join(" . ");
  return JSON.stringify(value);
}

/**
 * A set element as one comparable string: "203.0.113.9", "203.0.113.0/24", "a-b" for a
 * range, "v1 . v2" for a concatenation; a timeout or comment is dropped, the value kept.
 * Addresses are as nft prints them (IPv6 compressed, lower case), so compare against
 * normalised input.
 */
export function formatSetElement(element: SetElement): string {
  if (isRecord(element) && "elem" in element) return formatValue(element.elem.val);
  return formatValue(element);
}
