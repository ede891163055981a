/**
 * The inventory as one service for the composition root: the device store, the neighbour
 * poller and the DHCP/ARP snooping reader, started and stopped together, plus the entry points
 * other services feed (logged packets from the log receiver, DNS clients from the DNS filter).
 *
 * Under Deno it needs: --allow-run=ip (the poller), read and write on the directory of the
 * snooping file (the run directory), read on node_modules/oui-data (the vendor registry; the
 * database already needs node_modules for libsql's binding), and what the database needs.
 */
import { appPath } from "../app-root.ts";
import type { BoxEvent } from "../events/types.ts";
import type { PacketRecord } from "../logs/types.ts";
import type { Database } from "../store/database.ts";
import { DeviceInventory, type InventoryOptions, type ObserveSummary } from "./inventory.ts";
import { NeighbourPoller } from "./neighbour-poller.ts";
import { observeDnsClient, observePacket, type DeviceObservation, type LanScope } from "./observation.ts";
import { prepareSnoopFile, SnoopReader, type SnoopCounters } from "./snoop-reader.ts";
import type { VendorTable } from "./vendor.ts";

/** The inventory's drizzle-kit migrations: applyMigrations(database, INVENTORY_MIGRATIONS, "inventory"). */
export const INVENTORY_MIGRATIONS = appPath("firmware", "inventory", "migrations");

export type InventoryServiceOptions = {
  /** With the inventory's migrations applied. */
  database: Database;
  vendors: VendorTable;
  scope: LanScope;
  /** Where new-device events go (the event pipeline). */
  emit: (events: BoxEvent[]) => void | Promise<void>;
  /** One line per problem met in the background (a failed poll, an unreadable record). */
  log: (line: string) => void;
  /** The pcap file the snooping ulogd stack writes; absent: no snooping. */
  snoopFile?: string;
  /** Command prefix for `ip` (default ["ip"]). */
  ipArgv?: readonly string[];
  pollIntervalMs?: number;
  snoopIntervalMs?: number;
  inventory?: Omit<InventoryOptions, "database" | "vendors" | "emit">;
};

export type InventoryStatus = { devices: number; snoop?: SnoopCounters };

/** Polls, snoops and records the LAN's devices. */
export class InventoryService {
  readonly inventory: DeviceInventory;
  readonly #opts: InventoryServiceOptions;
  readonly #poller: NeighbourPoller;
  readonly #reader: SnoopReader | undefined;

  constructor(options: InventoryServiceOptions) {
    this.#opts = options;
    this.inventory = new DeviceInventory({ ...options.inventory, database: options.database, vendors: options.vendors, emit: options.emit });
    const record = (o: DeviceObservation[]) => this.inventory.observe(o);
    this.#poller = new NeighbourPoller({
      scope: options.scope,
      onObservations: record,
      onError: (e) => options.log(`inventory: neighbour table: ${e.message}`),
      ...(options.ipArgv === undefined ? {} : { argv: options.ipArgv }),
      ...(options.pollIntervalMs === undefined ? {} : { intervalMs: options.pollIntervalMs }),
    });
    this.#reader = options.snoopFile === undefined ? undefined : new SnoopReader({
      path: options.snoopFile,
      scope: options.scope,
      onObservations: record,
      onError: (e) => options.log(`inventory: DHCP/ARP snooping: ${e.message}`),
      ...(options.snoopIntervalMs === undefined ? {} : { intervalMs: options.snoopIntervalMs }),
    });
  }

  /**
   * Loads the inventory and starts polling and snooping. Call before ulogd starts (or at
   * least before its snooping stack opens the file): the file is prepared here so that ulogd
   * appends to it (snoop-reader.ts).
   */
  async start(): Promise<void> {
    await this.inventory.load();
    if (this.#opts.snoopFile !== undefined) await prepareSnoopFile(this.#opts.snoopFile);
    this.#poller.start();
    this.#reader?.start();
  }

  /** Stops polling and snooping, then writes what the inventory held back. */
  async stop(): Promise<void> {
    await Promise.all([this.#poller.stop(), this.#reader?.stop()]);
    await this.inventory.flush();
  }

  /** Logged packets (from the log receiver): their LAN-side senders are device observations. */
  observePackets(records: readonly PacketRecord[]): Promise<ObserveSummary | undefined> {
    const observations = records.flatMap((r) => observePacket(r, this.#opts.scope) ?? []);
    return observations.length === 0 ? Promise.resolve(undefined) : this.inventory.observe(observations);
  }

  /** LAN addresses the DNS filter answered: they refresh the last seen of the device holding each. */
  observeDnsClients(clients: readonly { ip: string; time: number }[]): Promise<ObserveSummary | undefined> {
    const observations = clients.flatMap((c) => observeDnsClient(c.ip, c.time, this.#opts.scope) ?? []);
    return observations.length === 0 ? Promise.resolve(undefined) : this.inventory.observe(observations);
  }

  status(): InventoryStatus {
    const status: InventoryStatus = { devices: this.inventory.listDevices().length };
    if (this.#reader !== undefined) status.snoop = this.#reader.counters();
    return status;
  }
}
