/**
 * Shared test fixtures: the real compiler's metadata for the baseline policy, a LAN, record
 * builders, an in-memory log source, temp databases.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lanNetworks } from "../../../firmware/events/classify.ts";
import { applyEventMigrations } from "../../../firmware/events/store.ts";
import type { LogSource } from "../../../firmware/events/writer.ts";
import type { LogRecord, PacketRecord, SyslogRecord } from "../../../firmware/logs/types.ts";
import { compileRuleset } from "../../../firmware/ruleset/compile.ts";
import { logPrefix, type RuleMetaMap } from "../../../firmware/ruleset/meta.ts";
import { closeDatabase, openDatabase, type Database } from "../../../firmware/store/database.ts";
import { parseDevice, type Device } from "../../../policies/device.ts";
import { parsePolicy, type Policy } from "../../../policies/schema.ts";

export const REPO_ROOT = join(import.meta.dirname ?? ".", "../../..");

export const LAN_PREFIXES = ["192.0.2.0/24", "2001:db8:2::/64"];
export const LAN = lanNetworks(LAN_PREFIXES);

export function deviceOf(mode: "bridge" | "router"): Device {
  const r = parseDevice({
    mode, interfaces: { wan: "wan0", lan: "lan0", ...(mode === "bridge" ? { bridge: "br0" } : {}) },
    lanPrefixes: LAN_PREFIXES, management: { address4: mode === "bridge" ? "192.0.2.2" : "192.0.2.1" },
    dataDir: "/var/lib/sekisho", runDir: "/run/sekisho",
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

/** The shipped baseline with lab addresses in its blocklists and one inbound allow rule. */
export function labPolicy(): Policy {
  const raw = JSON.parse(readFileSync(join(REPO_ROOT, "policies/baseline.json"), "utf8"));
  raw.blocklists[0].entries = ["203.0.113.99", "2001:db8:100::99"];
  raw.blocklists.push({ id: "phish-feed", category: "phishing", direction: "outbound", description: "test", entries: ["198.51.100.66"] });
  raw.blocklists.push({ id: "malware-feed", category: "malware", direction: "both", description: "test", entries: ["198.51.100.77"] });
  raw.inbound.allow = [{ id: "web-in", to: "192.0.2.10", protocol: "tcp", port: 8080 }];
  const r = parsePolicy(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

/** Metadata from the real compiler (bridge mode). */
export function labMeta(): RuleMetaMap {
  return compileRuleset(labPolicy(), deviceOf("bridge")).meta;
}

export function packet(logId: string, over: Partial<PacketRecord> = {}): PacketRecord {
  return {
    kind: "packet", time: 1_763_900_000_000, prefix: logPrefix(logId), group: 1, ipVersion: 4,
    src: "203.0.113.7", dst: "192.0.2.10", proto: "tcp", sport: 40000, dport: 22, ...over,
  };
}

export function syslog(over: Partial<SyslogRecord> = {}): SyslogRecord {
  return {
    kind: "syslog", time: 1_763_900_000_000, format: "rfc5424", peer: "192.0.2.20", facility: 4, severity: 3,
    appName: "sshd", message: "Failed password for admin from 192.0.2.99", ...over,
  };
}

/** A queue like the receiver's: tests push, the writer takes. */
export class QueueSource implements LogSource {
  readonly items: LogRecord[] = [];
  taken = 0;
  push(...records: LogRecord[]): void { for (const r of records) this.items.push(r); }
  takeBatch(max: number): LogRecord[] {
    const out = this.items.splice(0, max);
    this.taken += out.length;
    return out;
  }
}

export type TempDb = { dir: string; path: string; database: Database; close(): void };

/** A migrated database file in a fresh temp dir; `close` closes it and removes the dir. */
export async function tempDatabase(): Promise<TempDb> {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-events-"));
  const path = join(dir, "sekisho.db");
  const database = await openDatabase(path);
  await applyEventMigrations(database);
  return {
    dir, path, database,
    close: () => { try { closeDatabase(database); } finally { rmSync(dir, { recursive: true, force: true }); } },
  };
}

/**
 * A deterministic mixed stream like an office under attack: mostly scan packets from a few
 * dozen sources over many ports, some brute force, C&C and risky-port attempts, and LAN syslog.
 */
export function mixedRecords(count: number, start: number, seed = 1): LogRecord[] {
  let x = seed >>> 0 || 1;
  const rnd = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const out: LogRecord[] = [];
  for (let i = 0; i < count; i++) {
    const time = start + i;
    const r = rnd() % 100;
    const lan = `192.0.2.${10 + (rnd() % 20)}`;
    const remote = `203.0.113.${rnd() % 50}`;
    if (r < 40) out.push(packet("port-scan.banned", { time, src: remote, dst: lan, dport: 1 + (rnd() % 65535) }));
    else if (r < 60) out.push(packet("sys-inbound", { time, src: remote, dst: lan, dport: [22, 23, 80, 443, 445, 3389, 8080][rnd() % 7]! }));
    else if (r < 65) out.push(packet("port-scan", { time, src: remote, dst: lan, dport: 1 + (rnd() % 1024) }));
    else if (r < 75) out.push(packet("bf-ssh", { time, src: remote, dst: lan, dport: 22 }));
    else if (r < 82) out.push(packet("c2-feed.out", { time, src: lan, dst: "203.0.113.99", dport: 443, srcMac: "02:00:00:00:00:0a" }));
    else if (r < 90) out.push(packet("out-smtp", { time, src: lan, dst: `198.51.100.${rnd() % 200}`, dport: 25, srcMac: "02:00:00:00:00:0b" }));
    else if (r < 95) out.push(packet("sys-tcp-flags", { time, src: remote, dst: lan, dport: 80, tcpFlags: ["FIN", "SYN"] }));
    else out.push(syslog({ time, peer: lan, severity: rnd() % 8, message: `event ${i}` }));
  }
  return out;
}
