/**
 * The policy a provider sends to a box (schemaVersion 1), shared by box and provider.
 * Everything a provider sends is parsed here once; the compiler only sees typed values.
 * Every rule carries an `id` that ends up in the nft log prefix, so an event on the box can
 * be traced back to the line of policy that produced it.
 */
import { z } from "zod";
import { MAC_RE, parseIpv4, parseIpv6, parsePrefix } from "./net.ts";

/** Rule ids: short, lower-case, hyphenated; no "." or ":" (those separate fields in log prefixes). */
export const RuleId = z
  .string()
  .max(40, "must be at most 40 characters")
  // No "--": nft object names map "-" to "_" and "." to "__", and must not collide.
  .regex(/^[a-z](-?[a-z0-9])*$/, "must start with a-z and use only a-z, 0-9 and single '-' (not at the end)");

const Port = z.number().int().min(1).max(65535);
/** A port or an inclusive range "6660-6669" written as [first, last]. */
const PortSpec = z.union([
  Port,
  z.tuple([Port, Port]).refine(([a, b]) => a < b, "a port range must be [low, high] with low < high"),
]);
const Protocol = z.enum(["tcp", "udp"]);

const Ipv4 = z.string().refine((s) => parseIpv4(s) !== undefined, "must be an IPv4 address");
const IpAddr = z
  .string()
  .refine((s) => parseIpv4(s) !== undefined || parseIpv6(s) !== undefined, "must be an IPv4 or IPv6 address");
/** "addr" or "addr/len", either family, host bits zero. */
export const Cidr = z.string().superRefine((s, ctx) => {
  const r = parsePrefix(s);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
});

const Text = z.object({ ja: z.string().min(1).max(500), en: z.string().min(1).max(500) });

const Description = z.string().max(500).optional();

export const InboundAllow = z.object({
  id: RuleId,
  description: Description,
  /** The LAN host that serves, and the port it serves on. */
  to: IpAddr,
  protocol: Protocol,
  port: Port,
  /** Router mode: the port on the box's WAN address forwarded to `to:port` (default: `port`). */
  externalPort: Port.optional(),
  /** Limit to these sources (default: anyone). */
  from: z.array(Cidr).max(256).optional(),
});

export const PortScan = z.object({
  id: RuleId,
  enabled: z.boolean(),
  /** New connection attempts per second from one source to closed ports before it is banned. */
  rate: z.number().int().min(1).max(10_000),
  burst: z.number().int().min(1).max(10_000),
  banSeconds: z.number().int().min(10).max(7 * 86_400),
});

export const BruteForce = z.object({
  id: RuleId,
  description: Description,
  service: z.string().min(1).max(40),
  protocol: Protocol,
  ports: z.array(Port).min(1).max(32),
  /** New connections per minute from one source to one of these ports. */
  perMinute: z.number().int().min(1).max(10_000),
  burst: z.number().int().min(1).max(10_000),
  /** Also put the source in the ban set (same ban time as port scans). */
  ban: z.boolean().default(false),
});

export const BlocklistCategory = z.enum(["c2", "botnet", "malware", "phishing", "scanner", "spam", "tor-exit", "other"]);

export const Blocklist = z.object({
  id: RuleId,
  description: Description,
  category: BlocklistCategory,
  /** outbound: LAN → listed; inbound: listed → LAN (and the box); both: either. */
  direction: z.enum(["both", "outbound", "inbound"]).default("both"),
  entries: z.array(Cidr).max(2_000_000),
});

export const OutboundBlock = z.object({
  id: RuleId,
  protocol: z.enum(["tcp", "udp", "both"]),
  ports: z.array(PortSpec).min(1).max(64),
  reason: Text,
});

export const Domain = z
  .string()
  .max(253)
  .regex(/^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i, "must be a domain name");

export const DnsCategory = z.enum([
  "malware", "phishing", "c2", "adult", "gambling", "online-storage", "social", "ads", "tracking",
  "doh", "piracy", "scam", "other",
]);

export const DnsList = z.object({
  id: RuleId,
  category: DnsCategory,
  format: z.enum(["hosts", "domains", "adblock"]),
  /** exact: only the name itself; subdomain: the name and every name below it. */
  match: z.enum(["exact", "subdomain"]),
  /** Where the box fetches it (provider URL), or inline entries for small lists. */
  url: z.string().url().optional(),
  entries: z.array(z.string().max(300)).max(2_000_000).optional(),
}).refine((l) => (l.url === undefined) !== (l.entries === undefined), "give exactly one of url or entries");

export { MAC_RE };

/** Who a client group holds: an IPv4/IPv6 address, a prefix (CIDR) or a MAC address. */
export const DnsClientSelector = z.string().max(64).superRefine((s, ctx) => {
  if (MAC_RE.test(s)) return;
  const r = parsePrefix(s);
  if (!r.ok) ctx.addIssue({ code: "custom", message: `must be an IP address, a prefix (CIDR) or a MAC address: ${r.error}` });
});

/**
 * Per-client DNS categories: the clients a group names get the group's `blockCategories`
 * instead of the policy's. A client named by several groups gets the most specific one:
 * a MAC address, then the longest prefix (a host address is the longest); ties go to the
 * group listed first. Clients in no group get the policy's `blockCategories`.
 */
export const DnsClientGroup = z.object({
  id: RuleId,
  description: Description,
  clients: z.array(DnsClientSelector).min(1).max(1024),
  blockCategories: z.array(DnsCategory).max(32),
});

