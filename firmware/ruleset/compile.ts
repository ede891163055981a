/**
 * The ruleset compiler: policy + device → nft JSON commands. Pure: no I/O, no clock, no
 * randomness; the same input gives byte-identical output.
 *
 * Layout of `inet sekisho` (forward; input is the same idea for the box itself):
 *   invalid → established → bad TCP flags → banned sources → blocklists (both ways) →
 *   outbound port blocks → LAN new accept → brute-force meters → inbound allow →
 *   port-scan ban → default deny (logged).
 * Established flows skip the set lookups; when a list gains an address with live flows, the
 * enforcer deletes those flows from conntrack, so a list update still cuts them.
 *
 * Bridge mode: with br_netfilter the inet hooks see br0 as in- and out-interface, so a
 * `bridge` table marks packets by physical port (wan 0x1, lan 0x2) and inet rules match the
 * mark (DESIGN.md, "Deployment modes"). Router mode matches interface names and adds NAT.
 *
 * Every logged drop jumps to a small per-rule chain that logs at most `device.logRate`
 * packets/s to NFLOG with prefix "sk:<logId>:" and counts the rest, so a flood from the
 * internet cannot flood the log pipeline.
 *
 * Blocked LAN devices (a local override from the admin page, `local.blockedDevices`): every
 * frame from such a MAC is dropped before anything else looks at it, so the device reaches
 * nothing through the box, not even the box itself (no DNS, no admin page: simple and safe;
 * another device unblocks it). The MACs live in one `ether_addr` hash set, `blocked_devices`,
 * which exists (empty) in every ruleset and is one of the `elementSets`: blocking or
 * unblocking a device is an element diff, not a table replace.
 * - bridge: in the bridge table's prerouting chain, before the port marks, frames from the
 *   MAC and frames to it, on either port (a device is a device on either side of the bridge).
 * - router: a prerouting filter chain at raw priority (-300, before conntrack) drops frames
 *   from the MAC arriving on the LAN interface: forwarded and to the box alike, established
 *   flows included, and no conntrack entry is ever made for them. The other direction cannot
 *   be matched by MAC: a routed packet gets its destination MAC after the last inet hook.
 *   It needs no rule of its own: nothing the device sends gets through, so no connection to
 *   or from it completes; what is left is one-way packets from the internet through a DNAT
 *   allow rule the provider set up for that device's address (a netdev egress hook could
 *   drop those too, at the price of a per-interface table outside this batch: not worth it).
 */
import type { Device } from "../../policies/device.ts";
import { collapsePrefixes, formatPrefix, parsePrefix, splitAddressList, type Prefix } from "../../policies/net.ts";
import type { Blocklist, BlocklistCategory, Policy } from "../../policies/schema.ts";
import type {
  Chain, Command, Expr, Family, NamedSet, Rule, SetElement, SetKeyType, Stmt, Verdict,
} from "../nftables/types.ts";
import { logPrefix, type Category, type RuleMeta, type RuleMetaMap, type Severity } from "./meta.ts";

export const TABLE = "sekisho";
const INET: Family = "inet";
const BRIDGE: Family = "bridge";
export const MARK_WAN = 0x1;
export const MARK_LAN = 0x2;

/** A hash set whose elements the enforcer may update by diff instead of reloading the table. */
export type ElementSet = { family: Family; table: string; name: string; type: "ipv4_addr" | "ipv6_addr" | "ether_addr"; elements: string[] };

/** What the box's own overrides (policies/overrides.ts, `MergedPolicy`) add to the ruleset. */
export type LocalRules = {
  /** LAN devices that lose all traffic through the box: unicast MACs, lower case, ":"-separated. */
  blockedDevices: readonly string[];
};

/** The set of blocked devices' MACs (bridge table in bridge mode, inet table in router mode). */
export const BLOCKED_DEVICES_SET = "blocked_devices";
/** The rule id of the device block; its log ids are `local-device-block.out` (from it) and `.in` (to it). */
export const DEVICE_BLOCK_RULE_ID = "local-device-block";

const MAC_CANONICAL = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The blocked MACs as the set holds them: lower case, ":"-separated, unique, sorted (so the
 * output is deterministic). Throws on anything else: the overrides were parsed with
 * `LocalOverrides` already, which refuses them, so this is a programming error. A group
 * (multicast/broadcast) address is refused outright: as a destination it would cut ARP,
 * DHCP or IPv6 neighbour discovery for the whole LAN.
 */
export function canonicalMacs(macs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of macs) {
    const mac = raw.toLowerCase().replaceAll("-", ":");
    if (!MAC_CANONICAL.test(mac)) throw new Error(`compiler: blocked device ${JSON.stringify(raw)} is not a MAC address`);
    if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) throw new Error(`compiler: blocked device ${mac} is a group (multicast/broadcast) address, not a device`);
    out.add(mac);
  }
  return [...out].sort();
}

