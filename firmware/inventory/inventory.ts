/**
 * The device inventory (the shell around merge.ts): keeps every known device in memory,
 * writes each batch of observations in one transaction, and hands a `new device` event on
 * for each MAC it has not seen before.
 *
 * The first scan after installation: every device on the LAN is "new" to a fresh box, and an
 * office of 30 PCs should not get 30 new-device events the day the box is plugged in. So the
 * inventory starts with a baseline window (`baselineMs`, default one hour) from its first
 * start on an empty database (recorded in the database, so a restart does not reopen it and
 * a factory reset does): devices first seen in it are recorded with `baseline: true` and no
 * event. After it, each unknown MAC gives exactly one event. An hour covers what the box
 * sees of an office in use (in bridge mode every host that resolves a name or talks to the
 * router within minutes); a device that stays silent longer shows up as new later, which is
 * what the box can know about it.
 *
 * A device first seen without an address (a DHCP DISCOVER) is announced once it has one (the
 * ACK, a few hundred ms later) or `announceDelayMs` after the box first saw it, whichever comes
 * first, so the event names its address when there is one.
 *
 * One writer: the firmware process owns these tables. Other processes (the CLI) read them
 * with readDevices(). last_seen is written when it moved by `lastSeenResolutionMs` or more
 * (default 60 s), so a device the neighbour poller sees every 15 s costs one write a minute,
 * not four; flush() writes what is held back (on stop).
 */
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { BoxEvent } from "../events/types.ts";
import type { Database } from "../store/database.ts";
import { parseMac } from "./mac.ts";
import { mergeObservations, type KnownAddress, type KnownDevice, type MergeResult } from "./merge.ts";
import { OBSERVATION_SOURCES, type DeviceObservation, type ObservationSource } from "./observation.ts";
import { deviceAddresses, devices, inventoryState } from "./schema.ts";
import { parseDeviceName, sanitiseText } from "./text.ts";
import { lookupVendor, type VendorTable } from "./vendor.ts";

/** The log id / rule id of new-device events. */
export const NEW_DEVICE_ID = "new-device";
const BASELINE_KEY = "baseline_started";
/** Rows per INSERT statement (SQLite allows 32766 bound values; 12 columns a row). */
const CHUNK = 500;

/**
 * A device as the inventory lists it: what it keeps in memory (KnownDevice, the user-given
 * name in `name`, `baseline` when first seen in the quiet window after installation),
 * without its bookkeeping, plus its addresses, most recently seen first.
 */
export type InventoryDevice = Omit<KnownDevice, "announcedAt" | "persistedLastSeen"> & {
  addresses: InventoryAddress[];
};

export type InventoryAddress = { ip: string; family: 4 | 6; firstSeen: number; lastSeen: number; source: ObservationSource };

export type InventoryOptions = {
  database: Database;
  vendors: VendorTable;
  /**
   * Receives new-device events after their devices are committed. Once it resolves the
   * events count as handed on; when it throws, they are offered again with the next batch
   * (and at the next start), so none is lost.
   */
  emit: (events: BoxEvent[]) => void | Promise<void>;
  /** Wall clock (ms); default Date.now. */
  clock?: () => number;
  /** Baseline window after the first start on an empty database (default 1 h; 0: none). */
  baselineMs?: number;
  /**
   * A new device without an address yet is announced once this long after the box first saw
   * it (default 5 s; wall clock), so that its event carries the address: a DHCP DISCOVER comes before the
   * ACK that gives the address. A device with an address is announced at once.
   */
  announceDelayMs?: number;
  lastSeenResolutionMs?: number;
  /** Addresses kept per device (default 8: IPv4, IPv6 and a week of privacy addresses). */
  maxAddressesPerDevice?: number;
  /** Devices kept at most (default 4096); beyond, new MACs are refused and counted (a MAC flood). */
  maxDevices?: number;
};

export type ObserveSummary = {
  observations: number;
  /** MACs first seen in this batch. */
  created: string[];
  /** New-device events handed on in this call (this batch's and any held back or due). */
  announced: number;
  /** Rows written. */
  deviceWrites: number;
  addressWrites: number;
  /** Address-only observations (DNS) that matched no known device. */
  unresolved: number;
  /** New MACs refused because the inventory is full. */
  refused: number;
};

