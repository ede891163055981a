/**
 * The query log: every query the filter answers goes into a bounded ring in memory, which a
 * consumer drains in batches (to the event store). Recording a query is a few typed-array
 * writes and one small copy of the name's wire bytes; turning it into text (escaping the
 * name, naming the rule that decided) happens in `drain`, off the query path. When the
 * consumer falls behind, the oldest unread records are overwritten and counted in
 * `overwritten`: the log never makes a query wait, and nothing is lost without a count.
 */
import type { DnsCategory } from "../../policies/schema.ts";
import { NameReader } from "./codec.ts";
import { explainMatch, MatchScratch, type DnsFilter, type MatchReason } from "./filter.ts";
import { presentLabels } from "./names.ts";

/** What happened to a query. */
export type QueryOutcome =
  /** Answered by an upstream (no rule, or an allow rule). */
  | "forwarded"
  /** Answered from the cache. */
  | "cached"
  /** Blocked by a rule on the name. */
  | "blocked"
  /** Blocked because an upstream's answer went through a CNAME the rules block. */
  | "blocked-cname"
  /** A DoH service's name: NXDOMAIN. */
  | "doh"
  /** A built-in name (the box, resolver.arpa, the DoH canaries). */
  | "builtin"
  /** Refused: a class other than IN, a zone transfer. */
  | "refused"
  /** Malformed or unsupported (FORMERR, NOTIMP, BADVERS). */
  | "malformed"
  /** No upstream answered. */
  | "servfail";

/** Bytes of a name kept in the arena (a wire name of up to 62 characters of text). */
const NAME_SLOT = 64;

const OUTCOMES: readonly QueryOutcome[] = ["forwarded", "cached", "blocked", "blocked-cname", "doh", "builtin", "refused", "malformed", "servfail"];

/** One query as the event store gets it. Every string is ASCII without control characters. */
export type DnsQueryRecord = {
  /** When the query arrived (ms since epoch). */
  time: number;
  client: string;
  protocol: "udp" | "tcp";
  /** The query name in presentation form (lower case, RFC 1035 escapes), "" when unreadable. */
  name: string;
  qtype: number;
  outcome: QueryOutcome;
  /** The response code sent. */
  rcode: number;
  /** The rule that decided (blocked / allowed / DoH / built-in), with its list and category. */
  rule?: string;
  source?: string;
  category?: DnsCategory;
  action?: MatchReason["action"];
  /** For blocked-cname: the CNAME target that the rules block. */
  cname?: string;
  /** The upstream that answered and how long it took (forwarded only). */
  upstream?: string;
  upstreamMs?: number;
  /** The client group that chose the categories. */
  group?: string;
};

/** What `dns stats` and `status` show. */
export type DnsCounters = {
  queries: number;
  blocked: number;
  forwarded: number;
  cacheHits: number;
  cacheMisses: number;
  /** Upstream attempts that timed out or failed (a failover counts each). */
  upstreamFailures: number;
  /** Queries no upstream could answer (SERVFAIL sent). */
  servfail: number;
  /** Upstream answers that were truncated and retried over TCP. */
  tcpRetries: number;
  /** Upstream datagrams that did not match a pending query (late, spoofed, malformed). */
  upstreamIgnored: number;
  /** Malformed queries answered with an error, and datagrams dropped unanswered. */
  malformed: number;
  dropped: number;
  /** Log records overwritten before the consumer drained them. */
  logOverwritten: number;
  /** Filter swaps since start. */
  reloads: number;
};

export function newCounters(): DnsCounters {
  return {
    queries: 0, blocked: 0, forwarded: 0, cacheHits: 0, cacheMisses: 0, upstreamFailures: 0, servfail: 0, tcpRetries: 0,
    upstreamIgnored: 0, malformed: 0, dropped: 0, logOverwritten: 0, reloads: 0,
  };
}

/** The fields a query records, passed by the server without building an object per query. */
export class QueryLog {
  private readonly time: Float64Array;
  private readonly qtype: Uint16Array;
  private readonly outcome: Uint8Array;
  private readonly rcode: Uint16Array;
  private readonly protocol: Uint8Array;
  private readonly upstreamMs: Float32Array;
  private readonly palette: Int32Array;
  private readonly tier: Int8Array;
  private readonly kind: Int8Array;
  private readonly depth: Uint8Array;
  private readonly mask: Uint32Array;
  private readonly client: (string | undefined)[];
  /**
   * Names up to NAME_SLOT bytes are copied into one preallocated arena (most names: no
   * allocation per query, and nothing for the garbage collector to promote); longer ones
   * get a copy of their own.
   */
  private readonly arena: Uint8Array;
  private readonly nameLen: Uint16Array;
  private readonly longName: (Uint8Array | undefined)[];
  private readonly cname: (Uint8Array | undefined)[];
  private readonly upstream: (string | undefined)[];
  private readonly filter: (DnsFilter | undefined)[];
  private readonly group: (string | undefined)[];
  /** Next slot to write, and how many unread records the ring holds. */
  private head = 0;
  private unread = 0;
  overwritten = 0;

