/**
 * Local overrides: what the admin page changes on the box itself, on top of the provider's
 * policy. They are kept apart from the policy (a new provider policy never erases them) and
 * merged at compile time with one precedence, documented in policies/README.md:
 *
 *   1. a blocked device (by MAC) loses all traffic through the box;
 *   2. local allow / block of a domain beat every provider list and the policy's own
 *      allow / block (firmware/dns/filter.ts, "local");
 *   3. a category switched on or off locally replaces the provider's choice for everyone
 *      (the default and every client group), but only for the categories the provider
 *      lets the box switch (`dns.localSwitchable`).
 *
 * Pure: parse, change and merge plain values. The firmware keeps them (firmware/policy).
 */
import { z } from "zod";
import { DnsCategory, Domain, MAC_RE, type DnsLocalOverrides, type Policy } from "./schema.ts";

/**
 * A device's MAC as the inventory stores it: lower case, ":"-separated. Group addresses
 * (broadcast, multicast: the low bit of the first octet set) are not devices, and blocking
 * one would cut ARP, DHCP or IPv6 neighbour discovery for the whole LAN.
 */
export const Mac = z.string().regex(MAC_RE, "must be a MAC address (six pairs of hex digits)")
  .transform((s) => s.toLowerCase().replaceAll("-", ":"))
  .refine((s) => (Number.parseInt(s.slice(0, 2), 16) & 1) === 0, "must be a device's MAC address, not a broadcast or multicast one");

/** The most each list may hold (the schema's limits: a change that would pass them is refused). */
export const MAX_LOCAL_DOMAINS = 10_000;
export const MAX_BLOCKED_DEVICES = 1024;

/** The domain syntax of kept overrides (a file written by an older version is read as it was). */
function KeptDomainOf() {
  return z.string().trim().max(253).pipe(Domain).transform((s) => s.toLowerCase().replace(/\.$/, ""));
}
const KeptDomain = KeptDomainOf();

/**
 * A domain name typed by a person: trimmed, lower case, without a trailing dot. At least two
 * labels and no "*." form: a local allow beats every provider list (malware and C&C too), so
 * one entry must never open a whole top-level domain ("com", "*.jp").
 */
export const OverrideDomain = KeptDomainOf()
  .refine((s) => !s.startsWith("*.") && s.includes("."), "must be a site's name with at least two labels (example.jp), not a whole top-level domain");

export const LocalOverrides = z.object({
  dns: z.object({
    allow: z.array(KeptDomain).max(MAX_LOCAL_DOMAINS).default([]),
    block: z.array(KeptDomain).max(MAX_LOCAL_DOMAINS).default([]),
    /** category → blocked (true) or not (false); absent: the provider's choice. */
    categories: z.partialRecord(DnsCategory, z.boolean()).default({}),
  }).default({ allow: [], block: [], categories: {} }),
  blockedDevices: z.array(Mac).max(MAX_BLOCKED_DEVICES).default([]),
});
export type LocalOverrides = z.infer<typeof LocalOverrides>;

export const EMPTY_OVERRIDES: LocalOverrides = { dns: { allow: [], block: [], categories: {} }, blockedDevices: [] };

/** One change the admin page asks for (parsed from a form with this schema). */
export const OverrideChange = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("allow-domain"), domain: OverrideDomain }),
  z.object({ kind: z.literal("block-domain"), domain: OverrideDomain }),
  /** Removes the domain from both local lists: the provider's lists decide again. */
  z.object({ kind: z.literal("reset-domain"), domain: OverrideDomain }),
  z.object({ kind: z.literal("set-category"), category: DnsCategory, blocked: z.boolean() }),
  z.object({ kind: z.literal("reset-category"), category: DnsCategory }),
  z.object({ kind: z.literal("block-device"), mac: Mac }),
  z.object({ kind: z.literal("unblock-device"), mac: Mac }),
]);
export type OverrideChange = z.infer<typeof OverrideChange>;

/** One line of the ポリシー page's history: a provider policy applied, or a local change. */
export type PolicyHistoryEntry = {
  id: number;
  time: number;
  source: "provider" | "local";
  policyId: string;
  serial: number;
  /** A local change: what was asked. */
  change?: OverrideChange;
  /** A provider policy: rule ids added, removed and changed against the one before. */
  diff?: { added: string[]; removed: string[]; changed: string[] };
};

