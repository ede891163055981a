/**
 * The DNS filter service: UDP and TCP on one address and port, the decisions of filter.ts,
 * the cache, forwarding through upstream.ts, the query log and counters. The filter in force
 * is one reference (`swapFilter` replaces it in one assignment, so a query sees either the
 * old table or the new one, never a half-built one).
 *
 * The query path does no I/O but the reply and (on a cache miss) the upstream exchange: a
 * blocked or cached answer is built and sent synchronously from the datagram handler.
 */
import { createServer, type Server, type Socket } from "node:net";
import { formatIpv6, parseIpv6 } from "../../policies/net.ts";
import { bindDatagramSocket, type BindDatagramOptions, type DatagramSocket } from "../logs/socket.ts";
import { DEFAULT_CACHE_OPTIONS, DnsCache, type CacheOptions } from "./cache.ts";
import {
  buildClientResponse, buildErrorResponse, buildSynthResponse, CLASS_IN, expandName, HEADER, MAX_MESSAGE, NameReader,
  parseQuery, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, udpLimit, type Query, type SynthAnswer,
  type UpstreamAnswer,
} from "./codec.ts";
import {
  answerFor, clientCategories, matchLabels, matchNameAt, MatchScratch, VERDICT_ALLOW, VERDICT_BLOCK, VERDICT_DOH,
  type DnsFilter, type Verdict,
} from "./filter.ts";
import { newCounters, QueryLog, type DnsCounters, type DnsQueryRecord, type QueryOutcome } from "./query-log.ts";
import { TcpFrames } from "./tcp-frames.ts";
import { UpstreamClient, type Upstream } from "./upstream.ts";

export type DnsServerOptions = {
  /** Where to listen (UDP and TCP, same port; 0 lets the kernel choose). */
  listen: { address: string; port: number };
  /** Also serve TCP (default true). */
  tcp?: boolean;
  upstreams: readonly Upstream[];
  filter: DnsFilter;
  /** The MAC of a LAN client, for groups that name MACs (the inventory's neighbour table). */
  macOf?: (ip: string) => string | undefined;
  /** TTL of the answers the filter makes itself (blocks, built-in names), in seconds. */
  blockTtl?: number;
  cache?: Partial<CacheOptions>;
  /** Records the query log keeps until drained. */
  logCapacity?: number;
  upstreamTimeoutMs?: number;
  /** SO_RCVBUF for the listening UDP socket (Node only, see firmware/logs/socket.ts). */
  recvBufferBytes?: number;
  /** Datagram socket factory (default: the shared socket interface for this runtime). */
  bindDatagram?: (options: BindDatagramOptions) => Promise<DatagramSocket>;
  /** DNS over TCP's limits (defaults: DEFAULT_TCP_LIMITS). */
  tcpLimits?: Partial<TcpLimits>;
};

/**
 * What one LAN host may hold of the TCP service. The slots are few (TCP_MAX_CONNECTIONS for
 * everyone) and a connection is cheap to open and keep: without a cap per address and a
 * deadline per message, one host that opens them all and sends a byte now and then (which
 * resets an idle timer) keeps everyone else off DNS over TCP.
 */
export type TcpLimits = {
  /** Connections one client address may have open; more are closed at once. */
  maxPerClient: number;
  /** From a message's first byte, how long the rest may take (ms). */
  messageMs: number;
  /** How long a connection may stay silent between messages (ms). */
  idleMs: number;
};

export const DEFAULT_TCP_LIMITS: TcpLimits = { maxPerClient: 16, messageMs: 5_000, idleMs: 10_000 };

type Reply = (bytes: Uint8Array) => void;
/** What the server knows of a client address; `ip` is one string per client, kept by the log instead of each datagram's own. */
type ClientInfo = { ip: string; mask: number; group: string | undefined; at: number };
/** The part of a match the log keeps. */
type MatchSnapshot = { palette: number; tier: number; kind: number; depth: number; activeMask: number };

