/**
 * IP address and prefix values, parsed once at the edge and kept in canonical text form
 * (dotted quad; RFC 5952 for IPv6, which is also how nft prints them), so that a policy's
 * blocklist and nft's listing of a set compare as plain strings.
 */

export type IpFamily = 4 | 6;

/**
 * A MAC address as the neighbour table prints it: six pairs of hex digits separated by ":" or
 * "-". Here, not in schema.ts, so that code which only needs the pattern (the DNS filter on
 * its worker) does not load zod: about 9 MB of a worker's heap (firmware/dns/README.md).
 */
export const MAC_RE = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/** A parsed prefix: `bits` is the address as a bigint, `len` the prefix length. */
export type Prefix = { family: IpFamily; bits: bigint; len: number };

/**
 * Parses an IPv4 address to its 32-bit value, or undefined. Strict dotted quad: four
 * decimal octets, no leading zeros (which some parsers read as octal). A char-code loop,
 * not a regex: blocklists have hundreds of thousands of entries.
 */
export function parseIpv4(text: string): number | undefined {
  return parseIpv4Range(text, 0, text.length);
}

function parseIpv4Range(text: string, from: number, to: number): number | undefined {
  let value = 0;
  let octets = 0;
  let i = from;
  while (octets < 4) {
    const start = i;
    let octet = 0;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return undefined;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (i >= to || text.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === to ? value : undefined;
}

/** Parses an IPv6 address (any valid text form, incl. embedded IPv4) to a bigint, or undefined. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = head.indexOf("::");
  if (dbl !== -1 && head.indexOf("::", dbl + 1) !== -1) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl === -1) {
    const g = parseGroups(head);
    if (!g || g.length !== 8) return undefined;
    groups = g;
  } else {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | BigInt(tailV4);
  return v;
}

/** Formats a 32-bit value as a dotted quad. */
export function formatIpv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Formats an IPv6 value in RFC 5952 canonical form (lower case, longest zero run as ::). */
export function formatIpv6(v: bigint): string {
  return formatIpv6Groups(prefixGroups(v));
}

/** Parses "addr" or "addr/len" of either family. Host bits must be zero. */
export function parsePrefix(text: string): { ok: true; value: Prefix } | { ok: false; error: string } {
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const lenText = slash === -1 ? undefined : text.slice(slash + 1);
  let family: IpFamily;
  let bits: bigint;
  const v4 = parseIpv4(addrText);
  if (v4 !== undefined) {
    family = 4;
    bits = BigInt(v4);
  } else {
    const v6 = parseIpv6(addrText);
    if (v6 === undefined) return { ok: false, error: `not an IPv4 or IPv6 address: ${JSON.stringify(addrText)}` };
    family = 6;
    bits = v6;
  }
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
      return { ok: false, error: `prefix length must be 0..${max}: ${JSON.stringify(text)}` };
    }
    len = Number(lenText);
  }
  const hostMask = (1n << BigInt(max - len)) - 1n;
  if ((bits & hostMask) !== 0n) {
    return { ok: false, error: `host bits set in ${JSON.stringify(text)} (did you mean ${formatPrefix({ family, bits: bits & ~hostMask, len })}?)` };
  }
  return { ok: true, value: { family, bits, len } };
}

/** Canonical text of an address (no length) when it is a host prefix, else "addr/len". */
export function formatPrefix(p: Prefix): string {
  const max = p.family === 4 ? 32 : 128;
  const addr = p.family === 4 ? formatIpv4(Number(p.bits)) : formatIpv6(p.bits);
  return p.len === max ? addr : `${addr}/${p.len}`;
}

export function isHost(p: Prefix): boolean {
  return p.len === (p.family === 4 ? 32 : 128);
}

/** Whether `outer` contains `inner` (same family). */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.len > inner.len) return false;
  const max = outer.family === 4 ? 32 : 128;
  const shift = BigInt(max - outer.len);
  return (outer.bits >> shift) === (inner.bits >> shift);
}

/**
 * Collapses prefixes of one family: sorted by address, duplicates and prefixes covered by a
 * shorter one removed. nft rejects overlapping elements in an interval set, and a host that
 * a blocked prefix already covers needs no hash-set entry either.
 */
