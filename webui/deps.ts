/**
 * What the admin page needs from the firmware: the contract between `webui/` (views, routes,
 * auth) and the composition root (`firmware/main.ts`), which builds one `AdminDeps` from the
 * running services. The admin page reads the store directly (events, incidents, rollups,
 * alerts, devices: `database`), and changes the box only through these functions, so every
 * change goes through the same compile → apply path as a provider policy.
 */
import type { DnsCategory, Policy } from "../policies/schema.ts";
import type { LocalOverrides, OverrideChange, PolicyHistoryEntry } from "../policies/overrides.ts";
import type { AlertStore } from "../firmware/alerts/store.ts";
import type { NameExplanation, ClientIdentity } from "../firmware/dns/filter.ts";
import type { DnsCounters, DnsQueryRecord } from "../firmware/dns/query-log.ts";
import type { BoxEvent } from "../firmware/events/types.ts";
import type { InventoryDevice, RenameResult } from "../firmware/inventory/inventory.ts";
import type { Database } from "../firmware/store/database.ts";

export type { LocalOverrides, OverrideChange, PolicyHistoryEntry };

/** A component's health as the システム page shows it. */
export type Health = { ok: boolean; detail: string };

/** The box as the ダッシュボード and システム pages show it (a snapshot, cheap to take). */
export type BoxStatus = {
  firmwareVersion: string;
  /** When this run of the firmware started (ms since epoch). */
  startedAt: number;
  mode: "bridge" | "router";
  interfaces: { role: "wan" | "lan" | "bridge"; name: string }[];
  /** The box's own addresses on the LAN side (where this page is served). */
  managementAddresses: string[];
  /** The provider policy in force (before local overrides), and when the ruleset was last applied. */
  policy: { id: string; serial: number; description: string; appliedAt: number | null };
  health: { enforcer: Health; ulogd: Health; dns: Health; events: Health };
  storage: { databaseBytes: number; dataDirBytes: number };
  dns: (DnsCounters & { cacheHitRatio: number }) | null;
};

export type PolicyChangeResult = { ok: true; overrides: LocalOverrides } | { ok: false; error: string };

/** The provider policy, the local overrides on top of it, and the way to change the overrides. */
export type PolicyControl = {
  /** The provider's policy in force (what the ポリシー page explains in words). */
  current(): Policy;
  overrides(): LocalOverrides;
  /**
   * Changes the local overrides: merges, recompiles the ruleset and the DNS filter, applies
   * both, and only then keeps the new overrides. On any failure nothing changes and the
   * error says why (in English, for the log; the page shows its own words).
   */
  change(change: OverrideChange): Promise<PolicyChangeResult>;
  /** Applied policy versions and override changes, newest first. */
  history(limit: number): Promise<PolicyHistoryEntry[]>;
  /** Categories the provider lets the local admin switch on or off. */
  switchableCategories(): readonly DnsCategory[];
};

export type AdminDeps = {
  /** The box's database, every capability's migrations applied (webui's own too: `applyWebuiMigrations`). */
  database: Database;
  /** Wall clock, ms (tests move it). */
  clock: () => number;
  alerts: AlertStore;
  devices: {
    list(): Promise<InventoryDevice[]>;
    rename(mac: string, name: string): Promise<RenameResult>;
  };
  policy: PolicyControl;
  status(): Promise<BoxStatus>;
  /** The DNS filter, when it runs. */
  dns: {
    /** The filter's decision for a name; on the box the filter lives on a worker thread, so it may be a promise. */
    explain(name: string, client?: ClientIdentity): NameExplanation | Promise<NameExplanation>;
    /** The newest queries the filter answered (a ring kept in memory), newest first. */
    recentQueries(limit: number): DnsQueryRecord[];
  } | undefined;
  /** The MAC the inventory knows for a LAN address (so the page never lets a user block their own device). */
  macOf(ip: string): string | undefined;
  /** Whether a MAC is the network's router or the box itself (never blocked: the office would be cut off). */
  isInfrastructure(mac: string): Promise<boolean>;
  /** Events the page raises itself (a client locked out after failed logins) into the event pipeline. */
  emit(events: BoxEvent[]): void;
  /** Operator log (never given a secret). */
  log(message: string): void;
};
