/**
 * Sekisho firmware: the composition root and the command line.
 *
 *   sekisho run     [--device FILE] [--policy FILE]   boot path + policy, stays up (SIGTERM stops, SIGHUP reloads)
 *   sekisho compile [--device FILE] [--policy FILE]   prints the nft JSON batch (nothing is applied)
 *   sekisho apply   [--device FILE]  --policy FILE    applies a policy once
 *   sekisho status  [--device FILE] [--json]          table present, policy id/serial, counters
 *   sekisho events  [--json] [--limit N]              recent incidents and events
 *   sekisho alerts  [--json] [--limit N] [--lang ja|en]  alerts with their plain-language text
 *   sekisho devices [--json]                          the LAN's devices
 *   sekisho dns query NAME [--client IP] [--policy FILE]  the DNS filter's decision for a name (no packet)
 *   sekisho dns stats                                 the running DNS filter's counters
 *
 * On the box it runs under Deno with exactly the permissions of firmware/deno-permissions.ts
 * (README, "Running the firmware").
 */
import { writeSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import baseline from "../policies/baseline.json" with { type: "json" };
import { parseDevice, type Device } from "../policies/device.ts";
import { formatProblems, parsePolicy, parsePolicyText, type Policy } from "../policies/schema.ts";
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../policies/net.ts";
import { EMPTY_OVERRIDES, mergeOverrides, type MergedPolicy } from "../policies/overrides.ts";
import { PolicyController } from "./policy/controller.ts";
import { applyPolicyMigrations } from "./policy/history.ts";
import { OverrideStore } from "./policy/override-store.ts";
import { AlertEngine } from "./alerts/engine.ts";
import { AlertService } from "./alerts/service.ts";
import { AlertStore, applyAlertMigrations } from "./alerts/store.ts";
import { renderAlertText } from "./alerts/texts.ts";
import { Conntrack } from "./enforce/conntrack.ts";
import { Enforcer, writeFileAtomic, type ApplyOutcome } from "./enforce/enforcer.ts";
import { lanNetworks } from "./events/classify.ts";
import { recentEvents, recentIncidents } from "./events/queries.ts";
import { applyEventMigrations } from "./events/store.ts";
import { EventWriter } from "./events/writer.ts";
import { buildLanScope } from "./inventory/observation.ts";
import { readDevices } from "./inventory/inventory.ts";
import { INVENTORY_MIGRATIONS, InventoryService } from "./inventory/service.ts";
import { buildSnoopUlogdStack } from "./inventory/snoop-config.ts";
import { loadVendorTable } from "./inventory/vendor.ts";
import { blockPageFor } from "./dns/block-page.ts";
import { adminHosts, routeByHost, serveWeb, type Peer, type WebHandler, type WebServer } from "./admin/server.ts";
import { readLabel, writeLabel } from "./admin/label.ts";
import { infrastructureReader } from "./admin/infrastructure.ts";
import { collectBoxStatus } from "./admin/status.ts";
import { createAdminApp } from "../webui/app.ts";
import { ensureAdminPassword } from "../webui/auth/password.ts";
import { applyWebuiMigrations } from "../webui/store.ts";
import packageJson from "../package.json" with { type: "json" };
import { dnsQueryEvents } from "./dns/events.ts";
import { formatDnsStats, formatNameExplanation } from "./dns/cli.ts";
import { BOX_NAME, compileDnsFilter, explainName, type ClientIdentity, type NameExplanation } from "./dns/filter.ts";
import { LocalDnsEngine } from "./dns/engine.ts";
import { readStoredLists, refreshLists } from "./dns/list-store.ts";
import type { DnsQueryRecord } from "./dns/query-log.ts";
import { macTable, type DnsEngine, type DnsEngineConfig, type DnsFilterSpec, type DnsStats } from "./dns/thread-protocol.ts";
import { ThreadedDnsEngine } from "./dns/threaded-server.ts";
import type { Upstream } from "./dns/upstream.ts";
import type { BoxEvent } from "./events/types.ts";
import { bindLogReceiver } from "./logs/receiver.ts";
import { ThreadedLogReceiver } from "./logs/threaded-receiver.ts";
import type { ReceiverCounters } from "./logs/types.ts";
import { bindSyslogSender } from "./logs/syslog-sender.ts";
import { buildUlogdConfig, startUlogd } from "./logs/ulogd.ts";
import { Nft } from "./nftables/driver.ts";
import { buildReplaceBatch, compileRuleset, TABLE } from "./ruleset/compile.ts";
import type { RuleMetaMap } from "./ruleset/meta.ts";
import { applyMigrations, closeDatabase, openDatabase, type Database } from "./store/database.ts";

const DEFAULT_DEVICE = "/etc/sekisho/device.json";
const WATCHDOG_MS = 5_000;

class UsageError extends Error {}
/** An expected failure with a message for the operator; exit code 1, no stack trace. */
class CliFailure extends Error {}

async function loadDevice(path: string): Promise<Device> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliFailure(`cannot read device config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CliFailure(`device config ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const r = parseDevice(raw);
  if (!r.ok) throw new CliFailure(`device config ${path} is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliFailure(`cannot read policy ${path}: ${(e as Error).message}`);
  }
  const r = parsePolicyText(text);
  if (!r.ok) throw new CliFailure(`policy ${path} is invalid, nothing was changed:\n${formatProblems(r.problems)}`);
  return r.value;
}

/** The policy shipped with the firmware: what a box enforces before it has heard from its provider. */
function baselinePolicy(): Policy {
  const r = parsePolicy(baseline);
  if (!r.ok) throw new Error(`shipped baseline policy is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

function describe(o: ApplyOutcome): string {
  if (!o.ok) {
    return [o.error, o.nftMessage ? `nft said: ${o.nftMessage.trim()}` : "", o.failedCommand ? `failing command: ${JSON.stringify(o.failedCommand).slice(0, 400)}` : ""]
      .filter(Boolean).join("\n");
  }
  const cut = o.cut ? `; cut the open connections of ${o.cut} newly blocked addresses` : "";
  const cutError = o.cutError ? `; could not cut open connections: ${o.cutError}` : "";
  return `policy ${o.policy.id} serial ${o.policy.serial} applied (${o.kind}, +${o.added} -${o.deleted} elements, ${o.ms} ms)${cut}${cutError}`;
}

function services(device: Device) {
  const nft = new Nft({ runDir: device.runDir });
  const enforcer = new Enforcer({ nft, dataDir: device.dataDir, conntrack: new Conntrack() });
  return { nft, enforcer };
}

/** Synchronous, so a line written just before exit is never lost. */
function log(msg: string): void {
  writeSync(2, `sekisho: ${msg}\n`);
}

async function cmdCompile(device: Device, policy: Policy, withMeta: boolean): Promise<void> {
  const compiled = compileRuleset(policy, device);
  const out = withMeta ? { nftables: buildReplaceBatch(compiled), meta: compiled.meta } : { nftables: buildReplaceBatch(compiled) };
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

/**
 * The policy in force, kept beside the last-known-good ruleset: what the DNS filter and
 * `dns query` use after a reboot, when no policy file is given.
 */
function appliedPolicyPath(device: Device): string {
  return join(device.dataDir, "policy", "applied.json");
}

async function keepAppliedPolicy(device: Device, policy: Policy): Promise<void> {
  await writeFileAtomic(appliedPolicyPath(device), JSON.stringify(policy));
}

/** The policy last applied on this box, else the shipped baseline. */
async function appliedPolicy(device: Device): Promise<Policy> {
  const text = await readFile(appliedPolicyPath(device), "utf8").catch(() => undefined);
  const r = text === undefined ? undefined : parsePolicyText(text);
  return r?.ok ? r.value : baselinePolicy();
}

async function cmdApply(device: Device, policy: Policy): Promise<number> {
  const { enforcer } = services(device);
  // The box's local overrides apply to any policy (a blocked device stays blocked).
  const kept = await new OverrideStore({ dataDir: device.dataDir }).load();
  if (!kept.ok) process.stderr.write(`sekisho: local overrides not used: ${kept.error}\n`);
  const merged = mergeOverrides(policy, kept.ok ? kept.overrides : EMPTY_OVERRIDES);
  const o = await enforcer.apply(compileRuleset(merged.policy, device, { blockedDevices: merged.blockedDevices }));
  if (o.ok) await keepAppliedPolicy(device, policy);
  (o.ok ? process.stdout : process.stderr).write(`${describe(o)}\n`);
  return o.ok ? 0 : 1;
}

/** Fixed-width table for the terminal; every cell is already plain text. */
function printTable(rows: Record<string, string | number>[], columns: string[]): void {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write(`${[line(columns), ...rows.map((r) => line(columns.map((c) => String(r[c] ?? ""))))].join("\n")}\n`);
}

const jst = (ms: number) => new Date(ms).toLocaleString("ja-JP", { timeZone: "Asia/Tokyo", hour12: false });
/** Text from the network (hostnames, syslog) shown in a terminal: no control sequences. */
const plain = (s: string | null | undefined) => (s ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

async function cmdEvents(device: Device, json: boolean, limit: number): Promise<number> {
  const database = await openStore(device);
  try {
    const incidents = await recentIncidents(database, { limit });
    const events = await recentEvents(database, { limit });
    if (json) {
      process.stdout.write(`${JSON.stringify({ incidents, events }, null, 1)}\n`);
      return 0;
    }
    process.stdout.write("incidents:\n");
    printTable(incidents.map((i) => ({
      id: i.id, last: jst(i.lastSeen), category: i.category, severity: i.severity, rule: i.logId,
      lan: i.lanIp ?? "", remote: i.remoteIp ?? "", count: i.count, ports: i.portCount,
    })), ["id", "last", "category", "severity", "rule", "lan", "remote", "count", "ports"]);
    process.stdout.write("\nevents:\n");
    printTable(events.map((e) => ({
      time: jst(e.time), category: e.category, severity: e.severity, rule: e.logId, lan: e.lanIp ?? "",
      remote: e.remoteIp ?? "", port: e.port ?? "", message: plain(e.message).slice(0, 60),
    })), ["time", "category", "severity", "rule", "lan", "remote", "port", "message"]);
    return 0;
  } finally {
    closeDatabase(database);
  }
}

async function cmdAlerts(device: Device, json: boolean, limit: number, lang: "ja" | "en"): Promise<number> {
  const database = await openStore(device);
  try {
    const alerts = await new AlertStore({ database }).listAlerts({ limit });
    if (json) {
      process.stdout.write(`${JSON.stringify(alerts.map((a) => ({ ...a, text: renderAlertText(a, lang) })), null, 1)}\n`);
      return 0;
    }
    printTable(alerts.map((a) => ({
      id: a.id.slice(0, 8), last: jst(a.lastSeen), severity: a.severity, state: a.state, kind: a.kind,
      device: plain(a.device.name ?? a.device.ip ?? a.device.mac ?? ""), count: a.count,
      title: plain(renderAlertText(a, lang).title),
    })), ["id", "last", "severity", "state", "kind", "device", "count", "title"]);
    return 0;
  } finally {
    closeDatabase(database);
  }
}

async function cmdDevices(device: Device, json: boolean): Promise<number> {
  const database = await openStore(device);
  try {
    const devices = await readDevices(database);
    if (json) {
      process.stdout.write(`${JSON.stringify(devices, null, 1)}\n`);
      return 0;
    }
    printTable(devices.map((d) => ({
      mac: d.mac, ip: d.addresses.map((a) => a.ip).join(" "), name: plain(d.name ?? d.dhcpHostname),
      vendor: plain(d.vendor ?? (d.macKind === "randomised" ? "ランダムMAC" : "")), first: jst(d.firstSeen), last: jst(d.lastSeen),
    })), ["mac", "ip", "name", "vendor", "first", "last"]);
    return 0;
  } finally {
    closeDatabase(database);
  }
}

/**
 * `dns query NAME [--client IP]`: the filter's decision and the rule behind it, without a
 * packet (built from the policy and the kept lists, as the running filter is);
 * `dns stats`: the running filter's counters.
 */
async function cmdDns(device: Device, args: string[], client: string | undefined, policyPath: string | undefined): Promise<number> {
  const [sub, name] = args;
  if (sub === "stats") {
    const text = await readFile(join(device.runDir, "dns-stats.json"), "utf8").catch(() => undefined);
    if (!text) throw new CliFailure("no DNS statistics: is `sekisho run` running with the DNS filter enabled?");
    process.stdout.write(`${formatDnsStats(JSON.parse(text))}\n`);
    return 0;
  }
  if (sub !== "query" || !name) throw new UsageError("usage: sekisho dns query NAME [--client IP] [--policy FILE] | sekisho dns stats");
  const policy = policyPath ? await loadPolicy(policyPath) : await appliedPolicy(device);
  const box = dnsBoxAddresses(device);
  const listTexts = readStoredLists(policy.dns.lists, join(device.dataDir, "dns-lists"));
  const r = compileDnsFilter({ policy: policy.dns, listTexts, box }, { allowPartial: true });
  if (!r.ok) throw new CliFailure(`the DNS filter could not be built: ${r.error.kind}`);
  process.stdout.write(`${formatNameExplanation(explainName(r.filter, name, client ? { ip: client } : undefined), client)}\n`);
  return 0;
}

async function cmdStatus(device: Device, json: boolean): Promise<number> {
  const { nft, enforcer } = services(device);
  const present = await nft.tableExists("inet", TABLE);
  const lkg = await enforcer.readLastKnownGood().catch(() => undefined);
  const counters = present ? await nft.listCounters("inet", TABLE) : new Map<string, { packets: number; bytes: number }>();
  // Bridge mode: the port marks and the device block count in the bridge table.
  if (device.mode === "bridge" && await nft.tableExists("bridge", TABLE)) {
    for (const [k, v] of await nft.listCounters("bridge", TABLE)) counters.set(`bridge:${k}`, v);
  }
  const service = await readFile(join(device.runDir, "status.json"), "utf8").then((t) => JSON.parse(t) as unknown, () => null);
  const status = {
    table: present,
    service,
    mode: device.mode,
    policy: lkg ? { ...lkg.policy, appliedAt: lkg.savedAt } : null,
    counters: Object.fromEntries([...counters].sort(([a], [b]) => a.localeCompare(b))),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 1)}\n`);
  } else {
    const lines = [
      `table inet ${TABLE}: ${present ? "present" : "MISSING"}`,
      `mode: ${device.mode}`,
      `policy: ${lkg ? `${lkg.policy.id} serial ${lkg.policy.serial} (applied ${lkg.savedAt})` : "none"}`,
      "counters (packets):",
      ...Object.entries(status.counters).map(([k, v]) => `  ${k.padEnd(28)} ${v.packets}`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  return present ? 0 : 1;
}

/** The database with every capability's migrations applied. */
async function openStore(device: Device): Promise<Database> {
  const database = await openDatabase(join(device.dataDir, "sekisho.db"));
  await applyEventMigrations(database);
  await applyAlertMigrations(database);
  await applyMigrations(database, INVENTORY_MIGRATIONS, "inventory");
  await applyPolicyMigrations(database);
  await applyWebuiMigrations(database);
  return database;
}

type PipelineStatus = {
  receiver: ReceiverCounters;
  events: ReturnType<EventWriter["counters"]>;
  alerts: ReturnType<AlertService["counters"]>;
  inventory: ReturnType<InventoryService["status"]>;
  ulogd: { running: boolean; exit?: string };
};

type Pipeline = {
  database: Database;
  alertStore: AlertStore;
  inventory: InventoryService;
  /** Component health and counters, for `status` and the admin page. */
  status(): PipelineStatus;
  setMeta(meta: RuleMetaMap): void;
  /** Events classified elsewhere (the DNS filter's blocks) into the next batch. */
  submit(events: BoxEvent[]): void;
  /** A LAN host's MAC, from the inventory. */
  macOf(ip: string): string | undefined;
  stop(): Promise<void>;
};

/**
 * What the box knows about what it blocks: ulogd2 (NFLOG) and LAN syslog → the log receiver
 * → classifier, incidents, rollups (event writer, batched) → alerts (store, outbox, syslog
 * forwarding); the inventory learns devices from the neighbour table, DHCP/ARP snooping and
 * the logged packets, and its new-device events join the same batches.
 */
async function startPipeline(device: Device, meta: RuleMetaMap): Promise<Pipeline> {
  const database = await openStore(device);
  const stops: (() => Promise<void>)[] = [async () => closeDatabase(database)];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((e: unknown) => log(`stop: ${(e as Error).message}`));
    }
  };
  try {
    const receiverOptions = {
      address: "::", port: device.syslogPort,
      syslogSources: ["127.0.0.0/8", "::1/128", ...device.lanPrefixes],
      onError: (e: Error) => log(`log receiver: ${e.message}`),
    };
    // On the box (Deno) the socket is read on a worker thread, so the writer's synchronous
    // commits never leave the kernel's receive buffer unread (test/bench, ingest).
    const receiver = "Deno" in globalThis ? await ThreadedLogReceiver.start(receiverOptions) : await bindLogReceiver(receiverOptions);
    let inventory: InventoryService | undefined;
    // The inventory sees the logged packets too (a PC that only shows up as C&C attempts).
    const source = {
      takeBatch(max: number) {
        const records = receiver.takeBatch(max);
        const packets = records.filter((r) => r.kind === "packet");
        if (packets.length > 0) void inventory?.observePackets(packets);
        return records;
      },
    };
    const writer = new EventWriter({
      database, source, meta, lan: lanNetworks(device.lanPrefixes),
      onError: (e) => log(`events: ${e.message}`),
    });
    let currentMeta = meta;
    const sender = device.syslogCollector ? await bindSyslogSender({ collector: device.syslogCollector }) : undefined;
    const engine = new AlertEngine({
      clock: Date.now,
      lookupRule: (logId) => currentMeta[logId],
      lookupDevice: ({ ip, mac }) => {
        const d = inventory?.inventory.listDevices().find((x) => (mac !== undefined && x.mac === mac) || (ip !== undefined && x.addresses.some((a) => a.ip === ip)));
        return d && { mac: d.mac, ...(d.name ?? d.dhcpHostname ? { name: (d.name ?? d.dhcpHostname)! } : {}), ...(d.vendor ? { vendor: d.vendor } : {}) };
      },
    });
    const alertStore = new AlertStore({ database });
    const alerts = new AlertService({
      engine, store: alertStore,
      ...(sender ? { forward: (m: Parameters<typeof sender.send>[0]) => sender.send(m) } : {}),
      onError: (e) => log(`alerts: ${e.message}`),
    });
    await alerts.start();
    writer.onIncidents(alerts.onIncidents);
    const snoopFile = join(device.runDir, "snoop.pcap");
    const inv = new InventoryService({
      database, vendors: await loadVendorTable(), scope: buildLanScope(device),
      emit: (events) => writer.submit(events), log, snoopFile,
      inventory: { baselineMs: device.inventoryBaselineMinutes * 60_000 },
    });
    inventory = inv;
    await inv.start();
    await writer.start();
    stops.push(async () => {
      await receiver.close();
      await writer.stop();
      await alerts.flush();
      await inventory?.stop();
      await sender?.close();
    });
    // ulogd last: it sends to the receiver from its first packet on.
    const configPath = join(device.runDir, "ulogd.conf");
    await writeFile(configPath, buildUlogdConfig({
      groups: [device.logGroup], host: "127.0.0.1", port: device.syslogPort,
      extraStacks: [buildSnoopUlogdStack({ pluginDir: "/", group: device.snoopGroup, file: snoopFile })],
    }));
    let ulogdExit: string | undefined;
    const ulogd = await startUlogd({
      configPath, pidFile: join(device.runDir, "ulogd.pid"), groups: [device.logGroup, device.snoopGroup],
      onExit: (x) => {
        ulogdExit = `code ${x.code}, signal ${x.signal}`;
        log(`ulogd exited unexpectedly (${ulogdExit}): ${x.logTail.slice(-400)}`);
      },
      onLog: (line) => log(`ulogd: ${line}`),
    });
    stops.push(async () => { await ulogd.stop(); });
    // The running service's counters, for `sekisho status` and (later) the admin page: one
    // small file on tmpfs, rewritten every second and once more after the final flush.
    const statusPath = join(device.runDir, "status.json");
    const status = (): PipelineStatus => ({
      receiver: receiver.counters(), events: writer.counters(), alerts: alerts.counters(), inventory: inv.status(),
      ulogd: { running: ulogdExit === undefined, ...(ulogdExit ? { exit: ulogdExit } : {}) },
    });
    const writeStatus = () => writeFileAtomic(statusPath, JSON.stringify({ updatedAt: new Date().toISOString(), pid: process.pid, ...status() }))
      .catch((e: unknown) => log(`status: ${(e as Error).message}`));
    const statusTimer = setInterval(writeStatus, 1000);
    stops.splice(1, 0, async () => { clearInterval(statusTimer); await writeStatus(); });
    return {
      database, alertStore, inventory: inv, status,
      setMeta(m) { currentMeta = m; writer.setMeta(m); },
      submit: (events) => writer.submit(events),
      macOf: (ip) => inventory?.inventory.listDevices().find((d) => d.addresses.some((a) => a.ip === ip))?.mac,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The box's addresses as the DNS filter answers them: itself, and the block page (the same address). */
function dnsBoxAddresses(device: Device) {
  return {
    management4: device.management.address4, management6: device.management.address6,
    blockPage4: device.management.address4, blockPage6: device.management.address6,
  };
}

/** The resolvers the box itself was given (DHCP / the image), when the policy names none. */
async function systemResolvers(device: Device): Promise<Upstream[]> {
  const text = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  // Compared in canonical form: "0:0:0:0:0:0:0:1" is "::1".
  const canonical = (a: string): string | undefined => {
    const v4 = parseIpv4(a);
    if (v4 !== undefined) return formatIpv4(v4);
    const v6 = parseIpv6(a);
    if (v6 === undefined) return undefined;
    // An IPv4-mapped address is that IPv4 address.
    return v6 >> 32n === 0xffffn ? formatIpv4(Number(v6 & 0xffffffffn)) : formatIpv6(v6);
  };
  const own = new Set([device.management.address4, device.management.address6, "::1"].map((a) => (a === undefined ? undefined : canonical(a))));
  // IP literals only, without zones (the policy's upstreams have none either), and never the
  // box itself or loopback: the filter would ask itself.
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => canonical(m[1]!))
    .filter((a): a is string => a !== undefined && !own.has(a) && !a.startsWith("127."))
    .slice(0, 4).map((address) => ({ address, port: 53 }));
}

type DnsService = {
  /** The filter's decision for a name (the block page, the admin page); the filter may live on a worker. */
  explain(name: string, client?: ClientIdentity): Promise<NameExplanation>;
  /** Rebuilds the filter for a new policy / new overrides; on failure the filter in force stays. */
  reload(merged: MergedPolicy): Promise<{ ok: true } | { ok: false; error: string }>;
  /** The newest answered queries, newest first (the admin page's query log). */
  recentQueries(limit: number): DnsQueryRecord[];
  status(): DnsStats;
  stop(): Promise<void>;
};

/** How often the policy's URL lists are fetched again (with up to 10 % jitter, so boxes do not fetch in step). */
const LIST_REFRESH_MS = 6 * 3_600_000;
/** Per list download: a list server that hangs costs at most this, in the background. */
const LIST_FETCH_TIMEOUT_MS = 60_000;
/** Queries the admin page's query log keeps in memory. */
const RECENT_QUERIES = 2000;
/**
 * How often the query log is taken from the filter. Records that wait longer than a few young-
 * generation collections (V8's young generation is 2 MB: deno-permissions.ts) are promoted to
 * the old generation and die there, which grows the heap under load: with 1 M names at 2k q/s
 * the firmware peaked at 165.0 MB when the log was taken every second, 161.9 MB every 100 ms
 * (dns-memory, medians of 3 fresh starts).
 */
const DNS_LOG_DRAIN_MS = 100;
/**
 * Query records taken per second at most: the rest wait in the filter's ring and are counted
 * when overwritten. Turning a record into an event costs the main thread, which shares the
 * two cores with the filter: under a flood of blocked names, taking every record cut the
 * firmware's rate from 55-65k to 32-34k queries/s (1 M names, blocked names only, same sitting).
 */
const DNS_LOG_PER_SECOND = 5000;
/** The counters file (`status`, `dns stats`) is written every this many drains: once a second. */
const STATS_EVERY_DRAINS = 10;
/** How often the inventory's IP → MAC table is compared with the one the filter has (sent when it changed). */
const MAC_TABLE_MS = 2000;

/**
 * The DNS filter (firmware/dns): the ruleset diverts all LAN DNS to it; blocked names get the
 * block page's address, and the block page on the management address says why. It starts
 * from the kept copies of the policy's URL lists, fetches them at start and every few hours
 * (a failed fetch keeps the last good copy: list-store.ts), and its query log is drained into
 * the event store every second.
 *
 * On the box (Deno) the filter runs on a worker thread of its own (dns/threaded-server.ts):
 * the main thread's commits and garbage collection added 25 ms at p99 to queries. The worker
 * compiles the filter itself; this side keeps only what it sends (the policy, the MAC table)
 * and what comes back (the query log, the counters). Under Node (tests) it runs on this thread.
 */
async function startDnsFilter(device: Device, boot: MergedPolicy, pipeline: Pipeline): Promise<DnsService | undefined> {
  if (!boot.policy.dns.enabled) return undefined;
  const listDir = join(device.dataDir, "dns-lists");
  let current = boot;
  const specOf = (m: MergedPolicy): DnsFilterSpec => ({ policy: m.policy.dns, overrides: m.dnsOverrides });
  const upstreamsOf = async (p: Policy) =>
    p.dns.upstreams.length > 0 ? p.dns.upstreams.map((address) => ({ address, port: 53 })) : await systemResolvers(device);
  const config: DnsEngineConfig = {
    listen: { address: "::", port: device.dnsPort }, upstreams: await upstreamsOf(current.policy), listDir,
    box: dnsBoxAddresses(device), recvBufferBytes: 4 << 20,
  };
  const macs = () => macTable(pipeline.inventory.inventory.listDevices());
  let sentMacs = macs();
  const started = "Deno" in globalThis
    ? await ThreadedDnsEngine.start(config, specOf(current), sentMacs, { log })
    : await LocalDnsEngine.start(config, specOf(current), sentMacs);
  if (!started.ok) {
    log(`dns: the filter could not be started (${started.error.kind}); LAN DNS goes to the upstreams unfiltered`);
    return undefined;
  }
  const engine: DnsEngine = started.engine;
  log(`dns: filter in force: ${started.names} names (${Math.round(started.bytes / 1024)} KiB)${"Deno" in globalThis ? " on its own thread" : ""}`);
  const statsPath = join(device.runDir, "dns-stats.json");
  const recent: DnsQueryRecord[] = [];
  const drain = () => {
    const records = engine.drainLog((DNS_LOG_PER_SECOND * DNS_LOG_DRAIN_MS) / 1000);
    const events = dnsQueryEvents(records, (ip) => pipeline.macOf(ip));
    if (events.length > 0) pipeline.submit(events);
    recent.push(...records.slice(-RECENT_QUERIES));
    if (recent.length > RECENT_QUERIES) recent.splice(0, recent.length - RECENT_QUERIES);
  };
  let drains = 0;
  const drainTimer = setInterval(() => {
    drain();
    if (++drains % STATS_EVERY_DRAINS !== 0) return;
    void writeFileAtomic(statsPath, JSON.stringify(engine.stats())).catch((e: unknown) => log(`dns: stats: ${(e as Error).message}`));
  }, DNS_LOG_DRAIN_MS);
  // Groups that name MACs: the filter asks its own copy of the inventory's table (synchronously, on its thread).
  const macTimer = setInterval(() => {
    const next = macs();
    if (JSON.stringify(next) === JSON.stringify(sentMacs)) return;
    sentMacs = next;
    engine.setMacs(next);
  }, MAC_TABLE_MS);
  // Reloads and list refreshes one at a time: each compiles from what the one before left.
  let busy = Promise.resolve();
  const serially = <T>(job: () => Promise<T>): Promise<T> => {
    const r = busy.then(job);
    busy = r.then(() => undefined, () => undefined);
    return r;
  };
  const rebuild = async (m: MergedPolicy): Promise<{ ok: true } | { ok: false; error: string }> => {
    // allowPartial (in the engine): a list that was never fetched is left out (and reported)
    // rather than holding back the others; one that was fetched before keeps its last good copy on disk.
    const r = await engine.reload(specOf(m), await upstreamsOf(m.policy));
    if (!r.ok) {
      log(`dns: reload failed (${r.error.kind}); the filter in force stays`);
      return { ok: false, error: `the DNS filter could not be rebuilt (${r.error.kind})` };
    }
    for (const l of r.lists) if (l.status !== "ok") log(`dns: list ${l.id} is ${l.status}: left out of the filter`);
    log(`dns: filter in force: ${r.names} names (${Math.round(r.bytes / 1024)} KiB), built in ${Math.round(r.ms)} ms`);
    current = m;
    return { ok: true };
  };
  // Downloads run outside the queue (a slow or dead list server must never hold up a policy
  // apply or the start); only the rebuilds join it. One download round at a time: a round
  // asked for meanwhile runs once more afterwards.
  let downloading: Promise<void> | undefined;
  let again = false;
  // Lists download side by side, and each one that changed asks for a rebuild as soon as it
  // is in: a list server that hangs delays only its own list. Rebuilds asked for while one
  // waits in the queue are one rebuild.
  let rebuildQueued = false;
  const requestRebuild = (): void => {
    if (rebuildQueued) return;
    rebuildQueued = true;
    void serially(async () => {
      rebuildQueued = false;
      if (!stopped) await rebuild(current);
    });
  };
  const download = async (): Promise<void> => {
    const lists = current.policy.dns.lists.filter((l) => l.url !== undefined);
    await Promise.all(lists.map(async (list) => {
      const r = await refreshLists([list], { dir: listDir, timeoutMs: LIST_FETCH_TIMEOUT_MS, signal: stopping.signal });
      for (const o of r.outcomes) {
        if (o.status !== "fresh") log(`dns: list ${o.id} ${o.status}: ${o.problem}`);
        // Compiling a million names costs half a second: only when a list's text changed.
        else if (o.changed) requestRebuild();
      }
    }));
  };
  const refresh = (): Promise<void> => {
    if (downloading) {
      again = true;
      return downloading;
    }
    downloading = (async () => {
      do {
        again = false;
        await download().catch((e: unknown) => log(`dns: list refresh failed: ${(e as Error).message}`));
      } while (again && !stopped);
      downloading = undefined;
    })();
    return downloading;
  };
  let stopped = false;
  const stopping = new AbortController();
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleRefresh = (ms: number) => {
    refreshTimer = setTimeout(() => { void refresh().then(() => scheduleRefresh(LIST_REFRESH_MS * (0.9 + Math.random() * 0.1))); }, ms);
  };
  scheduleRefresh(0);
  return {
    explain: (name, client) => engine.explain(name, client),
    reload: (m) => serially(async () => {
      const listsChanged = JSON.stringify(m.policy.dns.lists) !== JSON.stringify(current.policy.dns.lists);
      const r = await rebuild(m);
      if (r.ok && listsChanged) void refresh();
      return r;
    }),
    recentQueries: (limit) => recent.slice(-limit).reverse(),
    status: () => engine.stats(),
    async stop() {
      clearInterval(drainTimer);
      clearInterval(macTimer);
      clearTimeout(refreshTimer);
      stopped = true;
      stopping.abort();
      await busy;
      // The engine hands over everything it logged until its sockets closed; then into the store.
      await engine.stop();
      pipeline.submit(dnsQueryEvents(engine.drainLog(), (ip) => pipeline.macOf(ip)));
    },
  };
}

/**
 * The admin page (webui/): its password is made at the first start and written to the
 * label (never to the log); the page reads the store and changes the box only through the
 * policy controller. Returns the handler the web listener routes the box's own names to.
 */
async function startAdminPage(device: Device, s: {
  pipeline: Pipeline; policyControl: PolicyController; dns: DnsService | undefined; nft: Nft; enforcer: Enforcer; startedAt: number;
}): Promise<WebHandler> {
  const { pipeline, policyControl, dns } = s;
  // The label first, the hash second: a hash is never stored for a password no one can read.
  const label = await readLabel(device.dataDir);
  await ensureAdminPassword(pipeline.database, {
    reuse: label?.adminPassword,
    keep: async (password) => {
      if (password === label?.adminPassword) return;
      const path = await writeLabel(device.dataDir, { adminUrl: `http://${BOX_NAME}/`, adminPassword: password, createdAt: new Date().toISOString() });
      log(`admin: a new admin password was made; it is on the label (${path})`);
    },
  }).catch((e: unknown) => log(`admin: no admin password yet (the label could not be written: ${(e as Error).message}); the next start tries again`));
  const infrastructure = infrastructureReader();
  const app = createAdminApp({
    database: pipeline.database,
    clock: Date.now,
    alerts: pipeline.alertStore,
    devices: {
      list: async () => pipeline.inventory.inventory.listDevices(),
      rename: (mac, name) => pipeline.inventory.inventory.rename(mac, name),
    },
    policy: policyControl,
    status: () => collectBoxStatus({
      device, firmwareVersion: packageJson.version, startedAt: s.startedAt,
      policy: () => policyControl.current(),
      appliedAt: async () => {
        const lkg = await s.enforcer.readLastKnownGood();
        return lkg ? Date.parse(lkg.savedAt) : null;
      },
      tablePresent: () => s.nft.tableExists("inet", TABLE),
      ulogd: () => pipeline.status().ulogd,
      events: () => pipeline.status().events,
      dns: () => (dns ? dns.status() : null),
      databasePath: pipeline.database.path,
    }),
    dns: dns && {
      explain: (name, client) => dns.explain(name, client),
      recentQueries: (limit) => dns.recentQueries(limit),
    },
    macOf: (ip) => pipeline.macOf(ip),
    isInfrastructure: async (mac) => (await infrastructure().catch(() => new Set<string>())).has(mac.toLowerCase()),
    emit: (events) => pipeline.submit(events),
    log,
  }, {
    // The TCP peer the listener saw (server.ts), never a header.
    clientIp: (c) => (c.env as { peer?: Peer } | undefined)?.peer?.address ?? "",
  });
  return (request, peer) => app.fetch(request, { peer });
}

/**
 * The box's web listener on its management address(es), port 80: the admin page for the
 * box's own names, the block page for every name the DNS filter sent here. An address that
 * cannot be bound (an IPv6 address still in duplicate address detection) is logged, not fatal.
 */
async function startWebListener(device: Device, dns: DnsService | undefined, admin: WebHandler | undefined): Promise<WebServer[]> {
  const m = device.management;
  const handler = routeByHost({
    hosts: adminHosts([m.address4, m.address6], BOX_NAME),
    admin,
    blockPage: async (site) => blockPageFor(site, site !== "" && dns ? await dns.explain(site) : undefined),
  });
  const servers: WebServer[] = [];
  for (const address of [m.address4, m.address6]) {
    if (!address) continue;
    try {
      servers.push(await serveWeb({ address, port: 80, handler }));
    } catch (e) {
      log(`web: cannot listen on ${address} port 80: ${(e as Error).message}`);
    }
  }
  return servers;
}

/**
 * The long-running service. Boot: the LKG first (the box never runs open), the shipped
 * baseline when there is none; then the configured policy. SIGHUP re-reads the policy,
 * SIGTERM/SIGINT stop cleanly.
 */
async function cmdRun(device: Device, policyPath: string | undefined): Promise<number> {
  const startedAt = Date.now();
  const { nft, enforcer } = services(device);
  const boot = await enforcer.applyLastKnownGood();
  if (boot.ok) log(`boot: last-known-good ${describe(boot)}`);
  else {
    log(`boot: ${boot.error}; applying the shipped baseline`);
    const b = await enforcer.apply(compileRuleset(baselinePolicy(), device));
    if (b.ok) await keepAppliedPolicy(device, baselinePolicy());
    log(`boot: ${describe(b)}`);
    if (!b.ok) return 1;
  }
  const applied = await enforcer.readLastKnownGood();
  const pipeline = await startPipeline(device, applied?.meta ?? {});
  // The provider policy in force (what the last-known-good was compiled from); local
  // overrides are merged on top of it every time anything is applied.
  const hadApplied = await readFile(appliedPolicyPath(device), "utf8").then(() => true, () => false);
  let inForce = await appliedPolicy(device);
  let dns: DnsService | undefined;
  const applyMerged = async (merged: MergedPolicy): Promise<{ ok: true } | { ok: false; error: string }> => {
    const compiled = compileRuleset(merged.policy, device, { blockedDevices: merged.blockedDevices });
    const o = await enforcer.apply(compiled);
    log(describe(o));
    if (!o.ok) return { ok: false, error: o.error };
    pipeline.setMeta(compiled.meta);
    // The ruleset is in force; a DNS filter that cannot be rebuilt keeps its lists in
    // force and says so (the controller then does not keep the change).
    return (await dns?.reload(merged)) ?? { ok: true };
  };
  const policyControl = new PolicyController({
    store: new OverrideStore({ dataDir: device.dataDir }), database: pipeline.database,
    policy: () => inForce, apply: applyMerged, log,
  });
  const loaded = await policyControl.load();
  if (!loaded.ok) log(`policy: local overrides not used: ${loaded.error}`);
  if (!hadApplied) await policyControl.recordProviderPolicy(undefined, inForce).catch((e: unknown) => log(`policy: history: ${(e as Error).message}`));
  dns = await startDnsFilter(device, policyControl.merged(), pipeline);
  const admin = await startAdminPage(device, { pipeline, policyControl, dns, nft, enforcer, startedAt });
  const web = await startWebListener(device, dns, admin);

  /** A provider policy (the policy file; later, sync) into force, in turn with the admin page's changes. */
  const applyProviderPolicy = async (policy: Policy): Promise<void> => {
    const before = inForce;
    inForce = policy;
    const r = await policyControl.reapply();
    if (!r.ok) {
      inForce = before;
      log(`policy ${policy.id} serial ${policy.serial} not applied: ${r.error}`);
      return;
    }
    await keepAppliedPolicy(device, policy);
    if (JSON.stringify(before) !== JSON.stringify(policy)) {
      await policyControl.recordProviderPolicy(before, policy).catch((e: unknown) => log(`policy: history: ${(e as Error).message}`));
    }
  };
  const applyPolicy = async (): Promise<void> => {
    try {
      // Without a policy file: the policy in force with the kept overrides (cheap when
      // nothing changed: the enforcer finds the ruleset unchanged).
      if (!policyPath) {
        const r = await policyControl.reapply();
        if (!r.ok) log(`local overrides not applied: ${r.error}`);
        return;
      }
      await applyProviderPolicy(await loadPolicy(policyPath));
    } catch (e) {
      if (!(e instanceof CliFailure)) throw e;
      log(e.message);
    }
  };
  await applyPolicy();
  log("running");

  return await new Promise<number>((resolve) => {
    let busy = Promise.resolve();
    const reload = () => {
      busy = busy.then(applyPolicy).catch((e: unknown) => log(`reload failed: ${(e as Error).message}`));
    };
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      process.off("SIGHUP", reload);
      clearInterval(watchdog);
      // Let a reload in progress finish: the kernel and the LKG always agree. Then flush
      // every accepted record to the store before exiting.
      void busy.then(() => Promise.all(web.map((w) => w.close()))).then(() => dns?.stop()).then(() => pipeline.stop()).then(() => resolve(0));
    };
    // Watchdog: if something removed the table (an `nft flush ruleset` by hand, another
    // tool), put the last-known-good back. It also keeps the event loop alive: signal
    // listeners alone do not, under Deno.
    const watchdog = setInterval(() => {
      busy = busy.then(async () => {
        if (await nft.tableExists("inet", TABLE)) return;
        log(`watchdog: table inet ${TABLE} is gone; restoring the last-known-good`);
        log(describe(await enforcer.applyLastKnownGood()));
      }).catch((e: unknown) => log(`watchdog failed: ${(e as Error).message}`));
    }, WATCHDOG_MS);
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    process.on("SIGHUP", reload);
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      device: { type: "string", default: DEFAULT_DEVICE },
      policy: { type: "string" },
      json: { type: "boolean", default: false },
      meta: { type: "boolean", default: false },
      limit: { type: "string", default: "50" },
      lang: { type: "string", default: "ja" },
      client: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const cmd = positionals[0];
  if (values.help || !cmd) throw new UsageError("");
  const device = await loadDevice(values.device);
  switch (cmd) {
    case "compile":
      await cmdCompile(device, values.policy ? await loadPolicy(values.policy) : baselinePolicy(), values.meta);
      return 0;
    case "apply":
      if (!values.policy) throw new UsageError("apply needs --policy FILE");
      return await cmdApply(device, await loadPolicy(values.policy));
    case "status":
      return await cmdStatus(device, values.json);
    case "run":
      return await cmdRun(device, values.policy);
    case "dns":
      return await cmdDns(device, positionals.slice(1), values.client, values.policy);
    case "events":
    case "alerts":
    case "devices": {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError("--limit must be 1-10000");
      if (values.lang !== "ja" && values.lang !== "en") throw new UsageError("--lang must be ja or en");
      if (cmd === "events") return await cmdEvents(device, values.json, limit);
      if (cmd === "alerts") return await cmdAlerts(device, values.json, limit, values.lang);
      return await cmdDevices(device, values.json);
    }
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

const USAGE = `usage: sekisho <run|compile|apply|status|events|alerts|devices|dns query NAME|dns stats> [--device FILE] [--policy FILE] [--client IP] [--json] [--meta] [--limit N] [--lang ja|en]`;

// Deno sets import.meta.main for the entry module; under Node (the tests import this file) it is undefined.
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  // exitCode, not exit(): the process ends once stdout (megabytes for `compile`) is flushed.
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${e.message ? `${e.message}\n` : ""}${USAGE}\n`);
        process.exitCode = 2;
      } else if (e instanceof CliFailure || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`sekisho: ${(e as Error).message}\n`);
        process.exitCode = e instanceof CliFailure ? 1 : 2;
      } else {
        process.stderr.write(`sekisho: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
        process.exitCode = 70;
      }
    },
  );
}
