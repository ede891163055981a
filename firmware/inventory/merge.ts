/**
 * The inventory's decisions, pure: given what is known (the in-memory copy of the tables)
 * and a batch of observations, which devices and addresses change, which rows must be
 * written, which devices are new. inventory.ts writes the result in one transaction and only
 * then takes it into its cache, so a failed write changes nothing.
 */
import { classifyMac } from "./mac.ts";
import { MAX_HOSTNAME, MAX_VENDOR_CLASS, sanitiseText } from "./text.ts";
import type { DeviceObservation, ObservationSource } from "./observation.ts";

export type KnownDevice = {
  mac: string;
  macKind: "global" | "randomised";
  vendor: string | null;
  dhcpHostname: string | null;
  dhcpVendorClass: string | null;
  dhcpClientId: string | null;
  name: string | null;
  firstSeen: number;
  /** Exact, in memory; the table may hold an older value (see `persistedLastSeen`). */
  lastSeen: number;
  lastSource: ObservationSource;
  baseline: boolean;
  announcedAt: number | null;
  /** last_seen as written to the table. */
  persistedLastSeen: number;
};

export type KnownAddress = {
  ip: string;
  mac: string;
  family: 4 | 6;
  firstSeen: number;
  lastSeen: number;
  source: ObservationSource;
  persistedLastSeen: number;
};

/** Read-only view of what the inventory knows. */
export type KnownState = {
  devices: ReadonlyMap<string, KnownDevice>;
  addresses: ReadonlyMap<string, KnownAddress>;
  /** IPs per MAC (an index over `addresses`). */
  addressesByMac: ReadonlyMap<string, ReadonlySet<string>>;
};

export type MergeOptions = {
  /** The wall clock when the batch is merged. */
  now: number;
  /** While `now` is before this, new devices are baseline devices (no event). */
  baselineUntil: number;
  /** last_seen is written only when it moved at least this much (fewer writes to the SD card). */
  lastSeenResolutionMs: number;
  maxAddressesPerDevice: number;
  maxDevices: number;
  /** The registry's name for a global MAC, if known. */
  vendorOf: (mac: string) => string | null;
};

export type MergeResult = {
  /** Devices after the batch (new or changed), keyed by MAC. */
  devices: Map<string, KnownDevice>;
  /** Of `devices`, those whose row must be written (new, changed, or last seen moved enough). */
  deviceWrites: Set<string>;
  /** MACs that are new in this batch. */
  created: string[];
  /** Addresses after the batch (new, moved or refreshed). */
  addresses: Map<string, KnownAddress>;
  addressWrites: Set<string>;
  /** Addresses dropped: over a device's limit (its least recently seen ones). */
  addressDeletes: Set<string>;
  /** Observations with only an address that no known device holds. */
  unresolved: number;
  /** New devices turned away because the inventory is full (maxDevices). */
  refused: number;
};

