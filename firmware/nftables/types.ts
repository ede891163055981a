/**
 * Typed objects for the subset of libnftables' JSON schema (libnftables-json(5),
 * json_schema_version 1, nft 1.0.6) that Sekisho uses. The compiler builds these values;
 * the driver serialises them with JSON.stringify and hands them to `nft -j -f FILE`.
 * Nothing here assembles nft text syntax.
 */

export type Family = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

export type Verdict =
  | { accept: null }
  | { drop: null }
  | { continue: null }
  | { return: null }
  | { jump: { target: string } }
  | { goto: { target: string } };

// ---- expressions -------------------------------------------------------------------------

export type PayloadProtocol = "ether" | "ip" | "ip6" | "tcp" | "udp" | "th" | "icmp" | "icmpv6";

export type PayloadExpr = { payload: { protocol: PayloadProtocol; field: string } };
export type MetaKey =
  | "iifname" | "oifname" | "iif" | "oif" | "l4proto" | "nfproto" | "mark" | "pkttype"
  | "protocol" | "skuid";
export type MetaExpr = { meta: { key: MetaKey } };
export type CtKey = "state" | "status" | "mark" | "direction";
export type CtExpr = { ct: { key: CtKey } };
export type PrefixExpr = { prefix: { addr: string; len: number } };
export type RangeExpr = { range: [Expr, Expr] };
export type ConcatExpr = { concat: Expr[] };
export type AnonSetExpr = { set: Expr[] };
export type BinaryExpr = { "&": [Expr, Expr] } | { "|": [Expr, Expr] };
/** A named set reference is a string starting with "@" ("@banned_v4"). */
export type SetRef = `@${string}`;
export type Literal = string | number | boolean;

export type Expr =
  | Literal
  | Literal[]
  | PayloadExpr
  | MetaExpr
  | CtExpr
  | PrefixExpr
  | RangeExpr
  | ConcatExpr
  | AnonSetExpr
  | BinaryExpr;

/** "!" is how nft lists a flags match against no flags at all (`tcp flags & (fin|syn|…) == 0`). */
export type MatchOp = "==" | "!=" | "<" | ">" | "<=" | ">=" | "in" | "!";

// ---- statements --------------------------------------------------------------------------

export type MatchStmt = { match: { op: MatchOp; left: Expr; right: Expr } };
/** Anonymous counter (`{packets,bytes}`), or a reference to a named counter object. */
export type CounterStmt = { counter: { packets: number; bytes: number } | string };
export type LimitStmt = {
  limit: {
    rate: number;
    per: "second" | "minute" | "hour" | "day" | "week";
    burst?: number;
    rate_unit?: "packets" | "bytes";
    /** nft lists this beside `burst` for byte-rate limits. */
    burst_unit?: "packets" | "bytes";
    inv?: boolean;
  };
};
export type LogStmt = { log: { prefix?: string; group?: number; level?: string; snaplen?: number } };
export type SetStmt = {
  set: { op: "add" | "update" | "delete"; elem: Expr; set: SetRef; stmt?: LimitStmt[] };
};
export type MangleStmt = { mangle: { key: MetaExpr | PayloadExpr | CtExpr; value: Expr } };
/**
 * nft 1.0.6 pitfalls, measured: `{reject: null}` in an inet table becomes
 * "reject with icmp port-unreachable" (ICMPv4 only, unlike text `reject`), and
 * `{type: "icmpx"}` without `expr` becomes code 0, "no-route". Spell both out.
 */
export type RejectStmt = {
  reject: { type?: "tcp reset" | "icmpx" | "icmp" | "icmpv6"; expr?: string } | null;
};
export type NatStmt =
  | { masquerade: null | { port?: number } }
  | { redirect: { port?: number } | null }
  | { snat: { addr: string; family?: "ip" | "ip6"; port?: number } }
  | { dnat: { addr: string; family?: "ip" | "ip6"; port?: number } };
export type NotrackStmt = { notrack: null };
/** A verdict map: one lookup picks the verdict (`ct state vmap { established: accept, … }`). */
export type VmapStmt = { vmap: { key: Expr; data: { set: [Literal, Verdict][] } | SetRef } };

export type Stmt =
  | MatchStmt
  | CounterStmt
  | LimitStmt
  | LogStmt
  | SetStmt
  | MangleStmt
  | RejectStmt
  | NatStmt
  | NotrackStmt
  | VmapStmt
  | Verdict;

// ---- objects -----------------------------------------------------------------------------

export type Table = { family: Family; name: string; handle?: number };

export type ChainHook = "prerouting" | "input" | "forward" | "output" | "postrouting" | "ingress";
export type Chain = {
  family: Family;
  table: string;
  name: string;
  handle?: number;
  type?: "filter" | "nat" | "route";
  hook?: ChainHook;
  prio?: number;
  policy?: "accept" | "drop";
};

export type Rule = {
  family: Family;
  table: string;
  chain: string;
  expr: Stmt[];
  handle?: number;
  comment?: string;
};

export type SetKeyType =
  | "ipv4_addr" | "ipv6_addr" | "ether_addr" | "inet_proto" | "inet_service" | "mark" | "ifname";

/** An element of a set: a plain value, a prefix, a range, or a value with a timeout. */
export type SetElement = Literal | PrefixExpr | RangeExpr | ConcatExpr | {
  elem: { val: Literal | PrefixExpr | RangeExpr | ConcatExpr; timeout?: number; expires?: number; comment?: string };
};

export type NamedSet = {
  family: Family;
  table: string;
  name: string;
  type: SetKeyType | SetKeyType[];
  handle?: number;
  policy?: "performance" | "memory";
  /**
   * nft 1.0.6's JSON parser rejects "dynamic" ("Invalid set flag") and never lists it: the
   * kernel sets it by itself on a set that a rule updates.
   */
  flags?: ("constant" | "interval" | "timeout")[];
  /** Seconds. */
  timeout?: number;
  size?: number;
  elem?: SetElement[];
  comment?: string;
};

export type Counter = { family: Family; table: string; name: string; packets?: number; bytes?: number; handle?: number };

/** The `element` object of add/delete element commands. */
export type Elements = { family: Family; table: string; name: string; elem: SetElement[] };

export type NftObject =
  | { table: Table }
  | { chain: Chain }
  | { rule: Rule }
  | { set: NamedSet }
  | { counter: Counter }
  | { element: Elements };

/** One command of a batch. The batch is applied by the kernel as one transaction. */
export type Command =
  | { add: NftObject }
  | { create: NftObject }
  | { insert: { rule: Rule } }
  | { delete: NftObject }
  | { flush: { table: Table } | { chain: Chain } | { set: NamedSet } | { ruleset: null } };

export type Batch = { nftables: Command[] };

/** Wraps commands as the top-level JSON document nft reads. */
export function toBatch(commands: readonly Command[]): Batch {
  return { nftables: [...commands] };
}