/**
 * What the admin page adds on the box itself (not part of the provider's policy): allow a
 * site the lists block, or block one they do not. Same name syntax as the policy's
 * `allow`/`block`. They beat every provider list and the policy's own allow/block.
 */
export const DnsLocalOverrides = z.object({
  allow: z.array(Domain).max(10_000).default([]),
  block: z.array(Domain).max(10_000).default([]),
});
export type DnsLocalOverrides = z.infer<typeof DnsLocalOverrides>;

/**
 * The DNS filter's section of the policy (firmware/dns). Names in `allow`, `block` and
 * `dohNames` mean the name and every name below it; "*.name" means only the names below.
 */
export const DnsPolicy = z.object({
  enabled: z.boolean(),
  /** What a blocked A/AAAA query gets: the block page's address, NXDOMAIN, or 0.0.0.0 / ::. */
  response: z.enum(["blockpage", "nxdomain", "null"]),
  blockCategories: z.array(DnsCategory).max(32),
  lists: z.array(DnsList).max(64),
  allow: z.array(Domain).max(10_000),
  block: z.array(Domain).max(10_000),
  /** Names of DoH services refused with NXDOMAIN, and their addresses dropped on 443. */
  dohNames: z.array(Domain).max(1_000),
  dohAddresses: z.array(IpAddr).max(1_000),
  /** Resolvers the filter forwards to (empty: the ones DHCP gave the box). */
  upstreams: z.array(IpAddr).max(8),
  /** Per-client categories (default: none, everyone gets `blockCategories`). */
  groups: z.array(DnsClientGroup).max(32).default([]),
  /**
   * Categories the local admin page may switch on or off on the box (policies/overrides.ts).
   * The default leaves the security categories (malware, phishing, c2, scam, doh) to the
   * provider: an office worker can relax "social", never "phishing".
   */
  localSwitchable: z.array(DnsCategory).max(32).default(["adult", "gambling", "online-storage", "social", "ads", "tracking", "piracy", "other"]),
});
export type DnsPolicy = z.infer<typeof DnsPolicy>;
export type DnsList = z.infer<typeof DnsList>;
export type DnsCategory = z.infer<typeof DnsCategory>;
export type DnsClientGroup = z.infer<typeof DnsClientGroup>;

export const Policy = z
  .object({
    schemaVersion: z.literal(1),
    /** The provider's id for this policy, and a serial that only ever grows. */
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 . _ -"),
    serial: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    description: Description,
    inbound: z.object({
      /** Inbound is default-deny; this is not a setting a provider can turn off. */
      default: z.literal("drop"),
      allow: z.array(InboundAllow).max(256),
    }),
    portScan: PortScan,
    bruteForce: z.array(BruteForce).max(32),
    blocklists: z.array(Blocklist).max(32),
    outbound: z.object({ block: z.array(OutboundBlock).max(64) }),
    dns: DnsPolicy,
  })
  .superRefine((p, ctx) => {
    // Ids must be unique across the policy: they are the key events are classified by.
    const seen = new Map<string, string>();
    const visit = (id: string, path: (string | number)[]) => {
      const where = path.join(".");
      const before = seen.get(id);
      if (before) ctx.addIssue({ code: "custom", path: [...path, "id"], message: `duplicate rule id "${id}" (also at ${before})` });
      else seen.set(id, where);
    };
    p.inbound.allow.forEach((r, i) => visit(r.id, ["inbound", "allow", i]));
    visit(p.portScan.id, ["portScan"]);
    p.bruteForce.forEach((r, i) => visit(r.id, ["bruteForce", i]));
    p.blocklists.forEach((r, i) => visit(r.id, ["blocklists", i]));
    p.outbound.block.forEach((r, i) => visit(r.id, ["outbound", "block", i]));
    p.dns.lists.forEach((r, i) => visit(r.id, ["dns", "lists", i]));
    p.dns.groups.forEach((r, i) => visit(r.id, ["dns", "groups", i]));
  });

export type Policy = z.infer<typeof Policy>;
export type InboundAllow = z.infer<typeof InboundAllow>;
export type BruteForce = z.infer<typeof BruteForce>;
export type Blocklist = z.infer<typeof Blocklist>;
export type OutboundBlock = z.infer<typeof OutboundBlock>;
export type BlocklistCategory = z.infer<typeof BlocklistCategory>;

export { Ipv4 };

/** Expected failure of parsing: every problem with the path it is at. */
export type SchemaProblem = { path: string; message: string };
export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: SchemaProblem[] };

/** Turns zod issues into "path: problem" lines a person can act on. */
export function describeIssues(error: z.ZodError): SchemaProblem[] {
  return error.issues.map((i) => ({
    path: i.path.length === 0 ? "(top level)" : i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, ""),
    message: i.message,
  }));
}

/** Formats problems one per line, at most `max` of them. */
export function formatProblems(problems: readonly SchemaProblem[], max = 20): string {
  const lines = problems.slice(0, max).map((p) => `  ${p.path}: ${p.message}`);
  if (problems.length > max) lines.push(`  … and ${problems.length - max} more`);
  return lines.join("\n");
}

/** Parses an untrusted value (already JSON-decoded) as a policy. */
export function parsePolicy(input: unknown): ParseResult<Policy> {
  const r = Policy.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, problems: describeIssues(r.error) };
}

/** Parses policy JSON text; a syntax error is a problem at the top level, not an exception. */
export function parsePolicyText(text: string): ParseResult<Policy> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, problems: [{ path: "(file)", message: `not valid JSON: ${(e as Error).message}` }] };
  }
  return parsePolicy(raw);
}