export type ChangeOutcome = { ok: true; overrides: LocalOverrides } | { ok: false; error: string };

const without = <T>(xs: readonly T[], x: T): T[] => xs.filter((y) => y !== x);
const withOne = <T>(xs: readonly T[], x: T): T[] => (xs.includes(x) ? [...xs] : [...xs, x]);

/**
 * The overrides after one change (pure). Refused: switching a category the provider does not
 * let the box switch, and growing a list past its limit (the kept file would no longer parse).
 * Resetting a category is always allowed: it removes a switch a newer policy may have made
 * stale, and never turns anything off.
 */
export function applyOverrideChange(policy: Policy, current: LocalOverrides, change: OverrideChange): ChangeOutcome {
  const dns = current.dns;
  const full = (list: readonly string[], x: string, max: number, what: string): ChangeOutcome | undefined =>
    !list.includes(x) && list.length >= max ? { ok: false, error: `the local ${what} list is full (${max} entries)` } : undefined;
  switch (change.kind) {
    case "allow-domain":
      return full(dns.allow, change.domain, MAX_LOCAL_DOMAINS, "allow")
        ?? ok({ ...current, dns: { ...dns, allow: withOne(dns.allow, change.domain), block: without(dns.block, change.domain) } });
    case "block-domain":
      return full(dns.block, change.domain, MAX_LOCAL_DOMAINS, "block")
        ?? ok({ ...current, dns: { ...dns, block: withOne(dns.block, change.domain), allow: without(dns.allow, change.domain) } });
    case "reset-domain":
      return ok({ ...current, dns: { ...dns, allow: without(dns.allow, change.domain), block: without(dns.block, change.domain) } });
    case "set-category":
    case "reset-category": {
      if (change.kind === "set-category" && !policy.dns.localSwitchable.includes(change.category)) {
        return { ok: false, error: `the provider's policy does not let the box switch category ${change.category}` };
      }
      const categories = { ...dns.categories };
      if (change.kind === "set-category") categories[change.category] = change.blocked;
      else delete categories[change.category];
      return ok({ ...current, dns: { ...dns, categories } });
    }
    case "block-device":
      return full(current.blockedDevices, change.mac, MAX_BLOCKED_DEVICES, "blocked device")
        ?? ok({ ...current, blockedDevices: withOne(current.blockedDevices, change.mac) });
    case "unblock-device":
      return ok({ ...current, blockedDevices: without(current.blockedDevices, change.mac) });
  }
}

const ok = (overrides: LocalOverrides): ChangeOutcome => ({ ok: true, overrides });

/** What the compilers get: the policy with the local category switches applied, and the local name rules. */
export type MergedPolicy = { policy: Policy; dnsOverrides: DnsLocalOverrides; blockedDevices: string[] };

/**
 * The provider policy with the local overrides merged in (pure). Category switches apply only
 * where the policy allows them (an override kept from an older policy that no longer does is
 * ignored, not an error).
 */
export function mergeOverrides(policy: Policy, overrides: LocalOverrides): MergedPolicy {
  const switches = Object.entries(overrides.dns.categories)
    .filter(([c]) => policy.dns.localSwitchable.includes(c as DnsCategory)) as [DnsCategory, boolean][];
  const switched = (cats: readonly DnsCategory[]): DnsCategory[] => {
    const set = new Set(cats);
    for (const [c, blocked] of switches) {
      if (blocked) set.add(c);
      else set.delete(c);
    }
    return DnsCategory.options.filter((c) => set.has(c));
  };
  const merged: Policy = switches.length === 0 ? policy : {
    ...policy,
    dns: {
      ...policy.dns,
      blockCategories: switched(policy.dns.blockCategories),
      groups: policy.dns.groups.map((g) => ({ ...g, blockCategories: switched(g.blockCategories) })),
    },
  };
  return {
    policy: merged,
    dnsOverrides: { allow: [...overrides.dns.allow], block: [...overrides.dns.block] },
    blockedDevices: [...new Set(overrides.blockedDevices)].sort(),
  };
}

/** Parses kept overrides; anything unreadable gives a clear error (the caller keeps what it has). */
export function parseOverrides(input: unknown): { ok: true; value: LocalOverrides } | { ok: false; error: string } {
  const r = LocalOverrides.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
}
