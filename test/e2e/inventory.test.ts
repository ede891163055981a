/**
 * LAN devices end to end: the inventory service under Deno (with the permissions it needs and
 * no more) in the box namespace of a bridge-mode lab, fed by the real neighbour table and by
 * DHCP/ARP snooping through real nft rules, a real ulogd2 (NFLOG → PCAP) and a real DHCP
 * exchange (dnsmasq on the office router, busybox udhcpc on a new host).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { readDevices, type InventoryDevice } from "../../firmware/inventory/inventory.ts";
import type { InventoryStatus } from "../../firmware/inventory/service.ts";
import { buildSnoopUlogdConf } from "../../firmware/inventory/snoop-config.ts";
import { closeDatabase, openDatabase, type Database } from "../../firmware/store/database.ts";
import { createLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { DENO, REPO_ROOT } from "../lab/firmware.ts";

const root = process.getuid?.() === 0;
const SNOOP_GROUP = 2;
/** A new host with an Apple OUI (00:1b:63), as a MacBook brought into the office. */
const NEW_MAC = "00:1b:63:84:45:e6";
const NEW_HOSTNAME = "keiri-macbook";
const NEW_NS = `skinv${process.pid}pc`;
const BASELINE_MS = 3000;

/**
 * The rules the ruleset compiler is asked to emit (bridge mode), loaded here into a table of
 * our own: DHCP in both directions and ARP, copied to the snooping NFLOG group, rate-limited.
 */
function snoopRules(group: number): unknown {
  const t = { family: "bridge", table: "inventory_snoop" };
  const udpPorts = (field: "sport" | "dport") =>
    ({ match: { op: "==", left: { payload: { protocol: "udp", field } }, right: { set: [67, 68] } } });
  return {
    nftables: [
      { add: { table: { family: "bridge", name: "inventory_snoop" } } },
      { add: { chain: { ...t, name: "pre", type: "filter", hook: "prerouting", prio: -200, policy: "accept" } } },
      { add: { rule: { ...t, chain: "pre", expr: [
        { match: { op: "==", left: { meta: { key: "l4proto" } }, right: "udp" } },
        udpPorts("sport"),
        udpPorts("dport"),
        { limit: { rate: 50, per: "second", burst: 100 } },
        { log: { group, snaplen: 1500 } },
      ] } } },
      { add: { rule: { ...t, chain: "pre", expr: [
        { match: { op: "==", left: { meta: { key: "protocol" } }, right: "arp" } },
        { limit: { rate: 50, per: "second", burst: 100 } },
        { log: { group, snaplen: 64 } },
      ] } } },
    ],
  };
}

/** ulogd2's plugin directory, with the PCAP output (Debian package ulogd2-pcap) in it. */
function ulogdPluginDir(): string {
  const files = execFileSync("dpkg", ["-L", "ulogd2"], { encoding: "utf8" }).split("\n");
  const nflog = files.find((f) => f.endsWith("/ulogd_inppkt_NFLOG.so"));
  if (nflog === undefined) throw new Error("ulogd2 is not installed");
  const dir = nflog.slice(0, nflog.lastIndexOf("/"));
  if (!existsSync(join(dir, "ulogd_output_PCAP.so"))) throw new Error(`no ${dir}/ulogd_output_PCAP.so: install ulogd2-pcap`);
  return dir;
}

