/**
 * The planner: given the alert an identity key currently has (or none) and what the rules
 * observed, decide what happens. Pure; the engine runs it on its view of the alerts, and
 * the store runs it again on the stored row when that view was out of date.
 *
 * - no alert yet → open one;
 * - open / acknowledged → update it (count, last seen, evidence); if the severity rises,
 *   it is an escalation: back to open, and a notification when the new severity notifies;
 * - open, of a kind whose episodes end by themselves (port scans), quiet for longer than
 *   the episode gap → the old one is closed by the system and a new one opened;
 * - resolved by a person, and it happens again within the dedupe window (counted from the
 *   resolution) → reopen the same alert and notify again: the fix did not hold;
 * - resolved longer ago than the window, or closed by the system → open a new alert.
 */
import type { AlertConfig } from "./config.ts";
import { mergeDevice, mergeEvidence, severityRank } from "./evidence.ts";
import type { Alert, AlertChange, NotificationReason, Observation } from "./types.ts";

export type PlanContext = {
  /** Clock time of this planning (openedAt / updatedAt). */
  now: number;
  config: AlertConfig;
  newId: () => string;
};

function notifies(alert: Alert, config: AlertConfig): boolean {
  return config.notifySeverities.includes(alert.severity);
}

function open(obs: Observation, base: number, ctx: PlanContext): AlertChange {
  const alert: Alert = {
    id: ctx.newId(),
    key: obs.key,
    kind: obs.kind,
    category: obs.category,
    severity: obs.severity,
    state: "open",
    firstSeen: obs.firstSeen,
    lastSeen: obs.lastSeen,
    count: obs.count,
    openedAt: ctx.now,
    updatedAt: ctx.now,
    reopenCount: 0,
    version: base + 1,
    device: obs.device,
    evidence: obs.evidence,
  };
  return { type: "opened", alert, base, observation: obs, notification: notifies(alert, ctx.config) ? "opened" : undefined };
}

function absorb(cur: Alert, obs: Observation, now: number): Alert {
  return {
    ...cur,
    severity: severityRank(obs.severity) > severityRank(cur.severity) ? obs.severity : cur.severity,
    firstSeen: Math.min(cur.firstSeen, obs.firstSeen),
    lastSeen: Math.max(cur.lastSeen, obs.lastSeen),
    count: cur.count + obs.count,
    updatedAt: now,
    version: cur.version + 1,
    device: mergeDevice(cur.device, obs.device),
    evidence: mergeEvidence(cur.evidence, obs.evidence),
  };
}

function withoutResolution(a: Alert): Alert {
  const { resolvedAt: _r, resolvedBy: _b, acknowledgedAt: _a, ...rest } = a;
  return rest;
}

/**
 * The changes one observation causes to the alert `current` (the latest alert of the
 * observation's key, or undefined when the key has none).
 */
export function planObservation(current: Alert | undefined, obs: Observation, ctx: PlanContext): AlertChange[] {
  if (current === undefined) return [open(obs, 0, ctx)];
  const base = current.version;
  if (current.state !== "resolved") {
    const gap = (ctx.config.episodeGapMs as Partial<Record<string, number>>)[obs.kind];
    if (gap !== undefined && obs.firstSeen - current.lastSeen > gap) {
      const closed: Alert = {
        ...current, state: "resolved", resolvedAt: current.lastSeen + gap, resolvedBy: "system",
        updatedAt: ctx.now, version: base + 1,
      };
      return [
        { type: "closed", alert: closed, base, observation: obs, notification: undefined },
        open(obs, base + 1, ctx),
      ];
    }
    const next = absorb(current, obs, ctx.now);
    if (next.severity !== current.severity) {
      // An escalation needs a person again, even if someone had acknowledged the milder alert.
      const { acknowledgedAt: _a, ...escalated } = { ...next, state: "open" as const };
      return [{ type: "escalated", alert: escalated, base, observation: obs, notification: notifies(escalated, ctx.config) ? "escalated" : undefined }];
    }
    return [{ type: "updated", alert: next, base, observation: obs, notification: undefined }];
  }
  const resolvedAt = Math.max(current.resolvedAt ?? current.lastSeen, current.lastSeen);
  if (current.resolvedBy === "user" && obs.firstSeen - resolvedAt <= ctx.config.dedupeWindowMs) {
    const reopened: Alert = {
      ...withoutResolution(absorb(current, obs, ctx.now)),
      state: "open",
      reopenCount: current.reopenCount + 1,
    };
    const notification: NotificationReason | undefined = notifies(reopened, ctx.config) ? "reopened" : undefined;
    return [{ type: "reopened", alert: reopened, base, observation: obs, notification }];
  }
  return [open(obs, base, ctx)];
}

/** Plans observations in order against a mutable view (key → latest alert), updating it. */
export function planObservations(view: Map<string, Alert>, observations: readonly Observation[], ctx: PlanContext): AlertChange[] {
  const out: AlertChange[] = [];
  for (const obs of observations) {
    for (const change of planObservation(view.get(obs.key), obs, ctx)) {
      out.push(change);
      view.set(change.alert.key, change.alert);
    }
  }
  return out;
}