const CLIENT_CACHE_MS = 60_000;
const CLIENT_CACHE_MAX = 4096;
const TCP_MAX_CONNECTIONS = 256;
const TCP_MAX_IN_FLIGHT = 32;
/**
 * Answers queued for a TCP client beyond what the kernel took: past this, the client is not
 * reading them, and the connection ends. Without it a LAN host that pipelines queries and
 * never reads grew the filter's memory without bound (blocked and cached answers are sent at
 * once, so TCP_MAX_IN_FLIGHT never holds them back; a second reader measured 602 MB after
 * 20 MB of queries).
 */
const TCP_MAX_QUEUED_BYTES = 256 << 10;

export class DnsServer {
  private current: DnsFilter;
  private readonly cache: DnsCache;
  private readonly log: QueryLog;
  private readonly upstream: UpstreamClient;
  private readonly counters: DnsCounters = newCounters();
  private readonly scratch = new MatchScratch();
  private readonly cnameScratch = new MatchScratch();
  private readonly reader = new NameReader();
  private clients = new Map<string, ClientInfo>();
  private udp: DatagramSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  /** Open TCP connections per client address. */
  private readonly tcpPerClient = new Map<string, number>();
  private readonly tcpLimits: TcpLimits;

  constructor(private readonly options: DnsServerOptions) {
    this.current = options.filter;
    this.cache = new DnsCache({ ...DEFAULT_CACHE_OPTIONS, ...options.cache });
    this.log = new QueryLog(options.logCapacity);
    this.tcpLimits = { ...DEFAULT_TCP_LIMITS, ...options.tcpLimits };
    this.upstream = new UpstreamClient({
      upstreams: canonicalUpstreams(options.upstreams),
      ...(options.upstreamTimeoutMs === undefined ? {} : { timeoutMs: options.upstreamTimeoutMs }),
      ...(options.bindDatagram ? { bindDatagram: options.bindDatagram } : {}),
    });
    this.upstream.onIgnored = () => {
      this.counters.upstreamIgnored++;
    };
  }

  /** The filter in force. */
  get filter(): DnsFilter {
    return this.current;
  }

  /**
   * Puts a new filter in force: one reference assignment. Queries already past their match
   * finish with the old one; the next query uses the new one. Client groups are looked up
   * again (the groups may have changed); the cache stays (it holds upstream answers, which
   * are checked against the filter in force every time they are served).
   */
  swapFilter(next: DnsFilter): void {
    this.current = next;
    this.clients = new Map();
    this.counters.reloads++;
  }

  /** Forgets what it knew of clients (their groups are looked up again): the MAC table changed. */
  forgetClients(): void {
    this.clients = new Map();
  }

  /** Replaces the upstream resolvers (a new policy). */
  async setUpstreams(upstreams: readonly Upstream[]): Promise<void> {
    await this.upstream.setUpstreams(canonicalUpstreams(upstreams));
  }

  /** Binds UDP, then TCP on the same port; resolves when both listen. */
  async start(): Promise<void> {
    const bind = this.options.bindDatagram ?? bindDatagramSocket;
    await this.upstream.start();
    const udp = await bind({
      address: this.options.listen.address,
      port: this.options.listen.port,
      ...(this.options.recvBufferBytes === undefined ? {} : { recvBufferBytes: this.options.recvBufferBytes }),
    });
    this.udp = udp;
    udp.onMessage((data, peer) => {
      this.handle(data, peer.address, "udp", (bytes) => {
        udp.send(bytes, peer.port, peer.address).catch(() => {
          this.counters.dropped++;
        });
      });
    });
    udp.onError(() => {
      this.counters.dropped++;
    });
    if (this.options.tcp !== false) {
      try {
        this.tcp = await this.listenTcp(this.options.listen.address, udp.local().port);
      } catch (e) {
        await this.stop();
        throw e;
      }
    }
  }

