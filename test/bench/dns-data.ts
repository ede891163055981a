// The DNS benches' inputs: a ~1 M-name blocklist, allowed names, and dnsperf query files.
// Real names from ../shared/data/dns when that directory is there (never committed, never
// needed by a test); generated lists of the same shape otherwise. Every result says which.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";

export const SHARED_DNS_DIR = resolve(import.meta.dirname ?? ".", "../../../shared/data/dns");

export type DnsBenchData = {
  /** Where the names came from. */
  source: "shared-data" | "generated";
  /** What `source` means, for the result's notes. */
  description: string;
  /** The blocklist (distinct names, lower case). */
  list: string[];
  /** Names no list entry covers (not equal to, not below a listed name): forwarded upstream. */
  allowed: string[];
};

const TLDS = ["com", "net", "org", "jp", "co.jp", "info", "io", "de", "ru", "xyz"];
const word = (i: number, salt: number) => ((Math.imul(i, 2654435761) + salt) >>> 0).toString(36);

/**
 * The union of the category lists of the shared data (real names), topped up with generated
 * ones to `size`; allowed names from its `popular` list (rank order) that the list does not
 * cover. Without the shared data, generated names: a third with a subdomain label, ten TLDs.
 */
export function loadDnsBenchData(size = 1_000_000): DnsBenchData {
  if (existsSync(join(SHARED_DNS_DIR, "popular.txt.gz"))) {
    const read = (f: string) => gunzipSync(readFileSync(join(SHARED_DNS_DIR, f))).toString("utf8").split("\n").filter(Boolean);
    const names = new Set<string>();
    const files = readdirSync(SHARED_DNS_DIR).filter((f) => f.endsWith(".txt.gz") && f !== "popular.txt.gz").sort();
    for (const f of files) for (const n of read(f)) names.add(n);
    const real = names.size;
    const list = [...names];
    for (let i = 0; list.length < size; i++) list.push(`gen-${word(i, 5)}-${i}.blocklist.test`);
    list.length = Math.min(list.length, size);
    const listed = new Set(list);
    const covered = (n: string) => {
      for (let i = n.indexOf("."), s = n; ; i = s.indexOf(".")) {
        if (listed.has(s)) return true;
        if (i < 0) return false;
        s = s.slice(i + 1);
      }
    };
    const allowed = read("popular.txt.gz").filter((n) => !covered(n));
    return {
      source: "shared-data", list, allowed,
      description: `../shared/data/dns: the union of ${files.length} category lists (${real} distinct real names${real < size ? `, topped up with ${size - real} generated names` : ""}); allowed names from its popular list that no listed name covers (${allowed.length})`,
    };
  }
  const list: string[] = [];
  for (let i = 0; i < size; i++) list.push(`${i % 3 === 0 ? `${word(i, 7)}.` : ""}${word(i, 1)}-${word(i, 3)}.${TLDS[i % TLDS.length]}`);
  const allowed: string[] = [];
  for (let i = 0; i < 70_000; i++) allowed.push(`www.${word(i, 11)}allowed.${TLDS[i % TLDS.length]}`);
  return {
    source: "generated", list, allowed,
    description: `generated (no ../shared/data/dns): ${size} names of the real lists' shape (a third with a subdomain label, ten TLDs), 70,000 allowed names`,
  };
}

/** Writes the list as a plain domain list (ours) and as dnsmasq `address=/NAME/…` lines. */
export function writeDnsLists(dir: string, data: DnsBenchData, blockAddress: string): { domains: string; dnsmasqConf: string; hosts: string } {
  const domains = join(dir, "list.txt");
  const dnsmasqConf = join(dir, "list.dnsmasq.conf");
  const hosts = join(dir, "list.hosts");
  writeFileSync(domains, `${data.list.join("\n")}\n`);
  writeFileSync(dnsmasqConf, data.list.map((n) => `address=/${n}/${blockAddress}\n`).join(""));
  writeFileSync(hosts, data.list.map((n) => `${blockAddress} ${n}\n`).join(""));
  return { domains, dnsmasqConf, hosts };
}

/** The three kinds of query in the mix, in equal shares. */
export type QueryKind = "blocked" | "cached" | "upstream";

/**
 * A dnsperf query file: one third each of blocked names (random list entries), a thousand
 * allowed names asked again and again (cache hits after the first), and allowed names never
 * asked before (`bench-<tag>-<i>.` in front of a popular name: a cache miss, forwarded). `tag`
 * keeps the new names of one file apart from every other file's, so long-lived servers see
 * fresh names in every run.
 */
export function writeQueryMix(path: string, data: DnsBenchData, tag: string, queries = 1_200_000, seed = 12345): number {
  const lines: string[] = [];
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const cached = data.allowed.slice(0, 1000);
  const rest = data.allowed.slice(1000);
  for (let i = 0; lines.length < queries; i++) {
    lines.push(`${data.list[Math.floor(rnd() * data.list.length)]} A`);
    lines.push(`${cached[i % cached.length]} A`);
    lines.push(`bench-${tag}-${i}.${rest[i % rest.length]} A`);
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
  return lines.length;
}

/** Which share of the mix a query name belongs to (for per-kind latencies). */
export function queryKind(name: string, cached: ReadonlySet<string>): QueryKind {
  return /^bench-[^.]*-\d+\./.test(name) ? "upstream" : cached.has(name) ? "cached" : "blocked";
}