  constructor(readonly capacity = 32_768) {
    this.time = new Float64Array(capacity);
    this.qtype = new Uint16Array(capacity);
    this.outcome = new Uint8Array(capacity);
    this.rcode = new Uint16Array(capacity);
    this.protocol = new Uint8Array(capacity);
    this.upstreamMs = new Float32Array(capacity);
    this.palette = new Int32Array(capacity);
    this.tier = new Int8Array(capacity);
    this.kind = new Int8Array(capacity);
    this.depth = new Uint8Array(capacity);
    this.mask = new Uint32Array(capacity);
    this.client = new Array<string | undefined>(capacity);
    this.arena = new Uint8Array(capacity * NAME_SLOT);
    this.nameLen = new Uint16Array(capacity);
    this.longName = new Array<Uint8Array | undefined>(capacity);
    this.cname = new Array<Uint8Array | undefined>(capacity);
    this.upstream = new Array<string | undefined>(capacity);
    this.filter = new Array<DnsFilter | undefined>(capacity);
    this.group = new Array<string | undefined>(capacity);
  }

  get pending(): number {
    return this.unread;
  }

  /**
   * Records one query. `name` is the question name's wire bytes (copied here: the caller
   * may reuse its buffer); `match` is the scratch of the deciding match (its rule is named
   * at drain time), or undefined when no rule was involved.
   */
  record(
    time: number, client: string, protocol: "udp" | "tcp", name: Uint8Array | undefined, qtype: number, outcome: QueryOutcome,
    rcode: number, filter: DnsFilter | undefined, match: MatchScratch | undefined, group: string | undefined,
    upstream?: string, upstreamMs?: number, cname?: Uint8Array,
  ): void {
    const i = this.head;
    this.head = i + 1 === this.capacity ? 0 : i + 1;
    if (this.unread === this.capacity) this.overwritten++;
    else this.unread++;
    this.time[i] = time;
    this.client[i] = client;
    this.protocol[i] = protocol === "tcp" ? 1 : 0;
    if (name === undefined) {
      this.nameLen[i] = 0xffff;
      this.longName[i] = undefined;
    } else if (name.length <= NAME_SLOT) {
      this.arena.set(name, i * NAME_SLOT);
      this.nameLen[i] = name.length;
      this.longName[i] = undefined;
    } else {
      this.nameLen[i] = name.length;
      this.longName[i] = name.slice();
    }
    this.qtype[i] = qtype;
    this.outcome[i] = OUTCOMES.indexOf(outcome);
    this.rcode[i] = rcode;
    this.filter[i] = filter;
    this.group[i] = group;
    if (match && match.palette >= 0) {
      this.palette[i] = match.palette;
      this.tier[i] = match.tier;
      this.kind[i] = match.kind;
      this.depth[i] = match.depth;
      this.mask[i] = match.activeMask;
    } else this.palette[i] = -1;
    this.upstream[i] = upstream;
    this.upstreamMs[i] = upstreamMs ?? -1;
    this.cname[i] = cname;
  }

  /** Takes up to `max` records, oldest first, as plain values. */
  drain(max = this.capacity): DnsQueryRecord[] {
    const n = Math.min(max, this.unread);
    const out: DnsQueryRecord[] = [];
    const reader = new NameReader();
    const scratch = new MatchScratch();
    let i = (this.head - this.unread + this.capacity) % this.capacity;
    for (let k = 0; k < n; k++) {
      const len = this.nameLen[i] ?? 0xffff;
      const nameBytes = len === 0xffff ? undefined : len <= NAME_SLOT ? this.arena.subarray(i * NAME_SLOT, i * NAME_SLOT + len) : this.longName[i];
      const rec: DnsQueryRecord = {
        time: this.time[i] ?? 0,
        client: this.client[i] ?? "",
        protocol: this.protocol[i] === 1 ? "tcp" : "udp",
        name: nameBytes && reader.read(nameBytes, 0) ? presentLabels(nameBytes, reader.labels, reader.count) : "",
        qtype: this.qtype[i] ?? 0,
        outcome: OUTCOMES[this.outcome[i] ?? 0] ?? "forwarded",
        rcode: this.rcode[i] ?? 0,
      };
      const filter = this.filter[i];
      const cname = this.cname[i];
      // The rule was decided on the CNAME target when there is one, else on the name.
      const ruleName = cname ?? nameBytes;
      if (filter && ruleName && (this.palette[i] ?? -1) >= 0 && reader.read(ruleName, 0)) {
        scratch.labels = reader.labels;
        scratch.count = reader.count;
        scratch.palette = this.palette[i] ?? -1;
        scratch.tier = this.tier[i] ?? -1;
        scratch.kind = this.kind[i] ?? 0;
        scratch.depth = this.depth[i] ?? 0;
        scratch.activeMask = this.mask[i] ?? 0;
        const why = explainMatch(filter, ruleName, scratch);
        if (why) {
          rec.rule = why.rule;
          rec.source = why.source.id;
          rec.action = why.action;
          if (why.source.category) rec.category = why.source.category;
        }
      }
      if (cname && reader.read(cname, 0)) rec.cname = presentLabels(cname, reader.labels, reader.count);
      const up = this.upstream[i];
      if (up !== undefined) rec.upstream = up;
      const ms = this.upstreamMs[i] ?? -1;
      if (ms >= 0) rec.upstreamMs = Math.round(ms * 100) / 100;
      const g = this.group[i];
      if (g !== undefined) rec.group = g;
      out.push(rec);
      // Let the references go: the ring should not keep old filters or names alive.
      this.longName[i] = undefined;
      this.cname[i] = undefined;
      this.filter[i] = undefined;
      this.client[i] = undefined;
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    this.unread -= n;
    return out;
  }
}
