/**
 * What a person can do with an alert: acknowledge it ("we know, we are on it") and resolve
 * it ("fixed"). Reopening is the system's move (the problem came back; plan.ts). Pure.
 *
 *   open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
 *     └──────────────resolve───────────────────────▲      │
 *     ▲──────────────── reopen (recurrence) ──────────────┘
 */
import type { Alert, AlertState } from "./types.ts";

export type AlertAction = "acknowledge" | "resolve" | "reopen";

export type TransitionError = {
  code: "invalid-transition";
  from: AlertState;
  action: AlertAction;
  message: string;
};

export type TransitionResult = { ok: true; alert: Alert } | { ok: false; error: TransitionError };

const ALLOWED: Record<AlertAction, readonly AlertState[]> = {
  acknowledge: ["open"],
  resolve: ["open", "acknowledged"],
  reopen: ["resolved"],
};

/** Whether `action` is allowed from `state`. */
export function canTransition(state: AlertState, action: AlertAction): boolean {
  return ALLOWED[action].includes(state);
}

/**
 * Applies a person's (or the system's) action to an alert: the alert after it, with its
 * version bumped, or why not (acknowledging a resolved alert, resolving twice, …).
 */
export function transitionAlert(alert: Alert, action: AlertAction, now: number): TransitionResult {
  if (!canTransition(alert.state, action)) {
    return {
      ok: false,
      error: {
        code: "invalid-transition", from: alert.state, action,
        message: `cannot ${action} an alert that is ${alert.state}`,
      },
    };
  }
  const version = alert.version + 1;
  switch (action) {
    case "acknowledge":
      return { ok: true, alert: { ...alert, state: "acknowledged", acknowledgedAt: now, updatedAt: now, version } };
    case "resolve":
      return { ok: true, alert: { ...alert, state: "resolved", resolvedAt: now, resolvedBy: "user", updatedAt: now, version } };
    case "reopen": {
      const { resolvedAt: _r, resolvedBy: _b, acknowledgedAt: _a, ...rest } = alert;
      return { ok: true, alert: { ...rest, state: "open", reopenCount: alert.reopenCount + 1, updatedAt: now, version } };
    }
  }
}
