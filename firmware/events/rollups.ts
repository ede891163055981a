/**
 * Hourly rollups: per hour × category × severity × LAN host × remote × port × domain, how
 * many events. The dashboard and the weekly report read these, never the raw events.
 *
 * `RollupAccumulator` is pure: it sums a batch of events in memory so the store does one
 * upsert per distinct rollup key per batch, not one per event. It also bounds how many rows
 * one hour can create (README "Rollups"): a full port scan touches 65k ports, and a flood of
 * spoofed sources brings a new remote with every packet; kept row by row for 400 days that
 * would fill the SD card. Beyond the limits, events are counted in coarser rows ("*" / -1 =
 * "many"), so every count is kept, only detail is given up.
 */
import type { BoxEvent, Category, RollupRow } from "./types.ts";

export const HOUR_MS = 3_600_000;
/** "Many" in a folded rollup row's text columns. */
export const FOLDED = "*";
/** "Many" in a folded rollup row's port column. */
export const FOLDED_PORT = -1;

export type RollupLimits = {
  /** Distinct ports kept per (hour, category, severity, LAN host, remote, domain); more → port -1. */
  maxPortsPerPair: number;
  /** Distinct full keys per (hour, category); more → (LAN host, "*", -1, "*"). */
  maxKeysPerHour: number;
  /** Distinct LAN-host-only folded keys per (hour, category); more → ("*", "*", -1, "*"). */
  maxFoldedHostsPerHour: number;
};

export const DEFAULT_ROLLUP_LIMITS: RollupLimits = { maxPortsPerPair: 32, maxKeysPerHour: 500, maxFoldedHostsPerHour: 256 };

/** Start of the UTC hour containing `time`. */
export function hourOf(time: number): number {
  return Math.floor(time / HOUR_MS) * HOUR_MS;
}

type HourState = {
  /** Per category: full keys seen this hour. */
  keys: Map<Category, Set<string>>;
  /** Per category: LAN-host folded keys seen this hour. */
  folded: Map<Category, Set<string>>;
  /** Per pair (everything but the port): distinct ports seen this hour. */
  ports: Map<string, Set<number>>;
};

/**
 * Hours whose limits are remembered (least recently used dropped first): the current one,
 * the last few for late records. An hour whose state was dropped starts its limits afresh,
 * which only lets it add another round of rows, never lose counts.
 */
const HOURS_KEPT = 4;

/**
 * Sums events into rollup deltas. `add` each event of a batch, then `takeDeltas` gives one
 * row per distinct key with the batch's count for it (the store adds it to what is there).
 */
export class RollupAccumulator {
  readonly #limits: RollupLimits;
  readonly #hours = new Map<number, HourState>();
  #lastHour = NaN;
  #lastState: HourState | undefined;
  #deltas = new Map<string, RollupRow>();

  constructor(limits: RollupLimits = DEFAULT_ROLLUP_LIMITS) {
    this.#limits = limits;
  }

  add(e: BoxEvent): void {
    const hour = hourOf(e.time);
    const state = this.#hourState(hour);
    const category = e.category;
    let lanIp = e.lanIp ?? "";
    let port = e.port ?? 0;
    const pair = `${hour}|${category}|${e.severity}|${lanIp}|${e.remoteIp ?? ""}|${e.domain ?? ""}`;
    // Fast path: a key already counted in this batch was admitted with this very port.
    const seen = this.#deltas.get(`${pair}|${port}`);
    if (seen) {
      seen.count++;
      return;
    }
    const ports = state.ports.get(pair);
    if (port !== 0 && ports && !ports.has(port) && ports.size >= this.#limits.maxPortsPerPair) port = FOLDED_PORT;
    let key = `${pair}|${port}`;
    let row = this.#deltas.get(key);
    if (!row) {
      const keys = setOf(state.keys, category);
      if (keys.has(key) || keys.size < this.#limits.maxKeysPerHour) {
        keys.add(key);
        // Only admitted keys get a port set, so per-hour state stays within the limits.
        if (port > 0) {
          if (ports) ports.add(port);
          else state.ports.set(pair, new Set([port]));
        }
        row = { hour, category, severity: e.severity, lanIp, remoteIp: e.remoteIp ?? "", port, domain: e.domain ?? "", count: 0 };
      } else {
        const folded = setOf(state.folded, category);
        if (!folded.has(lanIp)) {
          if (folded.size < this.#limits.maxFoldedHostsPerHour) folded.add(lanIp);
          else lanIp = FOLDED;
        }
        key = `${hour}|${category}|${e.severity}|${lanIp}|${FOLDED}|${FOLDED}|${FOLDED_PORT}`;
        row = this.#deltas.get(key) ??
          { hour, category, severity: e.severity, lanIp, remoteIp: FOLDED, port: FOLDED_PORT, domain: FOLDED, count: 0 };
      }
      this.#deltas.set(key, row);
    }
    row.count++;
  }

  /** The summed rows since the last call (count = events in this batch), and a fresh start. */
  takeDeltas(): RollupRow[] {
    const rows = [...this.#deltas.values()];
    this.#deltas = new Map();
    return rows;
  }

  #hourState(hour: number): HourState {
    if (hour === this.#lastHour && this.#lastState) return this.#lastState;
    let state = this.#hours.get(hour);
    if (state) {
      // Most recently used last, so a clock that jumps back and forth keeps its busy hours.
      this.#hours.delete(hour);
    } else {
      state = { keys: new Map(), folded: new Map(), ports: new Map() };
      if (this.#hours.size >= HOURS_KEPT) {
        const oldest = this.#hours.keys().next();
        if (!oldest.done) this.#hours.delete(oldest.value);
      }
    }
    this.#hours.set(hour, state);
    this.#lastHour = hour;
    this.#lastState = state;
    return state;
  }
}

function setOf<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  return s;
}