export type CompiledRuleset = {
  /** Commands that create both tables from nothing (see `buildReplaceBatch`). */
  commands: Command[];
  /** Tables this compile owns, in the order they are created. */
  tables: { family: Family; name: string }[];
  /** Single-address blocklist sets (updatable by element diff), with their elements in canonical text. */
  elementSets: ElementSet[];
  meta: RuleMetaMap;
  policy: { id: string; serial: number };
  /**
   * Every listed address (canonical hosts and prefixes), by the side of a flow it blocks:
   * `dst` for outbound lists, `src` for inbound ones. The enforcer cuts live flows that match
   * (blocklists are checked only by packets outside established flows).
   */
  blocked: { dst: string[]; src: string[] };
};

type Ip = 4 | 6;
const ETHER_SADDR: Expr = { payload: { protocol: "ether", field: "saddr" } };
const ETHER_DADDR: Expr = { payload: { protocol: "ether", field: "daddr" } };
const SADDR = (v: Ip): Expr => ({ payload: { protocol: v === 4 ? "ip" : "ip6", field: "saddr" } });
const DADDR = (v: Ip): Expr => ({ payload: { protocol: v === 4 ? "ip" : "ip6", field: "daddr" } });
const match = (left: Expr, right: Expr, op: "==" | "!=" | "in" = "=="): Stmt => ({ match: { op, left, right } });
const ctState = (...s: string[]): Stmt => match({ ct: { key: "state" } }, s.length === 1 ? s[0]! : s, "in");
const l4 = (proto: string | string[]): Stmt =>
  match({ meta: { key: "l4proto" } }, Array.isArray(proto) ? { set: proto } : proto);
const dport = (proto: "tcp" | "udp" | "th", ports: Expr): Stmt => match({ payload: { protocol: proto, field: "dport" } }, ports);
const sport = (proto: "tcp" | "udp" | "th", port: Expr): Stmt => match({ payload: { protocol: proto, field: "sport" } }, port);
const ACCEPT: Stmt = { accept: null };
const DROP: Stmt = { drop: null };
const jump = (target: string): Stmt => ({ jump: { target } });
const counterRef = (name: string): Stmt => ({ counter: name });
const tcpSyn: Stmt = match({ "&": [{ payload: { protocol: "tcp", field: "flags" } }, ["syn", "ack"]] }, "syn");
const oneOrSet = (xs: Expr[]): Expr => (xs.length === 1 ? xs[0]! : { set: xs });

/**
 * nft object names for log ids: "-" → "_" and "." → "__". Rule ids never contain "--" or
 * "_", so two different log ids never map to the same name.
 */
export function objectName(id: string): string {
  return id.replace(/\./g, "__").replace(/-/g, "_");
}

const prefixElement = (p: Prefix): SetElement => {
  const text = formatPrefix(p);
  const slash = text.indexOf("/");
  return slash === -1 ? text : { prefix: { addr: text.slice(0, slash), len: p.len } };
};

const BLOCKLIST_CLASS: Record<BlocklistCategory, { category: Category; out: Severity; ja: string; en: string }> = {
  c2: { category: "c2", out: "high", ja: "C&Cサーバ", en: "C&C server" },
  botnet: { category: "c2", out: "high", ja: "ボットネット", en: "botnet" },
  malware: { category: "malware", out: "high", ja: "マルウェア配布元", en: "malware host" },
  phishing: { category: "web", out: "medium", ja: "フィッシングサイト", en: "phishing site" },
  scanner: { category: "inbound", out: "medium", ja: "攻撃元として知られるアドレス", en: "known attacker" },
  spam: { category: "inbound", out: "medium", ja: "迷惑メール送信元", en: "spam source" },
  "tor-exit": { category: "inbound", out: "medium", ja: "Tor出口ノード", en: "Tor exit node" },
  other: { category: "inbound", out: "medium", ja: "ブロックリスト掲載アドレス", en: "blocklisted address" },
};

/**
 * Compiles a parsed policy for a parsed device, with the box's local rules (blocked devices;
 * none when absent). Throws only on programming errors: the inputs have been through the
 * zod schemas already.
 */
