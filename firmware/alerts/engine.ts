/**
 * The alert engine: classified events in, planned alert changes out. No I/O: the clock,
 * the rule metadata and the device lookup are injected, and its state is plain data (the
 * latest alert per identity key, and the sliding windows of the threshold rules), bounded
 * in size. The store writes the changes (store.ts) and tells the engine what it wrote
 * (`sync`), so the engine's view is a cache: when it is stale (restart, a person resolved
 * an alert meanwhile, eviction), the store's version check catches it and re-plans.
 */
import type { Incident } from "../events/types.ts";
import type { RuleMeta } from "../ruleset/meta.ts";
import { DEFAULT_ALERT_CONFIG, type AlertConfig } from "./config.ts";
import { emptyEvidence, mergeObservations } from "./evidence.ts";
import { planObservations, type PlanContext } from "./plan.ts";
import {
  classifyEvent, identityKey, incidentAsEvent, KIND_DEFINITIONS, remoteSubject, ruleRole, type AlertInputEvent, type Signal,
} from "./rules.ts";
import { cleanAddress, cleanText } from "./untrusted-text.ts";
import type { Alert, AlertChange, AlertDevice, AlertEvidence, AlertRuleRef, DeviceLookup, Observation } from "./types.ts";

export type AlertEngineDeps = {
  clock: () => number;
  config?: AlertConfig;
  /** The current policy's metadata for a log id (the compiler's RuleMetaMap). */
  lookupRule?: (logId: string) => RuleMeta | undefined;
  /** What inventory knows about a LAN device (name, vendor). */
  lookupDevice?: DeviceLookup;
  /** Alert ids; `crypto.randomUUID` by default. */
  newId?: () => string;
};

/** A threshold rule's memory of one LAN host. */
type Tracker = {
  /** Times of the most recent attempts (at most the threshold's count), oldest first. */
  times: number[];
  /** Distinct sources and when each was last seen (exposed-host). */
  sources: Map<string, number>;
  /** What was seen since the window began, reported when the threshold is crossed. */
  pending: Observation | undefined;
  /** Tumbling window for the escalation burst (outbound-port). */
  burstStart: number;
  burstCount: number;
  lastTime: number;
};

const MAX_NAME = 64;
const MAX_TITLE = 160;
const MAX_MESSAGE = 200;

/** The engine's whole state: plain maps. */
export type AlertEngineState = {
  alerts: Map<string, Alert>;
  outbound: Map<string, Tracker>;
  exposure: Map<string, Tracker>;
};

export class AlertEngine {
  readonly #deps: AlertEngineDeps;
  readonly #config: AlertConfig;
  readonly #state: AlertEngineState = { alerts: new Map(), outbound: new Map(), exposure: new Map() };
  /** Cleaned rule references per log id, for as long as the policy's metadata object is the same. */
  readonly #ruleRefs = new Map<string, { rule: RuleMeta | undefined; ruleId: string; ref: AlertRuleRef }>();

  constructor(deps: AlertEngineDeps) {
    this.#deps = deps;
    this.#config = deps.config ?? DEFAULT_ALERT_CONFIG;
  }