/** Merges a batch of observations into the known state (which it does not modify). */
export function mergeObservations(known: KnownState, observations: readonly DeviceObservation[], opts: MergeOptions): MergeResult {
  const r: MergeResult = {
    devices: new Map(),
    deviceWrites: new Set(),
    created: [],
    addresses: new Map(),
    addressWrites: new Set(),
    addressDeletes: new Set(),
    unresolved: 0,
    refused: 0,
  };
  const device = (mac: string): KnownDevice | undefined => {
    const touched = r.devices.get(mac);
    if (touched !== undefined) return touched;
    const k = known.devices.get(mac);
    if (k === undefined) return undefined;
    const copy = { ...k };
    r.devices.set(mac, copy);
    return copy;
  };
  const address = (ip: string): KnownAddress | undefined => {
    if (r.addressDeletes.has(ip)) return undefined;
    return r.addresses.get(ip) ?? known.addresses.get(ip);
  };
  let deviceCount = known.devices.size;

  for (const obs of observations) {
    const current = obs.current !== false;
    const mac = obs.mac ?? (obs.ip === undefined ? undefined : address(obs.ip)?.mac);
    if (mac === undefined) {
      r.unresolved++;
      continue;
    }
    let d = device(mac);
    if (d === undefined) {
      if (deviceCount >= opts.maxDevices) {
        r.refused++;
        continue;
      }
      const kind = classifyMac(mac);
      d = {
        mac,
        macKind: kind === "randomised" ? "randomised" : "global",
        vendor: kind === "global" ? opts.vendorOf(mac) : null,
        dhcpHostname: null,
        dhcpVendorClass: null,
        dhcpClientId: null,
        name: null,
        firstSeen: obs.time,
        lastSeen: obs.time,
        lastSource: obs.source,
        baseline: opts.now < opts.baselineUntil,
        announcedAt: null,
        persistedLastSeen: obs.time,
      };
      r.devices.set(mac, d);
      r.created.push(mac);
      r.deviceWrites.add(mac);
      deviceCount++;
    } else {
      if (obs.time < d.firstSeen) {
        d.firstSeen = obs.time;
        r.deviceWrites.add(mac);
      }
      if (current && obs.time > d.lastSeen) {
        d.lastSeen = obs.time;
        d.lastSource = obs.source;
        if (d.lastSeen - d.persistedLastSeen >= opts.lastSeenResolutionMs) r.deviceWrites.add(mac);
      }
    }
    // Sources clean these already (dhcp.ts); cleaned again here because this is where they
    // are stored, whoever built the observation.
    for (const [field, value] of [
      ["dhcpHostname", clean(obs.hostname, MAX_HOSTNAME)],
      ["dhcpVendorClass", clean(obs.vendorClass, MAX_VENDOR_CLASS)],
      ["dhcpClientId", clean(obs.clientId, 128)],
    ] as const) {
      if (value !== undefined && d[field] !== value) {
        d[field] = value;
        r.deviceWrites.add(mac);
      }
    }
    if (obs.ip !== undefined) mergeAddress(r, address(obs.ip), obs, mac, current, opts);
  }

  // Bound each touched device's addresses: keep the most recently seen.
  const touchedMacs = new Set([...r.addresses.values()].map((a) => a.mac));
  for (const mac of touchedMacs) {
    const ips = new Set(known.addressesByMac.get(mac) ?? []);
    for (const a of r.addresses.values()) if (a.mac === mac) ips.add(a.ip);
    const held = [...ips].map(address).filter((a): a is KnownAddress => a !== undefined && a.mac === mac);
    if (held.length <= opts.maxAddressesPerDevice) continue;
    held.sort((a, b) => b.lastSeen - a.lastSeen || a.ip.localeCompare(b.ip));
    for (const a of held.slice(opts.maxAddressesPerDevice)) {
      r.addresses.delete(a.ip);
      r.addressWrites.delete(a.ip);
      if (known.addresses.has(a.ip)) r.addressDeletes.add(a.ip);
    }
  }
  return r;
}

function clean(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  const s = sanitiseText(text, max);
  return s === "" ? undefined : s;
}

function mergeAddress(
  r: MergeResult,
  existing: KnownAddress | undefined,
  obs: DeviceObservation,
  mac: string,
  current: boolean,
  opts: MergeOptions,
): void {
  const ip = obs.ip;
  if (ip === undefined) return;
  const family = ip.includes(":") ? 6 : 4;
  if (existing === undefined || existing.mac !== mac) {
    // An address moves to this device only on evidence newer than its holder's: a stale
    // neighbour entry or a late-read log record must not take a live device's address.
    if (existing !== undefined && (!current || obs.time <= existing.lastSeen)) return;
    r.addressDeletes.delete(ip);
    r.addresses.set(ip, { ip, mac, family, firstSeen: obs.time, lastSeen: obs.time, source: obs.source, persistedLastSeen: obs.time });
    r.addressWrites.add(ip);
    return;
  }
  if (!current || obs.time <= existing.lastSeen) return;
  const a = r.addresses.get(ip) ?? { ...existing };
  a.lastSeen = obs.time;
  a.source = obs.source;
  r.addresses.set(ip, a);
  if (a.lastSeen - a.persistedLastSeen >= opts.lastSeenResolutionMs) r.addressWrites.add(ip);
}
