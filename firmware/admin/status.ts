/**
 * The box's status as the admin page shows it (webui/deps.ts BoxStatus), collected from the
 * running services. Each source is a plain function handed in by the composition root; this
 * file only reads them, plus the sizes of the database and the data directory.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Device } from "../../policies/device.ts";
import type { Policy } from "../../policies/schema.ts";
import type { BoxStatus, Health } from "../../webui/deps.ts";
import type { DnsCounters } from "../dns/query-log.ts";

export type StatusSources = {
  device: Device;
  firmwareVersion: string;
  startedAt: number;
  policy: () => Policy;
  /** When the ruleset in force was applied (the last-known-good's time), ms. */
  appliedAt: () => Promise<number | null>;
  /** Whether the sekisho table is in the kernel (the watchdog's check). */
  tablePresent: () => Promise<boolean>;
  ulogd: () => { running: boolean; exit?: string };
  events: () => { pending: number; written: number; writeErrors: number };
  dns: () => (DnsCounters & { cacheHitRatio: number }) | null;
  databasePath: string;
};

/** Bytes of the files under `dir` (not following links; a file that vanishes meanwhile counts 0). */
export async function directoryBytes(dir: string, depth = 4): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 0) total += await directoryBytes(p, depth - 1);
    } else if (e.isFile()) {
      total += (await stat(p).catch(() => undefined))?.size ?? 0;
    }
  }
  return total;
}

const EVENT_BACKLOG_LIMIT = 50_000;

const sizeOf = async (path: string) => (await stat(path).catch(() => undefined))?.size ?? 0;

/** One snapshot of the box's status. */
export async function collectBoxStatus(s: StatusSources): Promise<BoxStatus> {
  const d = s.device;
  const policy = s.policy();
  const [present, appliedAt, dataDirBytes, db, wal] = await Promise.all([
    s.tablePresent().catch(() => false), s.appliedAt().catch(() => null), directoryBytes(d.dataDir),
    sizeOf(s.databasePath), sizeOf(`${s.databasePath}-wal`),
  ]);
  const ulogd = s.ulogd();
  const events = s.events();
  const dns = s.dns();
  const health = (ok: boolean, detail: string): Health => ({ ok, detail });
  return {
    firmwareVersion: s.firmwareVersion,
    startedAt: s.startedAt,
    mode: d.mode,
    interfaces: [
      { role: "wan", name: d.interfaces.wan },
      { role: "lan", name: d.interfaces.lan },
      ...(d.interfaces.bridge ? [{ role: "bridge" as const, name: d.interfaces.bridge }] : []),
    ],
    managementAddresses: [d.management.address4, ...(d.management.address6 ? [d.management.address6] : [])],
    policy: { id: policy.id, serial: policy.serial, description: policy.description ?? "", appliedAt },
    health: {
      enforcer: health(present, present ? "table inet sekisho in force" : "table inet sekisho is missing: the watchdog restores it"),
      ulogd: health(ulogd.running, ulogd.running ? "running" : `stopped (${ulogd.exit ?? "unknown"})`),
      dns: dns ? health(true, `${dns.queries} queries, ${dns.blocked} blocked`) : health(false, "not running"),
      // A backlog this deep means the store is not keeping up (an SD card failing, a full disk).
      events: health(events.pending < EVENT_BACKLOG_LIMIT, `${events.written} written, ${events.pending} pending, ${events.writeErrors} write errors`),
    },
    storage: { databaseBytes: db + wal, dataDirBytes },
    dns,
  };
}
