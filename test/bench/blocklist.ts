// A realistic 100k-entry blocklist for the benches, as DESIGN.md "nftables facts" describes
// C&C feeds: almost all single addresses (hash sets, diffable), a small share of prefixes
// (interval sets, kept small). Pure and seeded: the same seed gives the same lists, so every
// run of a bench measures the same work.
//
// Addresses come from ranges that carry no lab traffic: IPv4 hosts in 100.64.0.0/11 and
// 198.18.0.0/15, IPv4 prefixes in 100.96.0.0/11, IPv6 hosts in 2001:db8:8000::/34 and IPv6
// prefixes in 2001:db8:c000::/34 (the lab itself lives in 192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8:2::/64 and 2001:db8:100::/64, which the lists never touch, so the
// forwarding bench's traffic is never blocked). Hosts and prefixes are disjoint, so the
// compiler's collapse keeps every entry.
import { formatIpv4, formatIpv6 } from "../../policies/net.ts";

/** How a 100k blocklist splits (DESIGN.md: C&C feeds are almost all single addresses). */
export const BLOCKLIST_SHAPE = {
  hosts4: 88_650,
  hosts6: 9_850,
  prefixes4: 1_200,
  prefixes6: 300,
} as const;

/** The baseline's three lists get these shares of every kind of entry. */
export const LIST_SHARES = { "c2-feed": 0.3, "botnet-feed": 0.5, "scanner-feed": 0.2 } as const;
export type ListId = keyof typeof LIST_SHARES;
export const LIST_IDS = Object.keys(LIST_SHARES) as ListId[];

export type Blocklists = Record<ListId, { hosts: string[]; prefixes: string[] }>;

/** mulberry32: small, fast, good enough to scatter addresses; seeded for repeatability. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rnd: () => number, n: number) => Math.floor(rnd() * n);
const V4_100_64 = 0x64400000; // 100.64.0.0
const V4_100_96 = 0x64600000; // 100.96.0.0
const V4_198_18 = 0xc6120000; // 198.18.0.0
const V6_DOC = 0x20010db8n << 96n; // 2001:db8::

/** A random IPv4 host from the host ranges (80 % 100.64.0.0/11, 20 % 198.18.0.0/15). */
function randomHost4(rnd: () => number): string {
  return rnd() < 0.8 ? formatIpv4(V4_100_64 + int(rnd, 1 << 21)) : formatIpv4(V4_198_18 + int(rnd, 1 << 17));
}

/** A random IPv6 host in 2001:db8:8000::/34 with a random 64-bit interface id. */
function randomHost6(rnd: () => number): string {
  const net = (0x8000n + BigInt(int(rnd, 0x4000))) << 80n | BigInt(int(rnd, 0x10000)) << 64n;
  const iid = BigInt(int(rnd, 2 ** 32)) << 32n | BigInt(int(rnd, 2 ** 32));
  return formatIpv6(V6_DOC | net | iid);
}

/** Draws `n` distinct values from `draw`, none of them in `exclude`. */
function distinct(n: number, draw: () => string, exclude: ReadonlySet<string> = new Set()): string[] {
  const out = new Set<string>();
  while (out.size < n) {
    const v = draw();
    if (!exclude.has(v)) out.add(v);
  }
  return [...out];
}

/** Prefixes, each alone in its own slot, so none overlaps another (nft would reject that). */
function prefixes4(n: number, rnd: () => number): string[] {
  // 2,048 /22 slots in 100.96.0.0/11; lengths /22../30 placed at a random aligned offset.
  const slots = distinct(n, () => String(int(rnd, 2048))).map(Number);
  return slots.map((slot) => {
    const len = 22 + int(rnd, 9);
    const offset = int(rnd, 1 << (len - 22)) << (32 - len);
    return `${formatIpv4(V4_100_96 + slot * 1024 + offset)}/${len}`;
  });
}

function prefixes6(n: number, rnd: () => number): string[] {
  // /48 slots in 2001:db8:c000::/34; lengths /48../64 at a random aligned offset.
  const slots = distinct(n, () => String(int(rnd, 0x4000))).map(Number);
  return slots.map((slot) => {
    const len = 48 + int(rnd, 17);
    const offset = BigInt(int(rnd, 2 ** (len - 48))) << BigInt(128 - len);
    return `${formatIpv6(V6_DOC | (0xc000n + BigInt(slot)) << 80n | offset)}/${len}`;
  });
}

/** Splits `items` over the three lists by LIST_SHARES (deterministically). */
function split(items: string[]): Record<ListId, string[]> {
  const out = { "c2-feed": [], "botnet-feed": [], "scanner-feed": [] } as Record<ListId, string[]>;
  let start = 0;
  LIST_IDS.forEach((id, i) => {
    const end = i === LIST_IDS.length - 1 ? items.length : start + Math.round(items.length * LIST_SHARES[id]);
    out[id] = items.slice(start, end);
    start = end;
  });
  return out;
}

/** The 100k blocklist (BLOCKLIST_SHAPE), split over the baseline's lists. */
export function buildBlocklists(seed = 1): Blocklists {
  const rnd = seededRandom(seed);
  const h4 = split(distinct(BLOCKLIST_SHAPE.hosts4, () => randomHost4(rnd)));
  const h6 = split(distinct(BLOCKLIST_SHAPE.hosts6, () => randomHost6(rnd)));
  const p4 = split(prefixes4(BLOCKLIST_SHAPE.prefixes4, rnd));
  const p6 = split(prefixes6(BLOCKLIST_SHAPE.prefixes6, rnd));
  const out = {} as Blocklists;
  for (const id of LIST_IDS) out[id] = { hosts: [...h4[id], ...h6[id]], prefixes: [...p4[id], ...p6[id]] };
  return out;
}

/** Number of entries over all lists. */
export function countEntries(lists: Blocklists): { hosts: number; prefixes: number } {
  let hosts = 0;
  let prefixes = 0;
  for (const id of LIST_IDS) {
    hosts += lists[id].hosts.length;
    prefixes += lists[id].prefixes.length;
  }
  return { hosts, prefixes };
}

/**
 * A feed update: `fraction` of the hosts of every list removed and as many new hosts added
 * (of the same family, never listed before). Prefixes stay: they live in interval sets,
 * which are rebuilt with the table, not diffed.
 */
export function changeHosts(lists: Blocklists, fraction: number, seed: number): { lists: Blocklists; removed: number; added: number } {
  const rnd = seededRandom(seed);
  const all = new Set(LIST_IDS.flatMap((id) => lists[id].hosts));
  const out = {} as Blocklists;
  let removed = 0;
  let added = 0;
  for (const id of LIST_IDS) {
    const hosts = lists[id].hosts;
    const n = Math.round(hosts.length * fraction);
    const drop = new Set(distinct(n, () => String(int(rnd, hosts.length))).map(Number));
    const kept = hosts.filter((_, i) => !drop.has(i));
    const dropped = hosts.filter((_, i) => drop.has(i));
    const n6 = dropped.filter((h) => h.includes(":")).length;
    const fresh = [
      ...distinct(n - n6, () => randomHost4(rnd), all),
      ...distinct(n6, () => randomHost6(rnd), all),
    ];
    for (const h of fresh) all.add(h);
    out[id] = { hosts: [...kept, ...fresh], prefixes: [...lists[id].prefixes] };
    removed += n;
    added += fresh.length;
  }
  return { lists: out, removed, added };
}
