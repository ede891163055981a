// The lab's blueprint: every name, address, link and daemon of a lab, as plain data.
// Pure: no I/O here. lab.ts turns a plan into namespaces, links and processes.

/** bridge: the box bridges wan0 and lan0 (br0); router: the box routes between two subnets. */
export type LabMode = "bridge" | "router";

/** The lab's parts, by role. `rtr` exists in bridge mode only (the office's broadband router). */
export type LabNsKey = "wan" | "box" | "lan1" | "lan2" | "rtr" | "sw";

/** Full network-namespace names (`<id>-wan`, …), by role. */
export interface LabNamespaces {
  wan: string;
  box: string;
  lan1: string;
  lan2: string;
  rtr?: string;
  sw: string;
}

/** A host with one address per family. */
export interface DualStack {
  v4: string;
  v6: string;
}

/** A LAN PC: addresses, fixed MAC, and the TCP ports its listeners serve. */
export interface LanHost extends DualStack {
  mac: string;
}

/** Every address of the lab, so that tests never spell one out. */
export interface LabAddresses {
  /** The "internet" web server: HTTP on port 80, both families. */
  web: DualStack;
  /** The upstream resolver (dnsmasq): answers `names.*`, NXDOMAIN for everything else. */
  dns: DualStack;
  /** The attacker's source addresses (use `curl --interface`, `nmap -S … -e eth0`). */
  attacker: DualStack;
  /** The "C&C server": HTTP on `c2Ports`, both families. */
  c2: DualStack;
  c2Ports: number[];
  /** The LAN's default gateway: the router (bridge mode) or the box itself (router mode). */
  lanGateway: DualStack;
  /** The box's default gateway in router mode (in `wan`); absent in bridge mode. */
  wanGateway?: DualStack;
  lan1: LanHost;
  lan2: LanHost;
  /** lan1's listeners (HTTP servers, both families): `ssh` stands for a service to protect. */
  lan1Ports: { ssh: number; http: number };
  lanPrefix: DualStack;
  /** The documentation ranges the lab lives in; anything else counts as a seal leak. */
  docRanges: { v4: string[]; v6: string[] };
  /** Names the upstream resolver answers (subdomains too). */
  names: { example: string; upstream: string; c2: string; cloaked: string; cnameTarget: string };
  /** The interface the wan namespace's addresses sit on (for `nmap -e`). */
  wanIf: string;
}

/** The device under test, as the firmware sees it. */
export interface BoxInfo {
  wanIf: "wan0";
  lanIf: "lan0";
  /** br0 over wan0 + lan0, in bridge mode only. */
  bridge?: "br0";
  /** The box's own LAN-side addresses (br0 in bridge mode, lan0 in router mode). */
  lanAddr4: string;
  lanAddr6: string;
  /** The box's WAN addresses (router mode only). */
  wanAddr4?: string;
  wanAddr6?: string;
  /** The fixed MAC of the box's LAN side (br0 in bridge mode, lan0 in router mode). */
  mac: string;
}

/** A background process the lab starts. */
export interface ServiceSpec {
  ns: LabNsKey;
  name: string;
  argv: string[];
}

/** A readiness check: the command must exit 0 (and print `expect`, if given). */
export interface ProbeSpec {
  what: string;
  ns: LabNsKey;
  argv: string[];
  expect?: string;
}

/** nft JSON (libnftables-json) commands. */
export interface NftBatch {
  nftables: Array<Record<string, unknown>>;
}

export interface LabPlan {
  id: string;
  mode: LabMode;
  ns: LabNamespaces;
  addr: LabAddresses;
  box: BoxInfo;
  /** Namespaces in creation order. */
  nsKeys: LabNsKey[];
  /** `ip -batch` lines run in the root namespace: veths born inside their namespaces. */
  links: string[];
  /** `ip -n <ns> -batch` lines per namespace: addresses, bridges, routes. */
  nsBatches: Partial<Record<LabNsKey, string[]>>;
  /** `sysctl -w` settings per namespace, applied before any link exists there. */
  sysctls: Partial<Record<LabNsKey, string[]>>;
  /** Where the seal counter lives (rtr in bridge mode, wan in router mode), and its table. */
  sealNs: LabNsKey;
  seal: NftBatch;
  /** The resolver every namespace's /etc/netns/<ns>/resolv.conf points at. */
  resolvConf: string;
}

