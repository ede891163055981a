/**
 * Incidents: events collapsed into "one thing that happened". A port scan of thousands of
 * packets from one source is one incident with a count, first and last seen, and the ports it
 * touched; a PC that keeps trying to reach a C&C server is one incident per server.
 *
 * `IncidentTracker` is pure state over events: no clock, no I/O, no randomness. Ids are a
 * sequence that the caller seeds (the store continues from its highest id), so the same
 * events give the same incidents.
 */
import type { BoxEvent, Incident, Severity } from "./types.ts";

/** Ports listed in an incident (its `portCount` stays exact beyond this). */
export const MAX_PORTS_LISTED = 64;
/** LAN hosts / remotes listed in an incident. */
export const MAX_HOSTS_LISTED = 16;
/** Distinct LAN hosts / remotes counted per incident before the count saturates. */
export const MAX_DISTINCT_COUNTED = 4096;

export type IncidentTrackerOptions = {
  /** An incident ends after this long without events (ms); the next event opens a new one. */
  idleGapMs: number;
  /**
   * Open incidents kept at most. When full, the least recently updated one is closed early,
   * so a flood of spoofed sources (each its own incident) cannot grow memory without bound.
   */
  maxOpen: number;
  /** The id of the next incident (ids are never reused). */
  firstId: number;
};

export const DEFAULT_IDLE_GAP_MS = 15 * 60_000;
export const DEFAULT_MAX_OPEN_INCIDENTS = 10_000;

export type IncidentTrackerStats = {
  open: number;
  opened: number;
  /** Closed because no event came for the idle gap. */
  closedIdle: number;
  /** Closed early because `maxOpen` incidents were open. */
  evicted: number;
};

/**
 * Which events are "the same incident":
 * - scans: by remote only. One scanner is one incident however many LAN hosts and ports it
 *   touches (the default drop, the scan detector and the banned-source drops are one family);
 * - brute force: by rule, remote and the attacked LAN host;
 * - blocklist, outbound: by rule, LAN host and remote (a PC talking to one C&C server);
 *   inbound: by rule and remote;
 * - risky outbound ports: by rule and LAN host (a PC spraying port 25 at many servers is one);
 * - endpoint syslog: by LAN device and app-name;
 * - anything else: by log id, LAN host and remote.
 * A domain, when there is one, is part of the key.
 */
export function incidentKey(e: BoxEvent): string {
  const lan = e.lanIp ?? "";
  const remote = e.remoteIp ?? "";
  let key: string;
  switch (e.kind) {
    case "scan": key = `scan|${remote}`; break;
    case "brute-force": key = `${e.ruleId}|${remote}|${lan}`; break;
    case "blocklist": key = e.direction === "outbound" ? `${e.ruleId}|${lan}|${remote}` : `${e.ruleId}|${remote}`; break;
    case "outbound-port": key = `${e.ruleId}|${lan}`; break;
    case "endpoint": key = `endpoint|${lan}|${e.app ?? ""}`; break;
    default: key = `${e.logId}|${lan}|${remote}`;
  }
  return e.domain === undefined ? key : `${key}|${e.domain}`;
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2 };

/** The distinct ports of one incident: a small set, then a 64 Ki-bit bitmap (8 KiB) for big scans. */
type PortTally = { set: Set<number> | undefined; bits: Uint8Array | undefined; count: number; listed: number[] };

type OpenIncident = {
  incident: Incident;
  /** Opened since the last `takeChanges` (the store inserts it rather than updating it). */
  fresh: boolean;
  ports: PortTally;
  lanSet: Set<string>;
  remoteSet: Set<string>;
};

function addPort(t: PortTally, port: number): void {
  if (t.bits) {
    const byte = port >>> 3;
    const bit = 1 << (port & 7);
    if ((t.bits[byte]! & bit) !== 0) return;
    t.bits[byte] = t.bits[byte]! | bit;
  } else {
    const set = t.set ?? (t.set = new Set());
    if (set.has(port)) return;
    set.add(port);
    if (set.size > MAX_PORTS_LISTED) {
      const bits = new Uint8Array(65536 / 8);
      for (const p of set) bits[p >>> 3] = bits[p >>> 3]! | (1 << (p & 7));
      t.bits = bits;
      t.set = undefined;
    }
  }
  t.count++;
  if (t.listed.length < MAX_PORTS_LISTED) t.listed.push(port);
}

function addDistinct(set: Set<string>, listed: string[], value: string): void {
  if (set.has(value) || set.size >= MAX_DISTINCT_COUNTED) return;
  set.add(value);
  if (listed.length < MAX_HOSTS_LISTED) listed.push(value);
}

/** The incidents one batch changed, as snapshots. */
export type IncidentChanges = { opened: Incident[]; updated: Incident[] };

/**
 * Collapses events into incidents. Feed it events in roughly time order with `observe`; take
 * the incidents that changed with `takeChanges` (once per batch); close idle ones with
 * `expire(now)`.
 */
export class IncidentTracker {
  readonly #options: IncidentTrackerOptions;
  readonly #open = new Map<string, OpenIncident>();
  readonly #changed = new Set<OpenIncident>();
  #nextId: number;
  #lastKey: string | undefined;
  #stats = { opened: 0, closedIdle: 0, evicted: 0 };

  constructor(options: IncidentTrackerOptions) {
    this.#options = options;
    this.#nextId = options.firstId;
  }