export function collapsePrefixes(prefixes: readonly Prefix[]): Prefix[] {
  const sorted = [...prefixes].sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.bits < b.bits ? -1 : a.bits > b.bits ? 1 : a.len - b.len);
  const out: Prefix[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && containsPrefix(last, p)) continue;
    out.push(p);
  }
  return out;
}

/** A blocklist's entries split the way nft stores them best, each part sorted and canonical. */
export type AddressList = { hosts4: string[]; nets4: Prefix[]; hosts6: string[]; nets6: Prefix[] };

/**
 * Splits address/prefix texts into single hosts and prefixes per family, with duplicates and
 * entries covered by a listed prefix removed. IPv4 (almost all of a C&C feed) takes a path
 * on plain numbers and typed-array sorts; IPv6 goes through `collapsePrefixes`. Entries that
 * do not parse are skipped: the schema has rejected them before this is called.
 */
export function splitAddressList(entries: readonly string[]): AddressList {
  // IPv4 hosts as one number each: the address times 2^21 plus the entry's index (a policy
  // list holds at most 2 M entries < 2^21, and 2^32 * 2^21 < 2^53, so it is exact). A native
  // sort of those orders by address, and the index gives back the entry's own text, which
  // is already canonical (the parser takes only strict dotted quads): no string is built.
  const packed = new Float64Array(entries.length);
  let nPacked = 0;
  const nets: { start: number; end: number; len: number }[] = [];
  const v6Nets: Prefix[] = [];
  const v6Hosts: Uint16Array[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const slash = e.indexOf("/");
    const v = parseIpv4Range(e, 0, slash === -1 ? e.length : slash);
    if (v !== undefined) {
      if (slash === -1) { packed[nPacked++] = v * INDEX_SPAN + i; continue; }
      const lenText = e.slice(slash + 1);
      const len = /^\d{1,2}$/.test(lenText) ? Number(lenText) : -1;
      if (len < 0 || len > 32) continue;
      const size = 2 ** (32 - len);
      if (v % size !== 0) continue; // host bits set: not a valid prefix
      if (len === 32) packed[nPacked++] = v * INDEX_SPAN + i;
      else nets.push({ start: v, end: v + size - 1, len });
      continue;
    }
    if (slash === -1) {
      const g = parseIpv6Groups(e);
      if (g) v6Hosts.push(g);
      continue;
    }
    const r = parsePrefix(e);
    if (r.ok && r.value.family === 6) {
      if (r.value.len === 128) v6Hosts.push(parseIpv6Groups(e.slice(0, slash))!);
      else v6Nets.push(r.value);
    }
  }
  nets.sort((a, b) => a.start - b.start || a.len - b.len);
  const keptNets: typeof nets = [];
  for (const n of nets) {
    const last = keptNets[keptNets.length - 1];
    if (last && n.start >= last.start && n.end <= last.end) continue; // CIDRs nest or are disjoint
    keptNets.push(n);
  }
  const sorted = packed.subarray(0, nPacked).sort();
  const hosts4: string[] = [];
  let j = 0;
  let previous = -1;
  for (let k = 0; k < sorted.length; k++) {
    const x = sorted[k]!;
    const h = Math.floor(x / INDEX_SPAN);
    if (h === previous) continue;
    previous = h;
    while (j < keptNets.length && keptNets[j]!.end < h) j++;
    const net = keptNets[j];
    if (net && net.start <= h && h <= net.end) continue;
    const e = entries[x - h * INDEX_SPAN]!;
    const slash = e.indexOf("/");
    hosts4.push(slash === -1 ? e : e.slice(0, slash));
  }
  // IPv6: prefixes (few) through the general collapse; hosts (many) without bigints. Each
  // address's sort key is its eight groups as eight UTF-16 code units: strings compare code
  // unit by code unit, which is the address order. The collapsed prefixes are disjoint and
  // sorted, so a host's cover is found by a binary search on the same keys.
  const nets6 = collapsePrefixes(v6Nets);
  const netKeys = nets6.map((n) => ({ first: groupsKey(prefixGroups(n.bits)), last: groupsKey(prefixGroups(n.bits | ((1n << BigInt(128 - n.len)) - 1n))) }));
  const covered = (key: string): boolean => {
    let lo = 0;
    let hi = netKeys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const n = netKeys[mid]!;
      if (key < n.first) hi = mid - 1;
      else if (key > n.last) lo = mid + 1;
      else return true;
    }
    return false;
  };
  const hosts6 = new Map<string, Uint16Array>(); // sort key → groups
  for (const groups of v6Hosts) {
    const key = groupsKey(groups);
    if (hosts6.has(key) || (netKeys.length > 0 && covered(key))) continue;
    hosts6.set(key, groups);
  }
  return {
    hosts4,
    nets4: keptNets.map((n) => ({ family: 4, bits: BigInt(n.start), len: n.len })),
    hosts6: [...hosts6.keys()].sort().map((k) => formatIpv6Groups(hosts6.get(k)!)),
    nets6,
  };
}

