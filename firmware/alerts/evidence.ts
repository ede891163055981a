/**
 * Bounded evidence: merging two pieces of evidence keeps the first distinct values up to a
 * limit and remembers that there were more, so no alert row grows without bound.
 */
import type { AlertDevice, AlertEvidence, Observation, Severity } from "./types.ts";

export const EVIDENCE_LIMITS = {
  rules: 8,
  remotes: 16,
  ports: 32,
  protos: 4,
  targets: 16,
  incidentIds: 16,
} as const;

export function emptyEvidence(): AlertEvidence {
  return { rules: [], remotes: [], remotesMore: false, ports: [], portsMore: false, protos: [], targets: [], targetsMore: false, incidentIds: [] };
}

/** The first `max` distinct values of a then b; `more` when something did not fit. */
function firstDistinct<T>(a: readonly T[], b: readonly T[], max: number, aMore: boolean, bMore: boolean): { list: T[]; more: boolean } {
  const list = a.slice(0, max);
  const seen = new Set(list);
  let more = aMore || bMore || a.length > max;
  for (const v of b) {
    if (seen.has(v)) continue;
    if (list.length >= max) {
      more = true;
      break;
    }
    list.push(v);
    seen.add(v);
  }
  return { list, more };
}

export function mergeEvidence(a: AlertEvidence, b: AlertEvidence): AlertEvidence {
  const remotes = firstDistinct(a.remotes, b.remotes, EVIDENCE_LIMITS.remotes, a.remotesMore, b.remotesMore);
  const ports = firstDistinct(a.ports, b.ports, EVIDENCE_LIMITS.ports, a.portsMore, b.portsMore);
  const targets = firstDistinct(a.targets, b.targets, EVIDENCE_LIMITS.targets, a.targetsMore, b.targetsMore);
  const rules = a.rules.slice(0, EVIDENCE_LIMITS.rules);
  const logIds = new Set(rules.map((r) => r.logId));
  for (const r of b.rules) {
    if (rules.length >= EVIDENCE_LIMITS.rules) break;
    if (!logIds.has(r.logId)) {
      rules.push(r);
      logIds.add(r.logId);
    }
  }
  // Incidents: the most recent ones are the useful links.
  const incidentIds = [...a.incidentIds.filter((id) => !b.incidentIds.includes(id)), ...b.incidentIds].slice(-EVIDENCE_LIMITS.incidentIds);
  const out: AlertEvidence = {
    rules,
    remotes: remotes.list,
    remotesMore: remotes.more,
    ports: ports.list,
    portsMore: ports.more,
    protos: firstDistinct(a.protos, b.protos, EVIDENCE_LIMITS.protos, false, false).list,
    targets: targets.list,
    targetsMore: targets.more,
    incidentIds,
  };
  const message = b.message ?? a.message;
  if (message !== undefined) out.message = message;
  const app = b.app ?? a.app;
  if (app !== undefined) out.app = app;
  const sev = [a.syslogSeverity, b.syslogSeverity].filter((s): s is number => s !== undefined);
  if (sev.length > 0) out.syslogSeverity = Math.min(...sev);
  return out;
}

/** Newer non-empty facts about a device win (a name may become known later). */
export function mergeDevice(a: AlertDevice, b: AlertDevice): AlertDevice {
  const out: AlertDevice = { ...a };
  if (b.ip) out.ip = b.ip;
  if (b.mac) out.mac = b.mac;
  if (b.name) out.name = b.name;
  if (b.vendor) out.vendor = b.vendor;
  return out;
}

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2 };

export function severityRank(s: Severity): number {
  return RANK[s];
}

export function maxSeverity(a: Severity, b: Severity): Severity {
  return RANK[b] > RANK[a] ? b : a;
}

/** Two observations of the same key as one. */
export function mergeObservations(a: Observation, b: Observation): Observation {
  return {
    key: a.key,
    kind: a.kind,
    category: a.category,
    severity: maxSeverity(a.severity, b.severity),
    firstSeen: Math.min(a.firstSeen, b.firstSeen),
    lastSeen: Math.max(a.lastSeen, b.lastSeen),
    count: a.count + b.count,
    device: mergeDevice(a.device, b.device),
    evidence: mergeEvidence(a.evidence, b.evidence),
  };
}