  /** The bound UDP address (the port the kernel chose, when asked for 0). */
  address(): { address: string; port: number } {
    const l = this.udp?.local();
    return l ? { address: l.address, port: l.port } : { address: this.options.listen.address, port: this.options.listen.port };
  }

  /** Which datagram socket implementation serves UDP ("deno" / "node"). */
  get socketImplementation(): string | undefined {
    return this.udp?.implementation;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await this.udp?.close();
    this.udp = undefined;
    await this.upstream.close();
  }

  /** A snapshot of the counters (cache figures included). */
  stats(): DnsCounters & { cacheEntries: number; cacheHitRatio: number; logPending: number } {
    const c = { ...this.counters, logOverwritten: this.log.overwritten };
    const lookups = c.cacheHits + c.cacheMisses;
    return { ...c, cacheEntries: this.cache.size, cacheHitRatio: lookups === 0 ? 0 : c.cacheHits / lookups, logPending: this.log.pending };
  }

  /** Takes up to `max` query records, oldest first (the consumer calls this in batches). */
  drainLog(max?: number): DnsQueryRecord[] {
    return this.log.drain(max);
  }

  /** The answer to one message, as a socket would get it (tests, tools): undefined when dropped. */
  answer(bytes: Uint8Array, client: string, protocol: "udp" | "tcp" = "udp"): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      let replied = false;
      this.handle(bytes, client, protocol, (b) => {
        replied = true;
        resolve(b);
      }, () => {
        if (!replied) resolve(undefined);
      });
    });
  }

  private clientInfo(ip: string, now: number): ClientInfo {
    const known = this.clients.get(ip);
    if (known && now - known.at < CLIENT_CACHE_MS) return known;
    if (this.clients.size >= CLIENT_CACHE_MAX) this.clients = new Map();
    const c = clientCategories(this.current, { ip, mac: this.options.macOf?.(ip) });
    const info = { ip, mask: c.mask, group: c.group, at: now };
    this.clients.set(ip, info);
    return info;
  }

  private record(
    q: Query | undefined, client: string, protocol: "udp" | "tcp", outcome: QueryOutcome, rcode: number, filter: DnsFilter | undefined,
    match: MatchSnapshot | undefined, group: string | undefined, upstream?: string, ms?: number, cname?: Uint8Array, name?: Uint8Array,
  ): void {
    this.log.record(Date.now(), client, protocol, name ?? (q ? q.buf.subarray(HEADER, q.qnameEnd) : undefined), q?.qtype ?? 0, outcome,
      rcode, filter, match as MatchScratch | undefined, group, upstream, ms, cname);
  }

  /**
   * The query path. Synchronous up to the reply for everything but a cache miss. `done` is
   * called when nothing more will be sent (for `answer`).
   */
  private handle(data: Uint8Array, client: string, protocol: "udp" | "tcp", reply: Reply, done?: () => void): void {
    this.counters.queries++;
    const p = parseQuery(data);
    if (p.kind === "drop") {
      this.counters.dropped++;
      done?.();
      return;
    }
    if (p.kind === "error") {
      this.counters.malformed++;
      reply(buildErrorResponse(p, p.rcode, undefined, p.edns ? false : undefined));
      this.record(undefined, client, protocol, "malformed", p.rcode, undefined, undefined, undefined);
      done?.();
      return;
    }
    const q = p.query;
    if (q.qclass !== CLASS_IN) {
      reply(buildErrorResponse(q, RCODE_REFUSED, q, q.edns ? q.edns.do : undefined));
      this.record(q, client, protocol, "refused", RCODE_REFUSED, undefined, undefined, undefined);
      done?.();
      return;
    }
    const now = Date.now();
    const f = this.current;
    const who = this.clientInfo(client, now);
    client = who.ip; // the one string per client the log keeps
    const s = this.scratch;
    const r = this.reader;
    r.read(data, HEADER); // parseQuery has checked the name
    const verdict = matchLabels(f, data, r.labels, r.count, who.mask, s);
    const hi = s.hash[2] ?? 0;
    const lo = s.hash[3] ?? 0;
    const synth = answerFor(f, verdict, q.qtype);
    if (synth) {
      reply(buildSynthResponse(q, synth, this.options.blockTtl ?? 60));
      const outcome: QueryOutcome = verdict === VERDICT_BLOCK ? "blocked" : verdict === VERDICT_DOH ? "doh" : "builtin";
      if (verdict === VERDICT_BLOCK || verdict === VERDICT_DOH) this.counters.blocked++;
      this.record(q, client, protocol, outcome, synth.kind === "nxdomain" ? RCODE_NXDOMAIN : RCODE_NOERROR, f, s, who.group);
      done?.();
      return;
    }
    const limit = protocol === "udp" ? udpLimit(q) : MAX_MESSAGE;
    const hit = this.cache.get(q, hi, lo, now);
    if (hit) {
      this.counters.cacheHits++;
      this.serveAnswer(q, hit.answer, hit.ageSeconds, limit, f, verdict, who, client, protocol, reply, "cached", s);
      done?.();
      return;
    }
    this.counters.cacheMisses++;
    // The datagram's buffer may be reused once this handler returns (Deno): keep a copy.
    const own: Query = { ...q, buf: data.slice(0, q.questionEnd) };
    const snapshot: MatchSnapshot = { palette: s.palette, tier: s.tier, kind: s.kind, depth: s.depth, activeMask: s.activeMask };
    void this.forward(own, hi, lo, limit, f, verdict, who, client, protocol, reply, snapshot).finally(() => done?.());
  }

  private async forward(
    q: Query, hi: number, lo: number, limit: number, f: DnsFilter, verdict: Verdict, who: ClientInfo, client: string,
    protocol: "udp" | "tcp", reply: Reply, match: MatchSnapshot,
  ): Promise<void> {
    const r = await this.upstream.forward(q);
    this.counters.upstreamFailures += r.failures;
    this.counters.tcpRetries += r.tcpRetries;
    if (!r.ok) {
      this.counters.servfail++;
      reply(buildErrorResponse(q, RCODE_SERVFAIL, q, q.edns ? q.edns.do : undefined));
      this.record(q, client, protocol, "servfail", RCODE_SERVFAIL, f, match, who.group);
      return;
    }
    this.counters.forwarded++;
    this.cache.set(q, hi, lo, r.answer, Date.now());
    // The filter may have been swapped while the upstream answered: check against the one in force.
    this.serveAnswer(q, r.answer, 0, limit, this.current, verdict, who, client, protocol, reply, "forwarded", match, r.upstream, r.ms);
  }

  /**
   * Sends an upstream answer, unless it goes through a CNAME the rules block (CNAME
   * cloaking): then the client gets the block answer for its query type. A name the rules
   * explicitly allow is served as it is: the allow was for that site, aliases included.
   */
  private serveAnswer(
    q: Query, a: UpstreamAnswer, age: number, limit: number, f: DnsFilter, verdict: Verdict, who: ClientInfo, client: string,
    protocol: "udp" | "tcp", reply: Reply, outcome: QueryOutcome, match: MatchSnapshot, upstream?: string, ms?: number,
  ): void {
    if (verdict !== VERDICT_ALLOW) {
      const cs = this.cnameScratch;
      for (let k = 0; k < a.cnameTargets.length; k++) {
        const off = a.cnameTargets[k] ?? 0;
        const v = matchNameAt(f, a.message, off, who.mask, cs);
        if (v !== VERDICT_BLOCK && v !== VERDICT_DOH) continue;
        const synth = answerFor(f, v, q.qtype) as SynthAnswer;
        reply(buildSynthResponse(q, synth, this.options.blockTtl ?? 60));
        this.counters.blocked++;
        this.record(q, client, protocol, "blocked-cname", synth.kind === "nxdomain" ? RCODE_NXDOMAIN : RCODE_NOERROR, f, cs, who.group,
          upstream, ms, expandName(a.message, off, cs.reader));
        return;
      }
    }
    reply(buildClientResponse(q, a, age, limit));
    this.record(q, client, protocol, outcome, a.rcode, f, match.palette >= 0 ? match : undefined, who.group, upstream, ms);
  }

  private listenTcp(address: string, port: number): Promise<Server> {
    // Half-open: a client may send its queries and shut its side (RFC 7766 6.2.4); its answers
    // still go out, and this side ends once the last one has.
    const server = createServer({ allowHalfOpen: true }, (sock) => this.serveTcp(sock));
    server.maxConnections = TCP_MAX_CONNECTIONS;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  /** One TCP client: length-prefixed messages, answered as they complete (RFC 7766 allows any order). */
  private serveTcp(sock: Socket): void {
    const client = normaliseAddress(sock.remoteAddress ?? "");
    const limits = this.tcpLimits;
    const open = (this.tcpPerClient.get(client) ?? 0) + 1;
    this.tcpPerClient.set(client, open);
    this.connections.add(sock);
    sock.on("close", () => {
      this.connections.delete(sock);
      const n = (this.tcpPerClient.get(client) ?? 1) - 1;
      if (n > 0) this.tcpPerClient.set(client, n);
      else this.tcpPerClient.delete(client);
    });
    sock.on("error", () => sock.destroy());
    if (open > limits.maxPerClient) {
      sock.destroy();
      return;
    }
    const frames = new TcpFrames();
    let inFlight = 0;
    let ended = false;
    /** Runs while part of a message is buffered: the rest must come within limits.messageMs. */
    let messageTimer: ReturnType<typeof setTimeout> | undefined;
    const finishIfDone = () => {
      if (ended && inFlight === 0 && !sock.destroyed) sock.end();
    };
    sock.setTimeout(limits.idleMs, () => sock.destroy());
    sock.on("close", () => clearTimeout(messageTimer));
    sock.on("end", () => {
      ended = true;
      clearTimeout(messageTimer);
      finishIfDone();
    });
    sock.on("data", (chunk: Uint8Array) => {
      frames.push(chunk);
      let completed = 0;
      for (let msg = frames.next(); msg !== undefined; msg = frames.next()) {
        completed++;
        if (inFlight >= TCP_MAX_IN_FLIGHT) {
          // A client that pipelines without reading is not one we keep serving.
          sock.destroy();
          return;
        }
        inFlight++;
        let answered = false;
        this.handle(msg, client, "tcp", (bytes) => {
          answered = true;
          if (sock.destroyed) return;
          const framed = new Uint8Array(bytes.length + 2);
          framed[0] = bytes.length >>> 8;
          framed[1] = bytes.length & 255;
          framed.set(bytes, 2);
          sock.write(framed);
          if (sock.writableLength > TCP_MAX_QUEUED_BYTES) sock.destroy();
        }, () => {
          inFlight--;
          // An unanswerable message on a stream: the stream is out of step, close it.
          if (!answered) sock.destroy();
          else finishIfDone();
        });
        if (sock.destroyed) return;
      }
      // The deadline is the unfinished message's: it starts again whenever one was completed.
      if (completed > 0 || frames.buffered === 0) {
        clearTimeout(messageTimer);
        messageTimer = undefined;
      }
      if (frames.buffered > 0) messageTimer ??= setTimeout(() => sock.destroy(), limits.messageMs);
    });
  }
}

function normaliseAddress(a: string): string {
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** Upstream addresses in the form the socket reports peers (RFC 5952 for IPv6), so answers match. */
function canonicalUpstreams(list: readonly Upstream[]): Upstream[] {
  return list.map((u) => {
    const v6 = u.address.includes(":") ? parseIpv6(u.address) : undefined;
    return v6 === undefined ? u : { address: formatIpv6(v6), port: u.port };
  });
}