export type RenameResult = { ok: true; value: InventoryDevice } | { ok: false; error: string };

/** Unexpected failures of the inventory (the database, a broken event sink). */
export class InventoryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InventoryError";
  }
}

type Cache = {
  devices: Map<string, KnownDevice>;
  addresses: Map<string, KnownAddress>;
  addressesByMac: Map<string, Set<string>>;
  baselineUntil: number;
};

/** The LAN's devices: observations in, devices and new-device events out. */
export class DeviceInventory {
  readonly #opts: InventoryOptions;
  #cache: Cache | undefined;
  /** Wall-clock time each device of this run was created (for announceDelayMs; observation times may be skewed). */
  readonly #createdAt = new Map<string, number>();
  /** Serialises batches and renames: each works on the cache the previous one left. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: InventoryOptions) {
    this.#opts = options;
  }

  /**
   * Reads the tables once (the only read; afterwards the cache answers), records the
   * baseline start on a fresh database, updates vendor names from the current registry, and
   * offers any new-device events a crash held back.
   */
  load(): Promise<void> {
    return this.#serially(async () => {
      const { db } = this.#opts.database;
      const now = this.#now();
      const baselineMs = this.#opts.baselineMs ?? 60 * 60 * 1000;
      await db.insert(inventoryState).values({ key: BASELINE_KEY, value: now }).onConflictDoNothing();
      const state = await db.select().from(inventoryState).where(eq(inventoryState.key, BASELINE_KEY));
      const baselineStarted = state[0]?.value ?? now;
      const cache: Cache = {
        devices: new Map(),
        addresses: new Map(),
        addressesByMac: new Map(),
        baselineUntil: baselineStarted + baselineMs,
      };
      for (const row of await db.select().from(devices)) {
        cache.devices.set(row.mac, {
          ...row,
          macKind: row.macKind,
          lastSource: toSource(row.lastSource),
          persistedLastSeen: row.lastSeen,
        });
      }
      for (const row of await db.select().from(deviceAddresses)) {
        cache.addresses.set(row.ip, {
          ...row,
          family: row.family === 6 ? 6 : 4,
          source: toSource(row.source),
          persistedLastSeen: row.lastSeen,
        });
        indexAddress(cache.addressesByMac, row.mac, row.ip);
      }
      // The registry is updated with the package: names follow it.
      const renamed: KnownDevice[] = [];
      for (const d of cache.devices.values()) {
        const vendor = d.macKind === "global" ? this.#vendorOf(d.mac) : null;
        if (vendor !== null && vendor !== d.vendor) renamed.push({ ...d, vendor });
      }
      if (renamed.length > 0) {
        await db.batch(toBatch(renamed.map((d) => db.update(devices).set({ vendor: d.vendor }).where(eq(devices.mac, d.mac)))));
        for (const d of renamed) cache.devices.set(d.mac, d);
      }
      this.#cache = cache;
      await this.#announcePending();
    });
  }

  /**
   * Merges a batch of observations: one transaction for all of it, then new-device events.
   * Throws InventoryError when the database fails (nothing of the batch is taken) or the event
   * sink fails (the batch is taken; its events are offered again with the next call).
   */
  observe(observations: readonly DeviceObservation[]): Promise<ObserveSummary> {
    return this.#serially(async () => {
      const cache = this.#loaded();
      const merged = mergeObservations(cache, observations, {
        now: this.#now(),
        baselineUntil: cache.baselineUntil,
        lastSeenResolutionMs: this.#opts.lastSeenResolutionMs ?? 60_000,
        maxAddressesPerDevice: this.#opts.maxAddressesPerDevice ?? 8,
        maxDevices: this.#opts.maxDevices ?? 4096,
        vendorOf: (mac) => this.#vendorOf(mac),
      });
      await this.#write(merged);
      this.#take(merged);
      const announced = await this.#announcePending();
      return {
        observations: observations.length,
        created: merged.created,
        announced,
        deviceWrites: merged.deviceWrites.size,
        addressWrites: merged.addressWrites.size + merged.addressDeletes.size,
        unresolved: merged.unresolved,
        refused: merged.refused,
      };
    });
  }

  /** Every known device, most recently seen first (from memory: no database read). */
  listDevices(): InventoryDevice[] {
    const cache = this.#loaded();
    return [...cache.devices.values()]
      .map((d) => this.#view(d))
      .sort(byLastSeen);
  }

  /** A known device with its current addresses, as listDevices / getDevice give it. */
  #view(d: KnownDevice): InventoryDevice {
    const cache = this.#loaded();
    return toInventoryDevice(d, [...(cache.addressesByMac.get(d.mac) ?? [])].map((ip) => cache.addresses.get(ip)));
  }

  /** One device by MAC (any text form), or undefined. */
  getDevice(macText: string): InventoryDevice | undefined {
    const cache = this.#loaded();
    const mac = parseMac(macText);
    const d = mac === undefined ? undefined : cache.devices.get(mac);
    if (d === undefined) return undefined;
    return this.#view(d);
  }

  /**
   * Gives a device a name (what people call it: "経理のPC"), or clears it with a blank name.
   * Refuses names that are too long or hold control characters, and unknown MACs.
   */
  rename(macText: string, name: unknown): Promise<RenameResult> {
    return this.#serially(async (): Promise<RenameResult> => {
      const cache = this.#loaded();
      const mac = parseMac(macText);
      if (mac === undefined) return { ok: false, error: `not a MAC address: ${JSON.stringify(sanitiseText(String(macText), 40))}` };
      const d = cache.devices.get(mac);
      if (d === undefined) return { ok: false, error: `no device with MAC ${mac}` };
      const parsed = parseDeviceName(name);
      if (!parsed.ok) return parsed;
      await this.#run("rename a device", () =>
        this.#opts.database.db.update(devices).set({ name: parsed.value }).where(eq(devices.mac, mac)));
      const next = { ...d, name: parsed.value };
      cache.devices.set(mac, next);
      const device = this.getDevice(mac);
      if (device === undefined) throw new InventoryError(`device ${mac} vanished from the cache`);
      return { ok: true, value: device };
    });
  }

  /** Writes last-seen times held back by the resolution (call on stop). */
  flush(): Promise<void> {
    return this.#serially(async () => {
      const cache = this.#loaded();
      const { db } = this.#opts.database;
      const devs = [...cache.devices.values()].filter((d) => d.lastSeen !== d.persistedLastSeen);
      const addrs = [...cache.addresses.values()].filter((a) => a.lastSeen !== a.persistedLastSeen);
      if (devs.length + addrs.length === 0) return;
      await this.#run("flush last-seen times", () => db.batch(toBatch([
        ...devs.map((d) => db.update(devices).set({ lastSeen: d.lastSeen, lastSource: d.lastSource }).where(eq(devices.mac, d.mac))),
        ...addrs.map((a) => db.update(deviceAddresses).set({ lastSeen: a.lastSeen, source: a.source }).where(eq(deviceAddresses.ip, a.ip))),
      ])));
      for (const d of devs) d.persistedLastSeen = d.lastSeen;
      for (const a of addrs) a.persistedLastSeen = a.lastSeen;
    });
  }

  async #write(m: MergeResult): Promise<void> {
    const { db } = this.#opts.database;
    const deviceRows = [...m.deviceWrites].flatMap((mac) => {
      const d = m.devices.get(mac);
      return d === undefined ? [] : [{
        mac: d.mac,
        macKind: d.macKind,
        vendor: d.vendor,
        dhcpHostname: d.dhcpHostname,
        dhcpVendorClass: d.dhcpVendorClass,
        dhcpClientId: d.dhcpClientId,
        firstSeen: d.firstSeen,
        lastSeen: d.lastSeen,
        lastSource: d.lastSource,
        baseline: d.baseline,
      }];
    });
    const addressRows = [...m.addressWrites].flatMap((ip) => {
      const a = m.addresses.get(ip);
      return a === undefined ? [] : [{ ip: a.ip, mac: a.mac, family: a.family, firstSeen: a.firstSeen, lastSeen: a.lastSeen, source: a.source }];
    });
    const deletes = [...m.addressDeletes];
    if (deviceRows.length + addressRows.length + deletes.length === 0) return;
    // The user-given name and the announcement are never written here: they have their own
    // writes, and a batch must not undo them.
    const statements = [
      ...chunks(deviceRows).map((rows) => db.insert(devices).values(rows).onConflictDoUpdate({
        target: devices.mac,
        set: {
          vendor: sql`excluded.vendor`,
          dhcpHostname: sql`excluded.dhcp_hostname`,
          dhcpVendorClass: sql`excluded.dhcp_vendor_class`,
          dhcpClientId: sql`excluded.dhcp_client_id`,
          firstSeen: sql`excluded.first_seen`,
          lastSeen: sql`excluded.last_seen`,
          lastSource: sql`excluded.last_source`,
        },
      })),
      ...chunks(deletes).map((ips) => db.delete(deviceAddresses).where(inArray(deviceAddresses.ip, ips))),
      ...chunks(addressRows).map((rows) => db.insert(deviceAddresses).values(rows).onConflictDoUpdate({
        target: deviceAddresses.ip,
        set: {
          mac: sql`excluded.mac`,
          family: sql`excluded.family`,
          firstSeen: sql`excluded.first_seen`,
          lastSeen: sql`excluded.last_seen`,
          source: sql`excluded.source`,
        },
      })),
    ];
    await this.#run("write a batch of observations", () => db.batch(toBatch(statements)));
  }

  /** Takes a committed merge into the cache. */
  #take(m: MergeResult): void {
    const cache = this.#loaded();
    const now = this.#now();
    for (const mac of m.created) if (m.devices.get(mac)?.baseline === false) this.#createdAt.set(mac, now);
    for (const [mac, d] of m.devices) {
      if (m.deviceWrites.has(mac)) d.persistedLastSeen = d.lastSeen;
      cache.devices.set(mac, d);
    }
    for (const ip of m.addressDeletes) {
      const old = cache.addresses.get(ip);
      if (old !== undefined) cache.addressesByMac.get(old.mac)?.delete(ip);
      cache.addresses.delete(ip);
    }
    for (const [ip, a] of m.addresses) {
      if (m.addressWrites.has(ip)) a.persistedLastSeen = a.lastSeen;
      const old = cache.addresses.get(ip);
      if (old !== undefined && old.mac !== a.mac) cache.addressesByMac.get(old.mac)?.delete(ip);
      cache.addresses.set(ip, a);
      indexAddress(cache.addressesByMac, a.mac, ip);
    }
  }

  /** Hands on the events of devices not yet announced (and due); returns how many. */
  async #announcePending(): Promise<number> {
    const cache = this.#loaded();
    const dueBefore = this.#now() - (this.#opts.announceDelayMs ?? 5000);
    const due = (d: KnownDevice) =>
      (cache.addressesByMac.get(d.mac)?.size ?? 0) > 0 || (this.#createdAt.get(d.mac) ?? -Infinity) <= dueBefore;
    const pending = [...cache.devices.values()].filter((d) => !d.baseline && d.announcedAt === null && due(d));
    if (pending.length === 0) return 0;
    const events = pending.map((d) =>
      newDeviceEvent(d, [...(cache.addressesByMac.get(d.mac) ?? [])].map((ip) => cache.addresses.get(ip)))
    );
    try {
      await this.#opts.emit(events);
    } catch (cause) {
      throw new InventoryError(`the event sink refused ${events.length} new-device event(s); they will be offered again`, { cause });
    }
    const at = this.#now();
    const { db } = this.#opts.database;
    const macs = pending.map((d) => d.mac);
    await this.#run("record announced devices", () => db.batch(toBatch(chunks(macs).map((part) =>
      db.update(devices).set({ announcedAt: at }).where(and(inArray(devices.mac, part), isNull(devices.announcedAt)))
    ))));
    for (const d of pending) {
      cache.devices.set(d.mac, { ...d, announcedAt: at });
      this.#createdAt.delete(d.mac);
    }
    return pending.length;
  }

  #vendorOf(mac: string): string | null {
    const v = lookupVendor(this.#opts.vendors, mac);
    return v.kind === "vendor" ? v.name : null;
  }

  #now(): number {
    return (this.#opts.clock ?? Date.now)();
  }

  #loaded(): Cache {
    if (this.#cache === undefined) throw new InventoryError("the inventory is not loaded: call load() first");
    return this.#cache;
  }

  async #run<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (cause) {
      throw new InventoryError(`inventory: could not ${what}: ${(cause as Error).message}`, { cause });
    }
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(work, work);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

