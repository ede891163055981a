/**
 * A box database as a year of service leaves it, for the `webui` bench: events spread over
 * 365 days go through the real event writer (classification is skipped: they are submitted
 * pre-classified, as the DNS filter's are), so events, incidents and hourly rollups are
 * exactly what the box writes; incidents feed the real alert service; devices go through the
 * real inventory (not yet: devices come from the lab). Retention is off while seeding (the bench measures the pages, not pruning).
 */
import { AlertEngine } from "../../firmware/alerts/engine.ts";
import { AlertService } from "../../firmware/alerts/service.ts";
import { AlertStore, applyAlertMigrations } from "../../firmware/alerts/store.ts";
import { lanNetworks } from "../../firmware/events/classify.ts";
import { applyEventMigrations } from "../../firmware/events/store.ts";
import type { BoxEvent, Category, EventKind, Severity } from "../../firmware/events/types.ts";
import { EventWriter } from "../../firmware/events/writer.ts";
import { INVENTORY_MIGRATIONS } from "../../firmware/inventory/service.ts";
import { applyMigrations, openDatabase, type Database } from "../../firmware/store/database.ts";
import { seededRandom } from "./blocklist.ts";

export type SeedOptions = { events: number; days: number; now: number; devices: number };
export type SeedSummary = { events: number; seconds: number; lanHosts: string[] };

const LAN = "192.0.2.0/24";
const HOUR = 3_600_000;

type Shape = { weight: number; category: Category; severity: Severity; kind: EventKind; logId: string; direction: "inbound" | "outbound" };
/** Roughly the pilot's mix: mostly inbound scans, some DNS blocks, a little C&C and outbound. */
const SHAPES: Shape[] = [
  { weight: 70, category: "inbound", severity: "low", kind: "scan", logId: "inbound-default.in", direction: "inbound" },
  { weight: 15, category: "web", severity: "low", kind: "blocklist", logId: "dns-block", direction: "outbound" },
  { weight: 6, category: "inbound", severity: "medium", kind: "brute-force", logId: "bf-ssh.in", direction: "inbound" },
  { weight: 4, category: "c2", severity: "high", kind: "blocklist", logId: "c2-feed.out", direction: "outbound" },
  { weight: 3, category: "malware", severity: "medium", kind: "blocklist", logId: "dns-block", direction: "outbound" },
  { weight: 2, category: "endpoint", severity: "low", kind: "endpoint", logId: "syslog", direction: "outbound" },
];

/** Opens `path` with every capability's migrations and fills it. */
export async function seedBoxDatabase(path: string, o: SeedOptions, migrate: (d: Database) => Promise<void>): Promise<SeedSummary> {
  const database = await openDatabase(path);
  await applyEventMigrations(database);
  await applyAlertMigrations(database);
  await applyMigrations(database, INVENTORY_MIGRATIONS, "inventory");
  await migrate(database);
  const t0 = performance.now();
  const rnd = seededRandom(7);
  const lanHosts = Array.from({ length: o.devices }, (_, i) => `192.0.2.${10 + i}`);
  const remotes = Array.from({ length: 500 }, (_, i) => (i < 250 ? `198.51.100.${i + 1}` : `203.0.113.${i - 249}`));
  const domains = Array.from({ length: 2000 }, (_, i) => `site${i}.example.test`);
  const total = SHAPES.reduce((s, x) => s + x.weight, 0);
  const pick = (): Shape => {
    let r = rnd() * total;
    for (const s of SHAPES) if ((r -= s.weight) < 0) return s;
    return SHAPES[0]!;
  };
  let queued: BoxEvent[] = [];
  const writer = new EventWriter({
    database, meta: {}, lan: lanNetworks([LAN]),
    source: { takeBatch: () => [] },
    maxSubmitted: 20_000, maxBatch: 20_000, pruneEveryMs: 0, clock: () => o.now,
    onError: (e) => { throw e; },
  });
  const alerts = new AlertService({
    engine: new AlertEngine({ clock: () => o.now, lookupRule: () => undefined, lookupDevice: () => undefined }),
    store: new AlertStore({ database }),
    onError: (e) => { throw e; },
  });
  await alerts.start();
  writer.onIncidents(alerts.onIncidents);
  await writer.start();
  const start = o.now - o.days * 24 * HOUR;
  // Time ascending, as a box writes them.
  for (let i = 0; i < o.events; i++) {
    const s = pick();
    const time = Math.floor(start + (i / o.events) * (o.now - start));
    const lanIp = lanHosts[Math.floor(rnd() * lanHosts.length)]!;
    const e: BoxEvent = {
      time, category: s.category, severity: s.severity, kind: s.kind, logId: s.logId, ruleId: s.logId.split(".")[0]!,
      direction: s.direction, action: "drop", lanIp,
    };
    if (s.logId === "dns-block") e.domain = domains[Math.floor(rnd() ** 3 * domains.length)]!;
    else if (s.kind === "endpoint") { e.app = "sshd"; e.message = "Failed password for root"; }
    else {
      e.remoteIp = remotes[Math.floor(rnd() ** 2 * remotes.length)]!;
      e.proto = "tcp";
      e.port = s.kind === "brute-force" ? 22 : s.kind === "scan" ? 1 + Math.floor(rnd() * 1024) : 443;
    }
    queued.push(e);
    if (queued.length === 20_000) {
      writer.submit(queued);
      queued = [];
      await writer.flush();
    }
  }
  writer.submit(queued);
  await writer.flush();
  await writer.stop();
  await alerts.flush();
  database.client.close();
  return { events: o.events, seconds: (performance.now() - t0) / 1000, lanHosts };
}