  /**
   * One batch from the event writer: the incidents that changed and the events that changed
   * them. Returns the alert changes to store (and to forward), in order.
   */
  process(events: readonly AlertInputEvent[], changed: readonly Incident[] = []): AlertChange[] {
    const now = this.#deps.clock();
    const observations = this.observe(events, changed, now);
    const changes: AlertChange[] = [];
    if (observations.length > 0) {
      const ctx: PlanContext = { now, config: this.#config, newId: this.#deps.newId ?? (() => crypto.randomUUID()) };
      const view = new Map<string, Alert>();
      for (const o of observations) {
        const a = this.#state.alerts.get(o.key);
        if (a !== undefined) view.set(o.key, a);
      }
      changes.push(...planObservations(view, observations, ctx));
      for (const c of changes) this.#remember(c.alert);
    }
    this.#prune(now);
    return changes;
  }

  /**
   * The correlation step alone: what the rules saw in this batch, one observation per
   * identity key (counts summed, evidence merged). Updates the threshold windows.
   */
  observe(events: readonly AlertInputEvent[], changed: readonly Incident[], now: number = this.#deps.clock()): Observation[] {
    const batch = new Map<string, Observation>();
    const add = (obs: Observation): void => {
      const prev = batch.get(obs.key);
      batch.set(obs.key, prev ? mergeObservations(prev, obs) : obs);
    };
    // Sources the scan detector flagged in this batch, or that have a scan alert going.
    const scanners = new Set<string>();
    for (const e of events) {
      if (e.kind === "scan" && ruleRole(e, this.#rule(e.logId)) === "port-scan") {
        const r = remoteSubject(e);
        if (r !== undefined) scanners.add(r);
      }
    }
    const isScanner = (remote: string): boolean =>
      scanners.has(remote) || this.#isActive(identityKey("port-scan", remote));
    for (const e of events) {
      const rule = this.#rule(e.logId);
      const signals = classifyEvent(e, rule, this.#config.endpointMaxSyslogSeverity, isScanner);
      if (signals.length === 0) continue;
      const time = Number.isFinite(e.time) ? e.time : now;
      for (const s of signals) {
        const obs = this.#observation(s, e, rule, time);
        switch (s.kind) {
          case "outbound-port":
            this.#countOutbound(s, obs, time, batch, add);
            break;
          case "exposed-host":
            this.#countExposure(s, obs, e, time, batch, add);
            break;
          default:
            add(obs);
        }
      }
    }
    this.#linkIncidents(changed, batch);
    return [...batch.values()];
  }

  /** Tells the engine what the store holds (after a write, a person's action, or at start-up). */
  sync(alerts: readonly Alert[]): void {
    for (const a of alerts) {
      const cur = this.#state.alerts.get(a.key);
      if (cur === undefined || a.version >= cur.version) this.#remember(a);
    }
  }

  /** Forgets the engine's view of these keys (after a failed write): the store re-plans them. */
  forget(keys: Iterable<string>): void {
    for (const k of keys) this.#state.alerts.delete(k);
  }

  /** The engine's view of the latest alert of a key. */
  alertFor(key: string): Alert | undefined {
    return this.#state.alerts.get(key);
  }

  /** Sizes of the engine's memory (for status and tests of its bounds). */
  stats(): { alerts: number; outboundHosts: number; exposureHosts: number } {
    return { alerts: this.#state.alerts.size, outboundHosts: this.#state.outbound.size, exposureHosts: this.#state.exposure.size };
  }

  #rule(logId: string): RuleMeta | undefined {
    try {
      return this.#deps.lookupRule?.(logId);
    } catch {
      return undefined;
    }
  }

  #remember(a: Alert): void {
    const m = this.#state.alerts;
    m.delete(a.key); // re-insert: Map order is least recently written first
    m.set(a.key, a);
    for (const k of m.keys()) {
      if (m.size <= this.#config.maxRememberedAlerts) break;
      m.delete(k);
    }
  }

  #isActive(key: string): boolean {
    const a = this.#state.alerts.get(key);
    return a !== undefined && a.state !== "resolved";
  }

  #device(e: AlertInputEvent): AlertDevice {
    const d: AlertDevice = {};
    if (e.lanIp) d.ip = cleanAddress(e.lanIp);
    if (e.lanMac) d.mac = cleanAddress(e.lanMac);
    if (d.ip === undefined && d.mac === undefined) return d;
    let known: ReturnType<DeviceLookup>;
    try {
      const q: { ip?: string; mac?: string } = {};
      if (d.ip) q.ip = d.ip;
      if (d.mac) q.mac = d.mac;
      known = this.#deps.lookupDevice?.(q);
    } catch {
      known = undefined; // a lookup failure must not lose the alert
    }
    if (known) {
      if (!d.mac && typeof known.mac === "string" && known.mac) d.mac = cleanAddress(known.mac);
      if (typeof known.name === "string") {
        const name = cleanText(known.name, MAX_NAME);
        if (name) d.name = name;
      }
      if (typeof known.vendor === "string") {
        const vendor = cleanText(known.vendor, MAX_NAME);
        if (vendor) d.vendor = vendor;
      }
    }
    return d;
  }

  #observation(s: Signal, e: AlertInputEvent, rule: RuleMeta | undefined, time: number): Observation {
    const def = KIND_DEFINITIONS[s.kind];
    const evidence: AlertEvidence = emptyEvidence();
    evidence.rules.push(this.#ruleRef(e, rule));
    const remote = remoteSubject(e);
    if (remote !== undefined && s.kind !== "new-device" && s.kind !== "endpoint-syslog") evidence.remotes.push(remote);
    if (typeof e.port === "number" && Number.isInteger(e.port) && e.port >= 0 && e.port <= 65535) evidence.ports.push(e.port);
    if (e.proto) evidence.protos.push(cleanText(e.proto, 16));
    if (s.kind === "port-scan" && e.lanIp) evidence.targets.push(cleanAddress(e.lanIp));
    if (s.kind === "endpoint-syslog") {
      if (e.message !== undefined) evidence.message = cleanText(e.message, MAX_MESSAGE);
      if (e.app !== undefined) {
        const app = cleanText(e.app, 48);
        if (app) evidence.app = app;
      }
      if (typeof e.syslogSeverity === "number" && Number.isInteger(e.syslogSeverity)) evidence.syslogSeverity = e.syslogSeverity;
    }
    return {
      key: s.key, kind: s.kind, category: def.category, severity: def.severity,
      firstSeen: time, lastSeen: time, count: 1,
      device: this.#device(e), evidence,
    };
  }

  #ruleRef(e: AlertInputEvent, rule: RuleMeta | undefined): AlertRuleRef {
    const cached = this.#ruleRefs.get(e.logId);
    if (cached !== undefined && cached.rule === rule && cached.ruleId === e.ruleId) return cached.ref;
    const ref: AlertRuleRef = {
      id: cleanText(e.ruleId, 64),
      logId: cleanText(e.logId, 80),
      title: { ja: cleanText(rule?.title.ja ?? "", MAX_TITLE), en: cleanText(rule?.title.en ?? "", MAX_TITLE) },
    };
    if (this.#ruleRefs.size >= 4_096) this.#ruleRefs.clear();
    this.#ruleRefs.set(e.logId, { rule, ruleId: e.ruleId, ref });
    return ref;
  }

  #tracker(map: Map<string, Tracker>, key: string, time: number): Tracker {
    let t = map.get(key);
    if (t !== undefined) {
      map.delete(key); // keep Map order = least recently used first
    } else {
      t = { times: [], sources: new Map(), pending: undefined, burstStart: time, burstCount: 0, lastTime: time };
      if (map.size >= this.#config.maxTrackedHosts) {
        const oldest = map.keys().next();
        if (!oldest.done) map.delete(oldest.value);
      }
    }
    map.set(key, t);
    t.lastTime = Math.max(t.lastTime, time);
    return t;
  }