/** The new-device event of a device (BoxEvent, category endpoint, severity low). */
export function newDeviceEvent(d: KnownDevice, addresses: readonly (KnownAddress | undefined)[]): BoxEvent {
  const ip = [...addresses].filter((a): a is KnownAddress => a !== undefined)
    .sort((a, b) => a.family - b.family || b.lastSeen - a.lastSeen)[0]?.ip;
  const what = [d.macKind === "randomised" ? "randomised MAC" : d.vendor ?? "unknown vendor", d.dhcpHostname]
    .filter((s) => s !== null).join(", ");
  const event: BoxEvent = {
    time: d.firstSeen,
    category: "endpoint",
    severity: "low",
    // No kind fits better yet: see the note to the lead (a "device" kind would let the
    // event writer group new devices apart from syslog messages).
    kind: "endpoint",
    logId: NEW_DEVICE_ID,
    ruleId: NEW_DEVICE_ID,
    direction: "outbound",
    action: "log",
    lanMac: d.mac,
    message: sanitiseText(`new device ${d.mac} (${what})`, 200),
  };
  if (ip !== undefined) event.lanIp = ip;
  return event;
}

/**
 * Every device in the database, most recently seen first, for readers other than the
 * inventory's own process (the CLI): two queries, no cache.
 */
