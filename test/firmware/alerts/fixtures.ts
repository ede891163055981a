/**
 * Events for the alert tests, made the way the box makes them: log records (as ulogd and
 * the syslog receiver hand them over) classified by the real classifier with the metadata
 * the real compiler produces for the shipped baseline policy. Documentation addresses only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { classifyRecord, lanNetworks } from "../../../firmware/events/classify.ts";
import type { BoxEvent } from "../../../firmware/events/types.ts";
import { newDeviceEvent } from "../../../firmware/inventory/inventory.ts";
import type { KnownAddress, KnownDevice } from "../../../firmware/inventory/merge.ts";
import type { PacketRecord, SyslogRecord } from "../../../firmware/logs/types.ts";
import { compileRuleset } from "../../../firmware/ruleset/compile.ts";
import type { RuleMeta } from "../../../firmware/ruleset/meta.ts";
import { parseDevice } from "../../../policies/device.ts";
import { parsePolicy } from "../../../policies/schema.ts";

const baseline = JSON.parse(readFileSync(join(import.meta.dirname ?? ".", "../../../policies/baseline.json"), "utf8"));
baseline.blocklists[0].entries = ["203.0.113.99", "203.0.113.96/29"];
const policy = parsePolicy(baseline);
if (!policy.ok) throw new Error("baseline policy does not parse");
const device = parseDevice({
  mode: "bridge", interfaces: { wan: "wan0", lan: "lan0", bridge: "br0" },
  lanPrefixes: ["192.0.2.0/24", "2001:db8:2::/64"], management: { address4: "192.0.2.2" },
  dataDir: "/var/lib/sekisho", runDir: "/run/sekisho",
});
if (!device.ok) throw new Error("device does not parse");

/** The compiler's metadata for the baseline: what the classifier and the engine look up. */
export const META = compileRuleset(policy.value, device.value).meta;
export const lookupRule = (logId: string): RuleMeta | undefined => (Object.hasOwn(META, logId) ? META[logId] : undefined);
const LAN = lanNetworks(["192.0.2.0/24", "2001:db8:2::/64"]);

export const T0 = Date.UTC(2026, 10, 23, 5, 0, 0); // 14:00 in Tokyo

/** A logged packet, classified. `src`/`dst` as on the wire. */
export function packet(logId: string, p: { time: number; src: string; dst: string; dport?: number; proto?: string; srcMac?: string }): BoxEvent {
  const record: PacketRecord = {
    kind: "packet", time: p.time, prefix: `sk:${logId}:`, ipVersion: p.src.includes(":") ? 6 : 4,
    src: p.src, dst: p.dst, proto: p.proto ?? "tcp",
  };
  if (p.dport !== undefined) record.dport = p.dport;
  if (p.srcMac !== undefined) record.srcMac = p.srcMac;
  const r = classifyRecord(record, META, LAN);
  if (!r.ok) throw new Error(`fixture packet ${logId} not classified: ${r.reason}`);
  return r.event;
}

/** A LAN PC calling a C&C address on the baseline's c2 feed. */
export function c2(time: number, lanIp = "192.0.2.10", remote = "203.0.113.99", lanMac = "02:00:5e:00:53:10"): BoxEvent {
  return packet("c2-feed.out", { time, src: lanIp, dst: remote, dport: 443, srcMac: lanMac });
}

/** A LAN PC trying SMB to the internet (baseline rule out-smb). */
export function outSmb(time: number, lanIp = "192.0.2.20", remote = "198.51.100.7"): BoxEvent {
  return packet("out-smb", { time, src: lanIp, dst: remote, dport: 445, srcMac: "02:00:5e:00:53:20" });
}

/** An unsolicited inbound connection to a LAN host, dropped by the default rule. */
export function inbound(time: number, remote: string, lanIp = "192.0.2.30", dport = 3389): BoxEvent {
  return packet("sys-inbound", { time, src: remote, dst: lanIp, dport });
}

/** The scan detector banning a source, and the drops of its banned packets. */
export function scanBan(time: number, remote: string, lanIp = "192.0.2.40", dport = 22): BoxEvent {
  return packet("port-scan", { time, src: remote, dst: lanIp, dport });
}
export function scanBanned(time: number, remote: string, lanIp = "192.0.2.40", dport = 23): BoxEvent {
  return packet("port-scan.banned", { time, src: remote, dst: lanIp, dport });
}

export function bruteSsh(time: number, remote: string, lanIp = "192.0.2.50"): BoxEvent {
  return packet("bf-ssh", { time, src: remote, dst: lanIp, dport: 22 });
}

/** The admin page's lockout of a LAN client (webui/routes/auth.ts). */
export function adminLockout(time: number, lanIp = "192.0.2.20"): BoxEvent {
  return {
    time, category: "endpoint", severity: "medium", kind: "brute-force", logId: "admin-login", ruleId: "admin-login",
    direction: "inbound", action: "drop", proto: "tcp", lanIp, message: "admin page: 5 failed logins in a row; locked out for 30 s",
  };
}

/** A syslog message from a LAN device. */
export function syslogFrom(time: number, peer: string, severity: number, message: string, appName?: string): BoxEvent {
  const record: SyslogRecord = { kind: "syslog", time, format: "rfc5424", peer, facility: 4, severity, message };
  if (appName !== undefined) record.appName = appName;
  const r = classifyRecord(record, META, LAN);
  if (!r.ok) throw new Error(`fixture syslog not classified: ${r.reason}`);
  return r.event;
}

/** Inventory's new-device event for a device. */
export function newDevice(time: number, mac: string, ip: string): BoxEvent {
  const device: KnownDevice = {
    mac, macKind: "global", vendor: null, dhcpHostname: null, dhcpVendorClass: null, dhcpClientId: null, name: null,
    firstSeen: time, lastSeen: time, lastSource: "dhcp", baseline: false, announcedAt: null, persistedLastSeen: time,
  };
  const address: KnownAddress = { ip, mac, family: 4, firstSeen: time, lastSeen: time, source: "dhcp", persistedLastSeen: time };
  return newDeviceEvent(device, [address]);
}

/** A clock the test moves. */
export function manualClock(start = T0): { now: () => number; set: (t: number) => void; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => { t = v; }, advance: (ms) => { t += ms; } };
}

/** Deterministic alert ids. */
export function sequentialIds(prefix = "alert"): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}