/** Lab ids name namespaces (`<id>-lan1` must fit IFNAMSIZ-free netns names and stay short). */
export const LAB_ID_PATTERN = /^[a-z][a-z0-9]{1,9}$/;

export const BOX_MAC = "02:5e:4b:00:00:02";
const BOX_WAN_MAC = "02:5e:4b:00:00:01";
/** The office router's internet side (bridge mode): the wan namespace routes the LAN via it. */
const RTR_WAN: DualStack = { v4: "198.51.100.1", v6: "2001:db8:100::1" };

/** Lab veth ends are numbered from here (a fresh namespace's own links start at 1). */
const VETH_FIRST_IFINDEX = 10;

const DOC_V4 = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];
const DOC_V6 = ["2001:db8::/32"];

/** Whether `nsKey` exists in `mode`. */
export function hasNamespace(mode: LabMode, nsKey: LabNsKey): boolean {
  return nsKey !== "rtr" || mode === "bridge";
}

/** The namespace names of lab `id`. */
export function buildNamespaces(id: string, mode: LabMode): LabNamespaces {
  const ns: LabNamespaces = {
    wan: `${id}-wan`,
    box: `${id}-box`,
    lan1: `${id}-lan1`,
    lan2: `${id}-lan2`,
    sw: `${id}-sw`,
  };
  if (mode === "bridge") ns.rtr = `${id}-rtr`;
  return ns;
}

/** Every address of a lab in `mode`. */
export function buildAddresses(mode: LabMode): LabAddresses {
  const addr: LabAddresses = {
    web: { v4: "198.51.100.80", v6: "2001:db8:100::80" },
    dns: { v4: "198.51.100.53", v6: "2001:db8:100::53" },
    attacker: { v4: "203.0.113.66", v6: "2001:db8:100::66" },
    c2: { v4: "203.0.113.99", v6: "2001:db8:100::99" },
    c2Ports: [443, 80],
    lanGateway: { v4: "192.0.2.1", v6: "2001:db8:2::1" },
    lan1: { v4: "192.0.2.10", v6: "2001:db8:2::10", mac: "02:5e:4b:00:01:10" },
    lan2: { v4: "192.0.2.11", v6: "2001:db8:2::11", mac: "02:5e:4b:00:01:11" },
    lan1Ports: { ssh: 22, http: 8080 },
    lanPrefix: { v4: "192.0.2.0/24", v6: "2001:db8:2::/64" },
    docRanges: { v4: [...DOC_V4], v6: [...DOC_V6] },
    // cloaked.test is a CNAME to tracker.example.test (CNAME cloaking, as trackers do).
    names: { example: "example.test", upstream: "upstream.test", c2: "c2.test", cloaked: "cloaked.test", cnameTarget: "tracker.example.test" },
    wanIf: "eth0",
  };
  if (mode === "router") addr.wanGateway = { ...RTR_WAN };
  return addr;
}

/** The box's side of the lab. */
export function buildBoxInfo(mode: LabMode): BoxInfo {
  return mode === "bridge"
    ? { wanIf: "wan0", lanIf: "lan0", bridge: "br0", lanAddr4: "192.0.2.2", lanAddr6: "2001:db8:2::2", mac: BOX_MAC }
    : {
      wanIf: "wan0",
      lanIf: "lan0",
      lanAddr4: "192.0.2.1",
      lanAddr6: "2001:db8:2::1",
      wanAddr4: "198.51.100.2",
      wanAddr6: "2001:db8:100::2",
      mac: BOX_MAC,
    };
}