  /** Counts the event into its incident (opening one when needed) and returns the incident's id. */
  observe(event: BoxEvent): number {
    const key = incidentKey(event);
    let open = this.#open.get(key);
    if (open && event.time - open.incident.lastSeen > this.#options.idleGapMs) {
      this.#open.delete(key);
      this.#stats.closedIdle++;
      open = undefined;
    }
    if (open) {
      // Keep the map in least-recently-updated order (for eviction and expiry); a run of
      // events of one incident (a scan) does not need to move it again.
      if (this.#lastKey !== key) {
        this.#open.delete(key);
        this.#open.set(key, open);
      }
      this.#update(open, event);
    } else {
      if (this.#open.size >= this.#options.maxOpen) this.#evictOldest();
      open = this.#create(key, event);
      this.#open.set(key, open);
      this.#stats.opened++;
    }
    this.#lastKey = key;
    this.#changed.add(open);
    return open.incident.id;
  }

  /**
   * Snapshots (plain values) of the incidents that changed since the last call: those opened
   * since then, and those that existed before and were updated.
   */
  takeChanges(): IncidentChanges {
    const opened: Incident[] = [];
    const updated: Incident[] = [];
    for (const o of this.#changed) {
      (o.fresh ? opened : updated).push(snapshot(o));
      o.fresh = false;
    }
    this.#changed.clear();
    return { opened, updated };
  }

  /** Closes incidents with no event for the idle gap before `now`; returns how many. */
  expire(now: number): number {
    let closed = 0;
    for (const [key, o] of this.#open) {
      // The map is in update order, so the first one still active ends the sweep. An event
      // that arrived late (older time) may keep an idle incident open a little longer.
      if (now - o.incident.lastSeen <= this.#options.idleGapMs) break;
      this.#open.delete(key);
      closed++;
    }
    this.#stats.closedIdle += closed;
    if (closed > 0) this.#lastKey = undefined;
    return closed;
  }

  /** The id the next incident will get. */
  get nextId(): number {
    return this.#nextId;
  }

  stats(): IncidentTrackerStats {
    return { open: this.#open.size, ...this.#stats };
  }

  #evictOldest(): void {
    const oldest = this.#open.keys().next();
    if (oldest.done) return;
    this.#open.delete(oldest.value);
    this.#stats.evicted++;
    if (this.#lastKey === oldest.value) this.#lastKey = undefined;
  }

  #create(key: string, e: BoxEvent): OpenIncident {
    const incident: Incident = {
      id: this.#nextId++,
      key,
      kind: e.kind,
      category: e.category,
      severity: e.severity,
      ruleId: e.ruleId,
      logId: e.logId,
      direction: e.direction,
      action: e.action,
      firstSeen: e.time,
      lastSeen: e.time,
      count: 0,
      ports: [],
      portCount: 0,
      lanHosts: [],
      lanHostCount: 0,
      remotes: [],
      remoteCount: 0,
    };
    if (e.lanIp !== undefined) incident.lanIp = e.lanIp;
    if (e.lanMac !== undefined) incident.lanMac = e.lanMac;
    if (e.remoteIp !== undefined) incident.remoteIp = e.remoteIp;
    if (e.proto !== undefined) incident.proto = e.proto;
    if (e.domain !== undefined) incident.domain = e.domain;
    if (e.app !== undefined) incident.app = e.app;
    const open: OpenIncident = {
      incident,
      fresh: true,
      ports: { set: undefined, bits: undefined, count: 0, listed: incident.ports },
      lanSet: new Set(),
      remoteSet: new Set(),
    };
    this.#update(open, e);
    return open;
  }

  #update(o: OpenIncident, e: BoxEvent): void {
    const inc = o.incident;
    inc.count++;
    if (e.time > inc.lastSeen) inc.lastSeen = e.time;
    if (e.time < inc.firstSeen) inc.firstSeen = e.time;
    if (SEVERITY_RANK[e.severity] > SEVERITY_RANK[inc.severity]) inc.severity = e.severity;
    // A detected scan (the rule that bans) describes the incident better than the drops
    // around it.
    if (e.action === "ban" && inc.action !== "ban") {
      inc.action = "ban";
      inc.logId = e.logId;
      inc.ruleId = e.ruleId;
    }
    if (inc.lanMac === undefined && e.lanMac !== undefined) inc.lanMac = e.lanMac;
    if (e.port !== undefined) {
      addPort(o.ports, e.port);
      inc.portCount = o.ports.count;
    }
    // The incident's own LAN host and remote are counted when it opens; most events repeat
    // them (they are usually part of the key), which needs no set lookup.
    if (e.lanIp !== undefined && (e.lanIp !== inc.lanIp || inc.lanHostCount === 0)) {
      addDistinct(o.lanSet, inc.lanHosts, e.lanIp);
      inc.lanHostCount = o.lanSet.size;
    }
    if (e.remoteIp !== undefined && (e.remoteIp !== inc.remoteIp || inc.remoteCount === 0)) {
      addDistinct(o.remoteSet, inc.remotes, e.remoteIp);
      inc.remoteCount = o.remoteSet.size;
    }
  }
}

function snapshot(o: OpenIncident): Incident {
  const i = o.incident;
  return {
    ...i,
    ports: [...i.ports].sort((a, b) => a - b),
    lanHosts: [...i.lanHosts],
    remotes: [...i.remotes],
  };
}