export async function readDevices(database: Database): Promise<InventoryDevice[]> {
  const { db } = database;
  const rows = await db.select().from(devices);
  const addrs = await db.select().from(deviceAddresses);
  const byMac = new Map<string, KnownAddress[]>();
  for (const a of addrs) {
    const list = byMac.get(a.mac) ?? [];
    list.push({ ...a, family: a.family === 6 ? 6 : 4, source: toSource(a.source), persistedLastSeen: a.lastSeen });
    byMac.set(a.mac, list);
  }
  return rows
    .map((row) => toInventoryDevice(
      { ...row, lastSource: toSource(row.lastSource), persistedLastSeen: row.lastSeen },
      byMac.get(row.mac) ?? [],
    ))
    .sort(byLastSeen);
}

function toInventoryDevice(d: KnownDevice, addresses: readonly (KnownAddress | undefined)[]): InventoryDevice {
  return {
    mac: d.mac,
    macKind: d.macKind,
    vendor: d.vendor,
    dhcpHostname: d.dhcpHostname,
    dhcpVendorClass: d.dhcpVendorClass,
    dhcpClientId: d.dhcpClientId,
    name: d.name,
    firstSeen: d.firstSeen,
    lastSeen: d.lastSeen,
    lastSource: d.lastSource,
    baseline: d.baseline,
    addresses: addresses
      .filter((a): a is KnownAddress => a !== undefined)
      .map((a) => ({ ip: a.ip, family: a.family, firstSeen: a.firstSeen, lastSeen: a.lastSeen, source: a.source }))
      .sort((a, b) => b.lastSeen - a.lastSeen || a.ip.localeCompare(b.ip)),
  };
}

function byLastSeen(a: InventoryDevice, b: InventoryDevice): number {
  return b.lastSeen - a.lastSeen || a.mac.localeCompare(b.mac);
}

function indexAddress(index: Map<string, Set<string>>, mac: string, ip: string): void {
  const set = index.get(mac) ?? new Set<string>();
  set.add(ip);
  index.set(mac, set);
}

function toSource(text: string): ObservationSource {
  return OBSERVATION_SOURCES.find((s) => s === text) ?? "neighbour";
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** drizzle's batch wants a non-empty tuple. */
function toBatch<T>(statements: T[]): [T, ...T[]] {
  const [first, ...rest] = statements;
  if (first === undefined) throw new InventoryError("empty batch");
  return [first, ...rest];
}