/**
 * The seal counter: lab equipment on the only way out of the LAN and box (the router in
 * bridge mode, the "internet" itself in router mode). Anything arriving there for an
 * address outside the documentation ranges is counted and dropped; the lab expects 0.
 */
export function buildSealRuleset(): NftBatch {
  const table = { family: "inet", table: "seal" };
  const notLoopback = { match: { op: "!=", left: { meta: { key: "iifname" } }, right: "lo" } };
  const leakRule = (protocol: "ip" | "ip6", allowed: Array<string | { prefix: { addr: string; len: number } }>) => ({
    add: {
      rule: {
        ...table,
        chain: "pre",
        expr: [
          notLoopback,
          { match: { op: "!=", left: { payload: { protocol, field: "daddr" } }, right: { set: allowed } } },
          { counter: "leak" },
          { drop: null },
        ],
      },
    },
  });
  const prefix = (cidr: string) => {
    const [addr = "", len = "0"] = cidr.split("/");
    return { prefix: { addr, len: Number(len) } };
  };
  return {
    nftables: [
      { add: { table: { family: "inet", name: "seal" } } },
      { add: { counter: { ...table, name: "leak" } } },
      {
        add: {
          chain: { ...table, name: "pre", type: "filter", hook: "prerouting", prio: -300, policy: "accept" },
        },
      },
      leakRule("ip", [...[...DOC_V4, "224.0.0.0/4"].map(prefix), "255.255.255.255"]),
      leakRule("ip6", [...DOC_V6, "fe80::/10", "ff00::/8"].map(prefix)),
    ],
  };
}

function addrLines(dev: string, cidrs: string[]): string[] {
  // nodad: usable at once (the namespaces also get accept_dad=0 for addresses added later).
  return cidrs.map((c) => `addr add ${c} dev ${dev}${c.includes(":") ? " nodad" : ""}`);
}

function lanHostLines(host: LanHost, gw: DualStack): string[] {
  return [
    ...addrLines("eth0", [`${host.v4}/24`, `${host.v6}/64`]),
    "link set eth0 up",
    `route add default via ${gw.v4} dev eth0`,
    `route add ::/0 via ${gw.v6} dev eth0`,
  ];
}

const BASE_SYSCTLS = [
  "net.ipv6.conf.default.accept_dad=0",
  "net.ipv6.conf.all.accept_dad=0",
];
const FORWARDING = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"];
/** br_netfilter: bridged IPv4/IPv6 pass the inet hooks (per namespace on this kernel). */
export const BR_NETFILTER_SYSCTLS = [
  "net.bridge.bridge-nf-call-iptables=1",
  "net.bridge.bridge-nf-call-ip6tables=1",
];