export function compileRuleset(policy: Policy, device: Device, local?: LocalRules): CompiledRuleset {
  const commands: Command[] = [];
  const meta: RuleMetaMap = {};
  const elementSets: ElementSet[] = [];
  const sets: NamedSet[] = [];
  const counters = new Set<string>();
  const logChains: { chain: Chain; rules: Stmt[][] }[] = [];
  // Named counters and chains are per table: the bridge table keeps its own.
  const bridgeCounters = new Set<string>();
  const bridgeLogChains: { chain: Chain; rules: Stmt[][] }[] = [];
  const bridge = device.mode === "bridge";

  const fromWan: Stmt = bridge
    ? match({ meta: { key: "mark" } }, MARK_WAN)
    : match({ meta: { key: "iifname" } }, device.interfaces.wan);
  /** The LAN's IPv4 prefixes (DHCP offers from the router, masquerading). */
  const lan4 = device.lanPrefixes.map(parsePrefix).flatMap((r) => (r.ok && r.value.family === 4 ? [r.value] : []));
  const fromLan: Stmt = bridge
    ? match({ meta: { key: "mark" } }, MARK_LAN)
    : match({ meta: { key: "iifname" } }, device.interfaces.lan);

  const addSet = (s: Omit<NamedSet, "family" | "table">): void => {
    // nft's JSON parser rejects an empty `elem` array: leave it out instead.
    const { elem, ...rest } = s;
    sets.push({ family: INET, table: TABLE, ...rest, ...(elem && elem.length > 0 ? { elem } : {}) });
  };

  /**
   * Registers a log id: its metadata, its named counter and its log-then-drop chain (in the
   * inet table, or in the bridge table for the bridge table's own rules).
   */
  const logged = (m: Omit<RuleMeta, "counter" | "logId"> & { logId: string }, verdict: "drop" | "reset" = "drop", family: Family = INET): Stmt => {
    const counter = objectName(m.logId);
    if (meta[m.logId]) throw new Error(`compiler: log id ${m.logId} registered twice`);
    meta[m.logId] = { ...m, counter };
    (family === BRIDGE ? bridgeCounters : counters).add(counter);
    const chainName = `log_${counter}`;
    const limit: Stmt = { limit: { rate: device.logRate, per: "second", burst: device.logRate } };
    const log: Stmt = { log: { prefix: logPrefix(m.logId), group: device.logGroup } };
    (family === BRIDGE ? bridgeLogChains : logChains).push({
      chain: { family, table: TABLE, name: chainName },
      rules: verdict === "drop"
        ? [[limit, counterRef(counter), log, DROP], [counterRef(counter), DROP]]
        // TCP gets a reset so the client gives up at once (and falls back) instead of hanging.
        : [[limit, log], [counterRef(counter)], [l4("tcp"), { reject: { type: "tcp reset" } }], [DROP]],
    });
    return jump(chainName);
  };

  /** A counted, unlogged rule (accepts, silent drops): metadata so `status` can name it. */
  const counted = (m: Omit<RuleMeta, "counter" | "logId"> & { logId: string }): Stmt => {
    const counter = objectName(m.logId);
    meta[m.logId] = { ...m, counter };
    counters.add(counter);
    return counterRef(counter);
  };

  // ---- sets -------------------------------------------------------------------------------
  const ban = policy.portScan;
  for (const v of [4, 6] as const) {
    addSet({ name: `banned_v${v}`, type: v === 4 ? "ipv4_addr" : "ipv6_addr", flags: ["timeout"], timeout: ban.banSeconds, size: 65536 });
    addSet({ name: `scan_v${v}`, type: v === 4 ? "ipv4_addr" : "ipv6_addr", flags: ["timeout"], timeout: 60, size: 65536 });
  }
  for (const bf of policy.bruteForce) {
    for (const v of [4, 6] as const) {
      addSet({
        name: `meter_${objectName(bf.id)}_v${v}`,
        type: [v === 4 ? "ipv4_addr" : "ipv6_addr", "inet_service"],
        flags: ["timeout"], timeout: 300, size: 65536,
      });
    }
  }

  // Well-known DoH resolvers' addresses (policy.dns.dohAddresses): HTTPS to them is refused,
  // so browsers fall back to the box's DNS filter.
  const doh = splitAddressList(policy.dns.enabled ? policy.dns.dohAddresses : []);
  addSet({ name: "doh_v4", type: "ipv4_addr", elem: doh.hosts4 });
  addSet({ name: "doh_v6", type: "ipv6_addr", elem: doh.hosts6 });

  type ListSets = { list: Blocklist; index: number; hosts: Record<Ip, string>; nets: Record<Ip, string> };
  const blocked: { dst: string[]; src: string[] } = { dst: [], src: [] };
  const lists: ListSets[] = policy.blocklists.map((list, index) => {
    const base = `bl_${objectName(list.id)}`;
    const split = splitAddressList(list.entries);
    // concat, not push(...spread): lists are tens of thousands of entries long.
    const all = split.hosts4.concat(split.hosts6, split.nets4.map(formatPrefix), split.nets6.map(formatPrefix));
    if (list.direction !== "inbound") blocked.dst = blocked.dst.concat(all);
    if (list.direction !== "outbound") blocked.src = blocked.src.concat(all);
    for (const v of [4, 6] as const) {
      const type: SetKeyType = v === 4 ? "ipv4_addr" : "ipv6_addr";
      const hosts = v === 4 ? split.hosts4 : split.hosts6;
      const hostSet = { family: INET, table: TABLE, name: `${base}_v${v}`, type, elements: hosts } as ElementSet;
      elementSets.push(hostSet);
      addSet({ name: hostSet.name, type, elem: hosts });
      const nets = (v === 4 ? split.nets4 : split.nets6).map(prefixElement);
      addSet({ name: `${base}_n${v}`, type, flags: ["interval"], elem: nets });
    }
    return {
      list, index,
      hosts: { 4: `@${base}_v4`, 6: `@${base}_v6` },
      nets: { 4: `@${base}_n4`, 6: `@${base}_n6` },
    };
  });

  const snoopLimit: Stmt = { limit: { rate: 50, per: "second", burst: 100 } };

  // ---- local overrides: blocked LAN devices (see the header) ------------------------------
  const blockedMacs = canonicalMacs(local?.blockedDevices ?? []);
  const deviceFamily: Family = bridge ? BRIDGE : INET;
  elementSets.push({ family: deviceFamily, table: TABLE, name: BLOCKED_DEVICES_SET, type: "ether_addr", elements: blockedMacs });
  const blockedDevicesSet: NamedSet = {
    family: deviceFamily, table: TABLE, name: BLOCKED_DEVICES_SET, type: "ether_addr",
    // nft's JSON parser rejects an empty `elem` array.
    ...(blockedMacs.length > 0 ? { elem: blockedMacs } : {}),
  };
  // Category "endpoint" (⑤): the event is about a LAN device itself, the one the admin
  // blocked; it is neither an attack from the internet (inbound) nor evidence of malware
  // (c2). Severity low: the block is deliberate, so its hits are only counted (they show the
  // block works and that the device is still trying).
  const deviceBlock = (variant: "out" | "in"): Stmt => logged({
    logId: `${DEVICE_BLOCK_RULE_ID}.${variant}`, ruleId: DEVICE_BLOCK_RULE_ID, source: "local", path: "local.blockedDevices",
    category: "endpoint", severity: "low", action: "drop", direction: variant === "out" ? "outbound" : "inbound",
    title: variant === "out"
      ? { ja: "管理画面で遮断した端末からの通信を破棄", en: "Traffic from a device blocked on the admin page dropped" }
      : { ja: "管理画面で遮断した端末への通信を破棄", en: "Traffic to a device blocked on the admin page dropped" },
  }, "drop", deviceFamily);
  const deviceRules: Stmt[][] = bridge
    ? [
      [match(ETHER_SADDR, `@${BLOCKED_DEVICES_SET}`), deviceBlock("out")],
      [match(ETHER_DADDR, `@${BLOCKED_DEVICES_SET}`), deviceBlock("in")],
    ]
    : [[fromLan, match(ETHER_SADDR, `@${BLOCKED_DEVICES_SET}`), deviceBlock("out")]];

  // ---- shared rule groups -----------------------------------------------------------------
  const portScanId = ban.id;
  const banJump = logged({
    logId: `${portScanId}.banned`, ruleId: portScanId, source: "policy", path: "portScan",
    category: "inbound", severity: "low", action: "drop", direction: "inbound",
    title: { ja: "スキャンで遮断中の攻撃元からの通信を破棄", en: "Traffic from a banned scanner dropped" },
  });
  const scanJump = logged({
    logId: portScanId, ruleId: portScanId, source: "policy", path: "portScan",
    category: "inbound", severity: "low", action: "ban", direction: "inbound",
    title: { ja: "ポートスキャンを検知し攻撃元を遮断", en: "Port scan detected; source banned" },
  });
  const badFlagsJump = logged({
    logId: "sys-tcp-flags", ruleId: "sys-tcp-flags", source: "system",
    category: "inbound", severity: "low", action: "drop", direction: "inbound",
    title: { ja: "不正なTCPフラグのパケットを破棄", en: "Packet with invalid TCP flags dropped" },
  });

  /** Bad TCP flag combinations no real stack sends: scanners' fingerprinting probes. */
  const badFlagRules = (): Stmt[][] => {
    const flags: Expr = { payload: { protocol: "tcp", field: "flags" } };
    const combos: [string[], string[] | string][] = [
      [["fin", "syn"], ["fin", "syn"]],
      [["syn", "rst"], ["syn", "rst"]],
      [["fin", "psh", "urg"], ["fin", "psh", "urg"]],
      [["fin", "syn", "rst", "psh", "ack", "urg"], []],
      [["fin", "ack"], "fin"],
    ];
    return combos.map(([mask, value]) => [
      l4("tcp"),
      value.length === 0
        ? match({ "&": [flags, mask] }, 0)
        : match({ "&": [flags, mask] }, value),
      badFlagsJump,
    ]);
  };

  const bannedRules = (): Stmt[][] =>
    ([4, 6] as const).map((v) => [fromWan, match(SADDR(v), `@banned_v${v}`), banJump]);

  const blocklistRules = (): Stmt[][] => {
    const out: Stmt[][] = [];
    for (const { list, index, hosts, nets } of lists) {
      const cls = BLOCKLIST_CLASS[list.category];
      const path = `blocklists[${index}]`;
      if (list.direction !== "inbound") {
        const j = logged({
          logId: `${list.id}.out`, ruleId: list.id, source: "policy", path,
          category: cls.category, severity: cls.out, action: "drop", direction: "outbound",
          title: { ja: `LAN内の機器から${cls.ja}への通信を遮断`, en: `LAN device tried to reach a ${cls.en}; blocked` },
        });
        for (const v of [4, 6] as const) {
          out.push([match(DADDR(v), hosts[v]), j]);
          out.push([match(DADDR(v), nets[v]), j]);
        }
      }
      if (list.direction !== "outbound") {
        const j = logged({
          logId: `${list.id}.in`, ruleId: list.id, source: "policy", path,
          category: cls.category === "c2" ? "c2" : "inbound", severity: "low", action: "drop", direction: "inbound",
          title: { ja: `${cls.ja}からの通信を遮断`, en: `Traffic from a ${cls.en} blocked` },
        });
        for (const v of [4, 6] as const) {
          out.push([match(SADDR(v), hosts[v]), j]);
          out.push([match(SADDR(v), nets[v]), j]);
        }
      }
    }
    return out;
  };

  /** New connections from the internet faster than the scan rate: ban the source. */
  const scanRules = (): Stmt[][] => {
    if (!ban.enabled) return [];
    const out: Stmt[][] = [];
    for (const v of [4, 6] as const) {
      const detect: Stmt[] = [
        { set: { op: "update", elem: SADDR(v), set: `@scan_v${v}`, stmt: [{ limit: { rate: ban.rate, per: "second", burst: ban.burst, inv: true } }] } },
        { set: { op: "add", elem: SADDR(v), set: `@banned_v${v}` } },
        scanJump,
      ];
      const family: Stmt = match({ meta: { key: "nfproto" } }, v === 4 ? "ipv4" : "ipv6");
      out.push([fromWan, family, ctState("new"), l4("tcp"), tcpSyn, ...detect]);
      out.push([fromWan, family, ctState("new"), l4("udp"), ...detect]);
    }
    return out;
  };

  const icmpv6Nd: Stmt = match({ payload: { protocol: "icmpv6", field: "type" } }, {
    set: ["nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert", "mld-listener-query", "mld-listener-report", "mld2-listener-report"],
  });

  // ---- forward ----------------------------------------------------------------------------
  const forward: Stmt[][] = [];
  // Established traffic first, in one verdict-map lookup: every packet of every download
  // passes here, and ten set lookups per packet cost about 10 % of the box's throughput
  // (test/bench, forwarding-why). Flows that were open before their address was listed are
  // cut by the enforcer (firmware/enforce/conntrack.ts), so they come back through the
  // checks below. Invalid packets are counted and dropped in their own small chain.
  const invalidCounter = counted({
    logId: "sys-invalid", ruleId: "sys-invalid", source: "system", category: "inbound", severity: "low",
    action: "drop", direction: "inbound", title: { ja: "不正な状態のパケットを破棄", en: "Invalid packet dropped" },
  });
  logChains.push({ chain: { family: INET, table: TABLE, name: "drop_invalid" }, rules: [[invalidCounter, DROP]] });
  forward.push([{ vmap: { key: { ct: { key: "state" } }, data: { set: [
    ["established", ACCEPT as Verdict], ["related", ACCEPT as Verdict], ["invalid", { jump: { target: "drop_invalid" } }],
  ] } } }]);
  forward.push(...badFlagRules());
  forward.push(...bannedRules());
  forward.push(...blocklistRules());
  if (bridge) {
    // Only ICMPv6 neighbour discovery / MLD are untracked (bridged IPv6 keeps working).
    forward.push([ctState("untracked"), ACCEPT]);
    // The broadband router is the LAN's DHCP server: its offers are broadcasts that
    // conntrack cannot tie to the request, so they are new flows from the WAN side. Only
    // from the LAN's own prefix (the router's LAN address) or link-local (DHCPv6): the
    // internet beyond the router cannot use source port 67 to reach office PCs.
    if (lan4.length > 0) {
      forward.push([fromWan, match(SADDR(4), oneOrSet(collapsePrefixes(lan4).map((p) => prefixElement(p) as Expr))),
        l4("udp"), sport("udp", 67), dport("udp", 68), ACCEPT]);
    }
    forward.push([fromWan, match(SADDR(6), { prefix: { addr: "fe80::", len: 10 } }), l4("udp"), sport("udp", 547), dport("udp", 546), ACCEPT]);
  }
  if (policy.dns.enabled) {
    const j = logged({
      logId: "dns-doh", ruleId: "dns-doh", source: "policy", path: "dns.dohAddresses",
      category: "web", severity: "low", action: "drop", direction: "outbound",
      title: { ja: "DNSフィルタを迂回する通信(DNS over HTTPS)を遮断", en: "DNS over HTTPS (filter bypass) blocked" },
    }, "reset");
    for (const v of [4, 6] as const) forward.push([fromLan, match(DADDR(v), `@doh_v${v}`), l4(["tcp", "udp"]), dport("th", 443), j]);
  }
  // Risky outbound ports.
  policy.outbound.block.forEach((b, i) => {
    const j = logged({
      logId: b.id, ruleId: b.id, source: "policy", path: `outbound.block[${i}]`,
      category: "c2", severity: "medium", action: "drop", direction: "outbound",
      title: { ja: `危険な宛先ポートへの通信を遮断: ${b.reason.ja}`, en: `Risky outbound port blocked: ${b.reason.en}` },
    });
    const ports = oneOrSet(b.ports.map((p): Expr => (typeof p === "number" ? p : { range: [p[0], p[1]] })));
    const protos = b.protocol === "both" ? ["tcp", "udp"] : [b.protocol];
    forward.push([fromLan, l4(protos), dport("th", ports), j]);
  });
  forward.push([fromLan, ctState("new"), counted({
    logId: "sys-lan-out", ruleId: "sys-lan-out", source: "system", category: "inbound", severity: "low",
    action: "accept", direction: "outbound", title: { ja: "LANからの通信を許可", en: "LAN traffic allowed" },
  }), ACCEPT]);
  // Brute force: a source opening connections to a login service too often.
  policy.bruteForce.forEach((bf, i) => {
    const j = logged({
      logId: bf.id, ruleId: bf.id, source: "policy", path: `bruteForce[${i}]`,
      category: "inbound", severity: "medium", action: bf.ban ? "ban" : "drop", direction: "inbound",
      title: { ja: `${bf.service}へのパスワード総当たり攻撃を検知し遮断`, en: `Brute force against ${bf.service} blocked` },
    });
    for (const v of [4, 6] as const) {
      const key: Expr = { concat: [SADDR(v), { payload: { protocol: bf.protocol, field: "dport" } }] };
      const stmts: Stmt[] = [
        fromWan, l4(bf.protocol), dport(bf.protocol, oneOrSet(bf.ports)), ctState("new"),
        { set: { op: "update", elem: key, set: `@meter_${objectName(bf.id)}_v${v}`, stmt: [{ limit: { rate: bf.perMinute, per: "minute", burst: bf.burst, inv: true } }] } },
      ];
      if (bf.ban) stmts.push({ set: { op: "add", elem: SADDR(v), set: `@banned_v${v}` } });
      stmts.push(j);
      // An address-family match keeps the v4 rule from seeing v6 packets and vice versa.
      stmts.splice(1, 0, match({ meta: { key: "nfproto" } }, v === 4 ? "ipv4" : "ipv6"));
      forward.push(stmts);
    }
  });
  // Explicit inbound allow rules (router mode: after the DNAT below, daddr is the LAN host).
  policy.inbound.allow.forEach((a, i) => {
    const to = parsePrefix(a.to);
    if (!to.ok) return;
    const v: Ip = to.value.family;
    const rule: Stmt[] = [fromWan, match(DADDR(v), formatPrefix(to.value)), l4(a.protocol), dport(a.protocol, a.port)];
    const from = (a.from ?? []).map(parsePrefix).flatMap((r) => (r.ok && r.value.family === v ? [r.value] : []));
    if (a.from && from.length === 0) return; // no source of this family: nothing to allow
    if (from.length > 0) rule.push(match(SADDR(v), oneOrSet(collapsePrefixes(from).map((p) => prefixElement(p) as Expr))));
    rule.push(ctState("new"), counted({
      logId: a.id, ruleId: a.id, source: "policy", path: `inbound.allow[${i}]`, category: "inbound", severity: "low",
      action: "accept", direction: "inbound",
      title: { ja: `外部からの許可された接続 (${a.protocol}/${a.port})`, en: `Allowed inbound connection (${a.protocol}/${a.port})` },
    }), ACCEPT);
    forward.push(rule);
  });
  forward.push(...scanRules());
  forward.push([fromWan, ctState("new"), logged({
    logId: "sys-inbound", ruleId: "sys-inbound", source: "system", path: "inbound.default",
    category: "inbound", severity: "low", action: "drop", direction: "inbound",
    title: { ja: "外部からの不正な接続の試みを遮断", en: "Unsolicited connection from the internet blocked" },
  })]);

  // ---- input: the box itself ----------------------------------------------------------------
  const input: Stmt[][] = [];
  input.push([match({ meta: { key: "iifname" } }, "lo"), ACCEPT]);
  input.push([ctState("invalid"), DROP]);
  input.push(...bannedRules());
  input.push([ctState("established", "related"), ACCEPT]);
  input.push([l4("ipv6-icmp"), icmpv6Nd, ACCEPT]);
  if (!bridge) {
    // Router mode: the box is a DHCP client on the WAN side.
    input.push([fromWan, l4("udp"), sport("udp", 67), dport("udp", 68), ACCEPT]);
    input.push([fromWan, l4("udp"), sport("udp", 547), dport("udp", 546), ACCEPT]);
  }
  input.push([fromLan, l4("tcp"), dport("tcp", oneOrSet(device.management.ports)), ACCEPT]);
  input.push([fromLan, l4(["tcp", "udp"]), dport("th", oneOrSet([53, device.dnsPort])), ACCEPT]);
  // Syslog from LAN devices (category ⑤ endpoint).
  input.push([fromLan, l4("udp"), dport("udp", device.syslogPort), ACCEPT]);
  input.push([fromLan, l4("icmp"), match({ payload: { protocol: "icmp", field: "type" } }, "echo-request"), ACCEPT]);
  input.push([fromLan, l4("ipv6-icmp"), match({ payload: { protocol: "icmpv6", field: "type" } }, "echo-request"), ACCEPT]);
  if (!bridge) {
    // DHCP requests to the box (router mode) are copied to the snoop group for the inventory.
    input.push([fromLan, l4("udp"), sport("udp", 68), dport("udp", 67), snoopLimit, { log: { group: device.snoopGroup, snaplen: 1500 } }]);
    input.push([fromLan, l4("udp"), dport("udp", oneOrSet([67, 547])), ACCEPT]);
  }
  input.push(...scanRules());
  input.push([fromWan, ctState("new"), logged({
    logId: "sys-box-inbound", ruleId: "sys-box-inbound", source: "system", path: "inbound.default",
    category: "inbound", severity: "low", action: "drop", direction: "inbound",
    title: { ja: "本機への外部からの接続の試みを遮断", en: "Connection attempt to the box from the internet blocked" },
  })]);
  // LAN hosts asking for a port the box does not serve get a reset, not a hang.
  input.push([fromLan, l4("tcp"), { reject: { type: "tcp reset" } }]);

  // ---- assemble ---------------------------------------------------------------------------
  const tables: { family: Family; name: string }[] = [];
  if (bridge) {
    tables.push({ family: BRIDGE, name: TABLE });
    commands.push({ add: { table: { family: BRIDGE, name: TABLE } } });
    for (const name of [...bridgeCounters].sort()) commands.push({ add: { counter: { family: BRIDGE, table: TABLE, name } } });
    commands.push({ add: { set: blockedDevicesSet } });
    commands.push({ add: { chain: { family: BRIDGE, table: TABLE, name: "pre", type: "filter", hook: "prerouting", prio: -200, policy: "accept" } } });
    for (const c of bridgeLogChains) commands.push({ add: { chain: c.chain } });
    for (const c of bridgeLogChains) {
      for (const expr of c.rules) commands.push({ add: { rule: { family: BRIDGE, table: TABLE, chain: c.chain.name, expr } } });
    }
    // Blocked devices first: nothing else (marks, snooping, br_netfilter) sees their frames.
    for (const expr of deviceRules) commands.push({ add: { rule: { family: BRIDGE, table: TABLE, chain: "pre", expr } } });
    // Carry the physical port into the inet hooks (which only see br0).
    const mark = (ifname: string, value: number): Rule => ({
      family: BRIDGE, table: TABLE, chain: "pre",
      expr: [match({ meta: { key: "iifname" } }, ifname), { mangle: { key: { meta: { key: "mark" } }, value } }],
    });
    commands.push({ add: { rule: mark(device.interfaces.wan, MARK_WAN) } });
    commands.push({ add: { rule: mark(device.interfaces.lan, MARK_LAN) } });
    // DHCP (both directions) and ARP crossing the bridge, copied to the snoop group: the
    // inventory learns MACs, DHCP hostnames and leases from them. Rate-limited so a DHCP
    // starvation or ARP flood cannot flood the pcap file.
    const snoop = (expr: Stmt[]): Rule => ({ family: BRIDGE, table: TABLE, chain: "pre", expr });
    commands.push({ add: { rule: snoop([l4("udp"), sport("udp", { set: [67, 68] }), dport("udp", { set: [67, 68] }), snoopLimit,
      { log: { group: device.snoopGroup, snaplen: 1500 } }]) } });
    commands.push({ add: { rule: snoop([match({ meta: { key: "protocol" } }, "arp"), snoopLimit, { log: { group: device.snoopGroup, snaplen: 64 } }]) } });
  }
  tables.push({ family: INET, name: TABLE });
  commands.push({ add: { table: { family: INET, name: TABLE } } });
  for (const name of [...counters].sort()) commands.push({ add: { counter: { family: INET, table: TABLE, name } } });
  for (const s of sets) commands.push({ add: { set: s } });
  if (!bridge) commands.push({ add: { set: blockedDevicesSet } });
  const base = (name: string, hook: Chain["hook"], type: Chain["type"], prio: number, policy: "accept" | "drop"): Chain =>
    ({ family: INET, table: TABLE, name, type, hook, prio, policy });
  const chains: { chain: Chain; rules: Stmt[][] }[] = [
    ...logChains,
    { chain: base("forward", "forward", "filter", 0, "drop"), rules: forward },
    { chain: base("input", "input", "filter", 0, "drop"), rules: input },
  ];
  // Router mode: raw priority, before conntrack, so a blocked device's packets make no flows
  // and its established flows stop at once.
  if (!bridge) chains.push({ chain: base("device_block", "prerouting", "filter", -300, "accept"), rules: deviceRules });
  // LAN DNS to any resolver, IPv4 and IPv6, goes to the box's filter (DESIGN.md: in bridge
  // mode br_netfilter moves the frame up to br0 itself after the redirect).
  const dnsDivert: Stmt[][] = policy.dns.enabled
    ? [[fromLan, l4(["tcp", "udp"]), dport("th", 53), { redirect: { port: device.dnsPort } }]]
    : [];
  if (bridge && dnsDivert.length > 0) {
    chains.push({ chain: base("prerouting", "prerouting", "nat", -100, "accept"), rules: dnsDivert });
  }
  if (!bridge) {
    const pre: Stmt[][] = [...dnsDivert];
    for (const a of policy.inbound.allow) {
      const to = parsePrefix(a.to);
      if (!to.ok || to.value.family !== 4) continue; // IPv6 is routed, not translated
      pre.push([fromWan, l4(a.protocol), dport(a.protocol, a.externalPort ?? a.port),
        { dnat: { family: "ip", addr: formatPrefix(to.value), port: a.port } }]);
    }
    const post: Stmt[][] = lan4.length === 0 ? [] : [[
      match({ meta: { key: "oifname" } }, device.interfaces.wan),
      match(SADDR(4), oneOrSet(collapsePrefixes(lan4).map((p) => prefixElement(p) as Expr))),
      { masquerade: null },
    ]];
    chains.push({ chain: base("prerouting", "prerouting", "nat", -100, "accept"), rules: pre });
    chains.push({ chain: base("postrouting", "postrouting", "nat", 100, "accept"), rules: post });
  }
  for (const c of chains) commands.push({ add: { chain: c.chain } });
  for (const c of chains) {
    for (const expr of c.rules) commands.push({ add: { rule: { family: INET, table: TABLE, chain: c.chain.name, expr } } });
  }
  return { commands, tables, elementSets, meta, policy: { id: policy.id, serial: policy.serial }, blocked };
}

/**
 * The firewall4 way of replacing tables atomically: `add` (a no-op when the table exists,
 * so the `delete` cannot fail), `delete`, then the new contents, all in one transaction.
 * Both Sekisho tables are always deleted, so switching mode leaves no stale bridge table.
 */
export function buildReplaceBatch(compiled: CompiledRuleset, extra: readonly Command[] = []): Command[] {
  const out: Command[] = [];
  for (const family of [BRIDGE, INET]) {
    out.push({ add: { table: { family, name: TABLE } } });
    out.push({ delete: { table: { family, name: TABLE } } });
  }
  out.push(...compiled.commands, ...extra);
  return out;
}