describe.skipIf(!root)("LAN devices in bridge mode", () => {
  let lab: Lab;
  let dir: string;
  let service: LabProcess;
  let db: Database;

  const events = async (): Promise<BoxEvent[]> =>
    (await readFile(service.logFile, "utf8")).split("\n")
      .filter((l) => l.startsWith("event "))
      .map((l) => JSON.parse(l.slice(6)) as BoxEvent);
  const device = async (mac: string): Promise<InventoryDevice | undefined> => (await readDevices(db)).find((d) => d.mac === mac);

  beforeAll(async () => {
    lab = await createLab({ mode: "bridge" });
    dir = join(lab.runDir, "inventory");
    await mkdir(dir, { recursive: true });
    const rules = join(dir, "snoop-rules.json");
    await writeFile(rules, JSON.stringify(snoopRules(SNOOP_GROUP)));
    const nft = await lab.exec("box", ["nft", "-j", "-f", rules]);
    if (nft.code !== 0) throw new Error(`nft refused the snooping rules: ${nft.stderr}`);

    // The office router is the LAN's DHCP server.
    lab.spawn("rtr", "dhcp-server", [
      "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root", "--pid-file=", "--port=0",
      "--bind-interfaces", "--interface=eth1", "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h",
      `--dhcp-leasefile=${join(dir, "leases")}`, "--no-ping", "--log-dhcp", "--log-facility=-",
    ]);
    // lan1 was there before the box: it has talked to the box once (refused: nothing listens on :1).
    await lab.exec("lan1", ["curl", "-s", "--max-time", "1", `http://${lab.box.lanAddr4}:1/`]);

    const readable = [join(REPO_ROOT, "node_modules"), join(REPO_ROOT, "firmware", "inventory", "migrations"), dir];
    service = lab.spawn("box", "inventory", [
      DENO, "run", "--quiet", "--config", join(REPO_ROOT, "deno.json"),
      "--allow-run=ip", `--allow-read=${readable.join(",")}`, `--allow-write=${dir}`,
      // libsql's native binding: FFI, and its loader reads LIBSQL_JS_DEV and process.report (sys).
      "--allow-ffi", "--allow-sys", "--allow-env=NODE_V8_COVERAGE,LIBSQL_JS_DEV",
      join(REPO_ROOT, "test", "e2e", "inventory-box.ts"),
      "--dir", dir, "--lan-dev", "br0", "--lan-prefix", lab.addr.lanPrefix.v4, "--lan-prefix", lab.addr.lanPrefix.v6,
      "--own-mac", lab.box.mac, "--baseline-ms", String(BASELINE_MS), "--poll-ms", "250",
    ]);
    let exited = false;
    void service.exited.then(() => { exited = true; });
    await waitFor("the inventory service to start", async () => {
      const log = await readFile(service.logFile, "utf8").catch(() => "");
      if (exited) throw new Error(`the inventory service exited: ${log}`);
      return log.split("\n").includes("ready");
    }, { timeoutMs: 20_000 });

    // ulogd after the service: the service prepared the pcap file, so ulogd appends to it.
    const conf = join(dir, "snoop-ulogd.conf");
    await writeFile(conf, buildSnoopUlogdConf({
      pluginDir: ulogdPluginDir(),
      group: SNOOP_GROUP,
      file: join(dir, "snoop.pcap"),
      logFile: join(dir, "snoop-ulogd.log"),
    }));
    lab.spawn("box", "snoop-ulogd", ["ulogd", "-c", conf, "-p", join(dir, "snoop-ulogd.pid")]);
    await waitFor(`ulogd bound to NFLOG group ${SNOOP_GROUP}`, async () => {
      const r = await lab.exec("box", ["cat", "/proc/net/netfilter/nfnetlink_log"]);
      return r.stdout.split("\n").some((l) => l.trim().split(/\s+/)[0] === String(SNOOP_GROUP));
    });
    db = await openDatabase(join(dir, "sekisho.db"));
  }, 60_000);

  afterAll(async () => {
    if (db !== undefined) closeDatabase(db);
    spawnSync("ip", ["netns", "delete", NEW_NS], { stdio: "ignore" });
    await rm(join("/etc/netns", NEW_NS), { recursive: true, force: true });
    await lab?.destroy();
  });

  it("lists the devices of the first scan as the baseline, without new-device events", async () => {
    await waitFor("lan1 in the inventory", async () => (await device(lab.addr.lan1.mac)) !== undefined);
    expect(await device(lab.addr.lan1.mac)).toMatchObject({
      macKind: "randomised", // the lab's MACs are locally administered
      vendor: null,
      baseline: true,
      addresses: expect.arrayContaining([expect.objectContaining({ ip: lab.addr.lan1.v4 })]),
    });
    expect(await events()).toEqual([]);
  });

  it("finds a new host on lan2 from its DHCP request and its traffic: MAC, vendor, hostname, address, one event", async () => {
    // The baseline window (3 s from the service's first start) must be over.
    const started = Number((await db.client.execute("SELECT value FROM inventory_state WHERE key = 'baseline_started'")).rows[0]?.[0]);
    await waitFor("the baseline window to end", () => Date.now() > started + BASELINE_MS, { timeoutMs: BASELINE_MS + 5000 });

    // The new host: a macvlan on lan2's cable, in a namespace of its own.
    const netnsDir = join("/etc/netns", NEW_NS);
    await mkdir(netnsDir, { recursive: true });
    await writeFile(join(netnsDir, "resolv.conf"), `nameserver ${lab.addr.dns.v4}\n`);
    const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args]);
    execFileSync("ip", ["netns", "add", NEW_NS]);
    ip(lab.ns.lan2, "link", "add", "mv0", "link", "eth0", "address", NEW_MAC, "type", "macvlan", "mode", "bridge");
    ip(lab.ns.lan2, "link", "set", "mv0", "netns", NEW_NS);
    ip(NEW_NS, "link", "set", "lo", "up");
    ip(NEW_NS, "link", "set", "mv0", "up");
    const script = join(dir, "udhcpc.sh");
    await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/${mask:-24}" dev "$interface"\nexit 0\n', { mode: 0o755 });

    const t0 = performance.now();
    const dhcp = spawnSync("ip", ["netns", "exec", NEW_NS, "udhcpc", "-i", "mv0", "-f", "-q", "-n", "-t", "5", "-T", "1",
      "-s", script, "-x", `hostname:${NEW_HOSTNAME}`, "-V", "MSFT 5.0"], { encoding: "utf8", timeout: 15_000 });
    const leased = /lease of (192\.0\.2\.\d+) obtained/.exec(dhcp.stdout + dhcp.stderr)?.[1];
    expect(leased, `udhcpc: ${dhcp.stdout}${dhcp.stderr}`).toBeDefined();

    await waitFor("the new host with its DHCP hostname and leased address", async () => {
      const d = await device(NEW_MAC);
      return d?.dhcpHostname === NEW_HOSTNAME && d.addresses.some((a) => a.ip === leased);
    }, { timeoutMs: 5000 });
    const dhcpMs = performance.now() - t0;

    // It talks to the box (a refused port): the box's neighbour table gets it.
    spawnSync("ip", ["netns", "exec", NEW_NS, "curl", "-s", "--max-time", "1", `http://${lab.box.lanAddr4}:1/`], { stdio: "ignore" });
    // And it asks for the router's MAC: an ARP request across the bridge (snooped).
    spawnSync("ip", ["netns", "exec", NEW_NS, "busybox", "arping", "-c", "1", "-w", "1", "-I", "mv0", lab.addr.lanGateway.v4], { stdio: "ignore" });
    await waitFor("the neighbour poller to see the new host", async () => (await device(NEW_MAC))?.lastSource === "neighbour", { timeoutMs: 5000 })
      .catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}; box neighbours: ${(await lab.exec("box", ["ip", "neigh"])).stdout}`);
      });

    expect(await device(NEW_MAC)).toMatchObject({
      mac: NEW_MAC,
      macKind: "global",
      vendor: "Apple, Inc.",
      dhcpHostname: NEW_HOSTNAME,
      dhcpVendorClass: "MSFT 5.0",
      dhcpClientId: `01${NEW_MAC.replaceAll(":", "")}`,
      baseline: false,
      addresses: [expect.objectContaining({ ip: leased, family: 4 })],
    });
    await waitFor("the new-device event", async () => (await events()).some((e) => e.lanMac === NEW_MAC));
    const mine = (await events()).filter((e) => e.lanMac === NEW_MAC);
    expect(mine).toEqual([expect.objectContaining({
      category: "endpoint",
      severity: "low",
      logId: "new-device",
      ruleId: "new-device",
      lanMac: NEW_MAC,
      lanIp: leased,
      message: `new device ${NEW_MAC} (Apple, Inc., ${NEW_HOSTNAME})`,
    })]);
    // Only the new host: lan1 and the router were the baseline.
    expect((await events()).map((e) => e.lanMac)).toEqual([NEW_MAC]);
    console.log(`inventory e2e: DHCP request → device listed with hostname and lease in ${Math.round(dhcpMs)} ms`);
  });

  it("sent nothing outside the lab", async () => {
    expect(await lab.sealLeaks()).toBe(0);
  });

  it("stops cleanly on SIGTERM, with the last-seen times written", async () => {
    await service.kill();
    const code = await service.exited;
    const log = await readFile(service.logFile, "utf8");
    expect(log.split("\n"), log).toContain("stopped");
    expect(code, log).toBe(0);
    // Nothing went wrong in the background, and every snooped record was understood.
    expect(log.split("\n").filter((l) => l.startsWith("inventory:"))).toEqual([]);
    const status = JSON.parse(log.split("\n").find((l) => l.startsWith("status "))?.slice(7) ?? "{}") as InventoryStatus;
    expect(status.snoop, log).toMatchObject({ rejected: 0, skippedBytes: 0 });
    expect(status.snoop?.dhcp, log).toBeGreaterThanOrEqual(4); // DISCOVER, OFFER, REQUEST, ACK
    expect(status.snoop?.arp, log).toBeGreaterThan(0); // at least the new host's arping
    const snoop = await readFile(join(dir, "snoop-ulogd.log"), "utf8");
    expect(snoop).not.toMatch(/<[1-7]> .*(error|can't)/i);
  });
});