/** The whole lab `id` in `mode`, as data. */
export function buildLabPlan(id: string, mode: LabMode): LabPlan {
  if (!LAB_ID_PATTERN.test(id)) throw new RangeError(`lab id ${JSON.stringify(id)} must match ${LAB_ID_PATTERN}`);
  const ns = buildNamespaces(id, mode);
  const addr = buildAddresses(mode);
  const box = buildBoxInfo(mode);
  const nsKeys: LabNsKey[] = mode === "bridge"
    ? ["wan", "rtr", "box", "sw", "lan1", "lan2"]
    : ["wan", "box", "sw", "lan1", "lan2"];
  const n = (k: LabNsKey): string => {
    const name = ns[k];
    if (name === undefined) throw new RangeError(`no ${k} namespace in ${mode} mode`);
    return name;
  };
  // `link add A netns X … peer name B netns Y`: each end is born in its namespace, so no
  // lab link ever exists in the root namespace, and each dies with its namespace.
  // Every end gets its own ifindex. In fresh namespaces both ends would otherwise often get
  // ifindex 2, and the kernel's linkwatch then treats the veth's carrier change as not
  // urgent and handles it up to 1 s later; until then the interface has no IPv6 link-local
  // address, so a router behind it cannot send neighbour solicitations and the first
  // forwarded IPv6 packets wait for a retransmission (measured: 1 s in half the builds).
  let nextIndex = VETH_FIRST_IFINDEX;
  const end = (name: string, k: LabNsKey, mac?: string) => `${name} netns ${n(k)} index ${nextIndex++}${mac ? ` address ${mac}` : ""}`;
  const veth = (a: string, x: LabNsKey, b: string, y: LabNsKey, macA?: string, macB?: string) =>
    `link add ${end(a, x, macA)} type veth peer name ${end(b, y, macB)}`;

  const wanHosts4 = [addr.web.v4, addr.dns.v4, addr.attacker.v4, addr.c2.v4];
  const wanHosts6 = [addr.web.v6, addr.dns.v6, addr.attacker.v6, addr.c2.v6];
  const prefixLen = (a: string) => (a.includes(":") ? 64 : 24);
  const cidrs = (as: string[]) => as.map((a) => `${a}/${prefixLen(a)}`);

  const links: string[] = [];
  const nsBatches: Partial<Record<LabNsKey, string[]>> = {};
  const sysctls: Partial<Record<LabNsKey, string[]>> = {};
  for (const k of nsKeys) {
    nsBatches[k] = ["link set lo up"];
    sysctls[k] = [...BASE_SYSCTLS];
  }
  const batch = (k: LabNsKey) => nsBatches[k] ?? [];

  if (mode === "bridge") {
    links.push(
      veth("eth0", "wan", "eth0", "rtr"),
      veth("eth1", "rtr", "wan0", "box"),
    );
    // The "internet" is one segment holding both documentation ranges: no transit net.
    batch("wan").push(
      ...addrLines("eth0", cidrs([...wanHosts4, ...wanHosts6])),
      "link set eth0 up",
      `route add ${addr.lanPrefix.v4} via ${RTR_WAN.v4} dev eth0`,
      `route add ${addr.lanPrefix.v6} via ${RTR_WAN.v6} dev eth0`,
    );
    // The office router: routes, no NAT, so scans reach the LAN as they would for forwarded ports.
    batch("rtr").push(
      ...addrLines("eth0", [`${RTR_WAN.v4}/24`, "203.0.113.1/24", `${RTR_WAN.v6}/64`]),
      "link set eth0 up",
      ...addrLines("eth1", [`${addr.lanGateway.v4}/24`, `${addr.lanGateway.v6}/64`]),
      "link set eth1 up",
    );
    sysctls.rtr?.push(...FORWARDING);
    // Fixed MAC: a bridge otherwise takes its lowest port's MAC, which rules would have to chase.
    batch("box").push(
      `link add br0 address ${box.mac} type bridge`,
      "link set wan0 master br0",
      "link set lan0 master br0",
      "link set wan0 up",
      "link set lan0 up",
      ...addrLines("br0", [`${box.lanAddr4}/24`, `${box.lanAddr6}/64`]),
      "link set br0 up",
      `route add default via ${addr.lanGateway.v4} dev br0`,
      `route add ::/0 via ${addr.lanGateway.v6} dev br0`,
    );
    sysctls.box?.push(...BR_NETFILTER_SYSCTLS);
  } else {
    const wanGw = addr.wanGateway ?? RTR_WAN;
    links.push(veth("eth0", "wan", "wan0", "box", undefined, BOX_WAN_MAC));
    batch("wan").push(
      ...addrLines("eth0", cidrs([...wanHosts4, wanGw.v4, ...wanHosts6, wanGw.v6])),
      "link set eth0 up",
      // IPv6 is routed to the LAN, not NATed. The IPv4 route lets the LAN reach the web
      // before the firmware installs NAT (readiness proves the topology that way); with NAT
      // in place, replies go to the box's WAN address and this route is not used.
      `route add ${addr.lanPrefix.v4} via ${box.wanAddr4} dev eth0`,
      `route add ${addr.lanPrefix.v6} via ${box.wanAddr6} dev eth0`,
    );
    batch("box").push(
      ...addrLines("wan0", [`${box.wanAddr4}/24`, `${box.wanAddr6}/64`]),
      "link set wan0 up",
      ...addrLines("lan0", [`${box.lanAddr4}/24`, `${box.lanAddr6}/64`]),
      "link set lan0 up",
      `route add default via ${wanGw.v4} dev wan0`,
      `route add ::/0 via ${wanGw.v6} dev wan0`,
    );
    sysctls.box?.push(...FORWARDING);
  }
  // The switch has its own namespace: the box keeps exactly two ports, as the hardware does,
  // and lan1 <-> lan2 traffic never crosses it.
  links.push(
    veth("lan0", "box", "up0", "sw", mode === "router" ? box.mac : undefined),
    veth("p1", "sw", "eth0", "lan1", undefined, addr.lan1.mac),
    veth("p2", "sw", "eth0", "lan2", undefined, addr.lan2.mac),
  );
  batch("sw").push(
    "link add sw0 type bridge",
    "link set sw0 up",
    ...["up0", "p1", "p2"].flatMap((p) => [`link set ${p} master sw0`, `link set ${p} up`]),
  );
  batch("lan1").push(...lanHostLines(addr.lan1, addr.lanGateway));
  batch("lan2").push(...lanHostLines(addr.lan2, addr.lanGateway));

  return {
    id,
    mode,
    ns,
    addr,
    box,
    nsKeys,
    links,
    nsBatches,
    sysctls,
    sealNs: mode === "bridge" ? "rtr" : "wan",
    seal: buildSealRuleset(),
    resolvConf: `# sekisho lab ${id}: the lab's upstream resolver, never the host's\n` +
      `nameserver ${addr.dns.v4}\noptions timeout:1 attempts:2\n`,
  };
}