  /**
   * Forgets attempts older than the window, then records this one (keeping at most `cap`).
   * True when the window had emptied: what was pending belongs to an older window.
   */
  #slide(t: Tracker, time: number, windowMs: number, cap: number): boolean {
    const from = time - windowMs;
    let drop = 0;
    while (drop < t.times.length && t.times[drop]! < from) drop++;
    if (drop > 0) t.times.splice(0, drop);
    const emptied = t.times.length === 0;
    t.times.push(time);
    if (t.times.length > cap) t.times.splice(0, t.times.length - cap);
    return emptied;
  }

  #countOutbound(s: Signal, obs: Observation, time: number, batch: Map<string, Observation>, add: (o: Observation) => void): void {
    const cfg = this.#config.outboundPort;
    const t = this.#tracker(this.#state.outbound, s.key, time);
    if (time - t.burstStart > cfg.escalateWindowMs) {
      t.burstStart = time;
      t.burstCount = 0;
    }
    t.burstCount++;
    const o: Observation = t.burstCount >= cfg.escalateThreshold ? { ...obs, severity: "high" } : obs;
    if (batch.has(s.key) || this.#isActive(s.key)) {
      add(o);
      return;
    }
    if (this.#slide(t, time, cfg.windowMs, cfg.threshold)) t.pending = undefined;
    t.pending = t.pending ? mergeObservations(t.pending, o) : o;
    if (t.times.length >= cfg.threshold) {
      add({ ...t.pending, count: t.times.length, firstSeen: t.times[0]!, lastSeen: time });
      t.times = [];
      t.pending = undefined;
    }
  }

  #countExposure(s: Signal, obs: Observation, e: AlertInputEvent, time: number, batch: Map<string, Observation>, add: (o: Observation) => void): void {
    const cfg = this.#config.exposedHost;
    if (batch.has(s.key) || this.#isActive(s.key)) {
      add(obs);
      return;
    }
    const t = this.#tracker(this.#state.exposure, s.key, time);
    if (this.#slide(t, time, cfg.windowMs, cfg.minAttempts)) t.pending = undefined;
    t.pending = t.pending ? mergeObservations(t.pending, obs) : obs;
    const remote = remoteSubject(e);
    if (remote !== undefined) {
      t.sources.delete(remote);
      t.sources.set(remote, time);
      for (const [src, seen] of t.sources) {
        if (seen >= time - cfg.windowMs && t.sources.size <= cfg.minSources * 2) break;
        t.sources.delete(src); // oldest first: expired, or beyond the bound
      }
    }
    if (t.times.length >= cfg.minAttempts || t.sources.size >= cfg.minSources) {
      add({ ...t.pending, count: t.times.length, firstSeen: t.times[0]!, lastSeen: time });
      t.times = [];
      t.sources.clear();
      t.pending = undefined;
    }
  }

  /** Attaches the ids of changed incidents to the observations of the same identity key. */
  #linkIncidents(changed: readonly Incident[], batch: Map<string, Observation>): void {
    if (batch.size === 0) return;
    for (const i of changed) {
      const e = incidentAsEvent(i);
      const id = i.id;
      if (!Number.isSafeInteger(id)) continue;
      for (const s of classifyEvent(e, this.#rule(i.logId), 7)) {
        const obs = batch.get(s.key);
        if (obs && !obs.evidence.incidentIds.includes(id)) {
          obs.evidence = { ...obs.evidence, incidentIds: [...obs.evidence.incidentIds, id].slice(-16) };
        }
      }
    }
  }

  /**
   * Drops threshold windows that can no longer reach their threshold, and resolved alerts
   * that no recurrence can reopen. (Forgetting is always safe: the store re-plans a key the
   * engine no longer knows; it costs one more read then.)
   */
  #prune(now: number): void {
    const horizon: Record<"outbound" | "exposure", number> = {
      outbound: Math.max(this.#config.outboundPort.windowMs, this.#config.outboundPort.escalateWindowMs),
      exposure: this.#config.exposedHost.windowMs,
    };
    for (const which of ["outbound", "exposure"] as const) {
      const m = this.#state[which];
      for (const [k, t] of m) {
        if (t.lastTime >= now - horizon[which]) break; // Map order: least recently used first
        m.delete(k);
      }
    }
    // Resolved alerts a recurrence can no longer reopen.
    for (const [k, a] of this.#state.alerts) {
      const done = a.state === "resolved" &&
        (a.resolvedBy === "system" || (a.resolvedAt ?? a.updatedAt) < now - this.#config.dedupeWindowMs);
      if (done) this.#state.alerts.delete(k);
    }
  }
}