/** 2^21: more than the 2 M entries a policy list may hold (see splitAddressList). */
const INDEX_SPAN = 2 ** 21;

/** An address's eight groups as eight UTF-16 code units: compares like the address. */
function groupsKey(groups: Uint16Array): string {
  return String.fromCharCode(groups[0]!, groups[1]!, groups[2]!, groups[3]!, groups[4]!, groups[5]!, groups[6]!, groups[7]!);
}

/** The eight 16-bit groups of a 128-bit value. */
function prefixGroups(bits: bigint): Uint16Array {
  const g = new Uint16Array(8);
  for (let i = 0; i < 8; i++) g[i] = Number((bits >> BigInt((7 - i) * 16)) & 0xffffn);
  return g;
}

/**
 * 4 or 6 for an IP literal (an IPv6 zone, "fe80::1%eth0", is allowed), else 0: node:net's
 * isIP without node:net, whose import costs a Deno worker about 6 MB of Node compatibility
 * code (firmware/dns/README.md, "Memory").
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (parseIpv4(text) !== undefined) return 4;
  const zone = text.indexOf("%");
  // A zone is an interface name or index, as node:net takes it; nothing else after the "%".
  if (zone >= 0 && !/^[0-9A-Za-z_.-]+$/.test(text.slice(zone + 1))) return 0;
  return parseIpv6Groups(zone < 0 ? text : text.slice(0, zone)) !== undefined ? 6 : 0;
}

/**
 * The eight 16-bit groups of an IPv6 address, or undefined: the same grammar as
 * `parseIpv6`, with a char-code loop instead of regexes and bigints (feeds have many).
 */
export function parseIpv6Groups(text: string): Uint16Array | undefined {
  if (text.length < 2 || text.length > 45 || text.includes(".")) {
    const v = parseIpv6(text); // embedded IPv4 and odd forms: the general parser
    if (v === undefined) return undefined;
    const g = new Uint16Array(8);
    for (let i = 0; i < 8; i++) g[i] = Number((v >> BigInt((7 - i) * 16)) & 0xffffn);
    return g;
  }
  const head: number[] = [];
  const tail: number[] = [];
  let seenDouble = false;
  let i = 0;
  const n = text.length;
  if (text.startsWith("::")) {
    seenDouble = true;
    i = 2;
    if (i === n) return new Uint16Array(8);
  } else if (text.charCodeAt(0) === 58) return undefined;
  for (;;) {
    let value = 0;
    let digits = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 4) return undefined;
    (seenDouble ? tail : head).push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (seenDouble) return undefined;
      seenDouble = true;
      i++;
      if (i === n) break;
    } else if (i === n) return undefined;
  }
  const total = head.length + tail.length;
  if (seenDouble ? total > 7 : total !== 8) return undefined;
  const g = new Uint16Array(8);
  g.set(head, 0);
  g.set(tail, 8 - tail.length);
  return g;
}

/** RFC 5952 text of eight groups (the same as `formatIpv6`, without a bigint). */
export function formatIpv6Groups(groups: Uint16Array): string {
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  // One string built by concatenation (no arrays): feeds have thousands of IPv6 hosts.
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += groups[i]!.toString(16);
  }
  return out;
}