/** `http://host:port/` with IPv6 literals bracketed. */
export function buildUrl(host: string, port = 80, path = "/"): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `http://${h}${port === 80 ? "" : `:${port}`}${path}`;
}

/** `host:port` as the lab's HTTP listener takes it (IPv6 bracketed). */
export function buildBindSpec(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The lab's own daemons (not the firmware's), given where their files live. */
export function buildServices(
  plan: LabPlan,
  files: { httpListener: string; www: (site: string) => string },
): ServiceSpec[] {
  const { addr } = plan;
  const http = (ns: LabNsKey, name: string, site: string, binds: string[]): ServiceSpec => ({
    ns,
    name,
    argv: ["python3", "-u", files.httpListener, files.www(site), ...binds],
  });
  const answer = (name: string, h: DualStack) => [`--address=/${name}/${h.v4}`, `--address=/${name}/${h.v6}`];
  return [
    // The real upstream: a DNS filter in the box is proven by answering differently from it.
    {
      ns: "wan",
      name: "dns-upstream",
      argv: [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--user=root",
        "--pid-file=",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        `--listen-address=${addr.dns.v4},${addr.dns.v6}`,
        ...answer(addr.names.example, addr.web),
        ...answer(addr.names.upstream, addr.web),
        ...answer(addr.names.c2, addr.c2),
        `--host-record=${addr.names.cnameTarget},${addr.web.v4},${addr.web.v6}`,
        `--cname=${addr.names.cloaked},${addr.names.cnameTarget}`,
        "--address=/#/", // everything else: NXDOMAIN, as from a real resolver
        "--log-queries",
        "--log-facility=-",
      ],
    },
    http("wan", "web", "web", [buildBindSpec(addr.web.v4, 80), buildBindSpec(addr.web.v6, 80)]),
    http("wan", "c2", "c2", addr.c2Ports.flatMap((p) => [buildBindSpec(addr.c2.v4, p), buildBindSpec(addr.c2.v6, p)])),
    http("lan1", "lan1-listeners", "lan1", [
      buildBindSpec("::", addr.lan1Ports.ssh),
      buildBindSpec("::", addr.lan1Ports.http),
    ]),
  ];
}

/** What must answer before a lab counts as up. */
export function buildProbes(plan: LabPlan): ProbeSpec[] {
  const { addr } = plan;
  const curl = (ns: LabNsKey, url: string): ProbeSpec => ({
    what: `${ns} -> ${url}`,
    ns,
    argv: ["curl", "-sf", "-o", "/dev/null", "--max-time", "1", url],
  });
  const dig = (server: string): ProbeSpec => ({
    what: `upstream DNS @${server}`,
    ns: "wan",
    argv: ["dig", "+short", "+time=1", "+tries=1", `@${server}`, addr.names.example],
    expect: addr.web.v4,
  });
  return [
    dig(addr.dns.v4),
    dig(addr.dns.v6),
    curl("wan", buildUrl(addr.web.v4)),
    curl("wan", buildUrl(addr.web.v6)),
    ...addr.c2Ports.flatMap((p) => [curl("wan", buildUrl(addr.c2.v4, p)), curl("wan", buildUrl(addr.c2.v6, p))]),
    curl("lan1", buildUrl(addr.lan1.v4, addr.lan1Ports.ssh)),
    curl("lan1", buildUrl(addr.lan1.v6, addr.lan1Ports.http)),
    // Through the box (no rules yet): proves the topology end to end, both families.
    curl("lan1", buildUrl(addr.web.v4)),
    curl("lan1", buildUrl(addr.web.v6)),
    // The box's own reach (its DNS forwarder and sync will need it).
    curl("box", buildUrl(addr.web.v4)),
    curl("box", buildUrl(addr.web.v6)),
  ];
}

/** The ulogd2 configuration: NFLOG groups -> JSON datagrams to a UDP port on the box's loopback. */
export function buildUlogdConf(opts: {
  pluginDir: string;
  groups: number[];
  port: number;
  logFile: string;
  device: string;
  /** Packets the kernel queues before sending them to ulogd (default 1: each at once). */
  qthreshold?: number;
}): string {
  const plugins = [
    "ulogd_inppkt_NFLOG.so",
    "ulogd_raw2packet_BASE.so",
    "ulogd_filter_IFINDEX.so",
    "ulogd_filter_IP2STR.so",
    "ulogd_filter_HWHDR.so",
    "ulogd_output_JSON.so",
  ];
  const lines = [
    "[global]",
    `logfile="${opts.logFile}"`,
    "loglevel=3",
    ...plugins.map((p) => `plugin="${opts.pluginDir}/${p}"`),
    // One stack per group: an NFLOG instance binds exactly one group.
    ...opts.groups.map((g) =>
      `stack=log${g}:NFLOG,base${g}:BASE,ifi${g}:IFINDEX,ip2str${g}:IP2STR,mac2str${g}:HWHDR,json${g}:JSON`
    ),
  ];
  for (const g of opts.groups) {
    lines.push(
      "",
      `[log${g}]`,
      `group=${g}`,
      // The kernel batches NFLOG messages (flushing every 1 s or 100 packets) unless asked
      // for each packet at once: without this, each event reached the listener ~1 s late.
      `netlink_qthreshold=${opts.qthreshold ?? 1}`,
      "",
      `[json${g}]`,
      "sync=1",
      'mode="udp"',
      'host="127.0.0.1"',
      `port="${opts.port}"`,
      `device="${opts.device}"`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Groups bound in a /proc/net/netfilter/nfnetlink_log listing (first column, decimal). */
export function parseNflogGroups(text: string): number[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((f) => /^\d+$/.test(f))
    .map(Number);
}

/** The packet count of a named counter in `nft -j list counter …` output. */
export function parseNftCounterPackets(json: string, name: string): number {
  const doc = JSON.parse(json) as { nftables?: Array<{ counter?: { name?: string; packets?: number } }> };
  const counter = doc.nftables?.find((o) => o.counter?.name === name)?.counter;
  if (typeof counter?.packets !== "number") throw new Error(`no counter ${name} in nft output`);
  return counter.packets;
}
