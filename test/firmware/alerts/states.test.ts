import { describe, expect, it } from "vitest";
import { canTransition, transitionAlert, type AlertAction } from "../../../firmware/alerts/states.ts";
import { ALERT_STATES, type Alert, type AlertState } from "../../../firmware/alerts/types.ts";
import { emptyEvidence } from "../../../firmware/alerts/evidence.ts";
import { T0 } from "./fixtures.ts";

function alertIn(state: AlertState): Alert {
  const a: Alert = {
    id: "a1", key: "c2-contact|192.0.2.10", kind: "c2-contact", category: "c2", severity: "high", state,
    firstSeen: T0, lastSeen: T0, count: 3, openedAt: T0, updatedAt: T0, reopenCount: 0, version: 4,
    device: { ip: "192.0.2.10" }, evidence: emptyEvidence(),
  };
  if (state === "acknowledged") a.acknowledgedAt = T0;
  if (state === "resolved") {
    a.resolvedAt = T0;
    a.resolvedBy = "user";
  }
  return a;
}

const ACTIONS: AlertAction[] = ["acknowledge", "resolve", "reopen"];
const VALID: Record<AlertState, Partial<Record<AlertAction, AlertState>>> = {
  open: { acknowledge: "acknowledged", resolve: "resolved" },
  acknowledged: { resolve: "resolved" },
  resolved: { reopen: "open" },
};

describe("alert state transitions", () => {
  for (const from of ALERT_STATES) {
    for (const action of ACTIONS) {
      const to = VALID[from][action];
      if (to !== undefined) {
        it(`${from} --${action}--> ${to}`, () => {
          expect(canTransition(from, action)).toBe(true);
          const r = transitionAlert(alertIn(from), action, T0 + 5);
          if (!r.ok) throw new Error(r.error.message);
          expect(r.alert.state).toBe(to);
          expect(r.alert.version).toBe(5);
          expect(r.alert.updatedAt).toBe(T0 + 5);
          if (to === "acknowledged") expect(r.alert.acknowledgedAt).toBe(T0 + 5);
          if (to === "resolved") expect(r.alert).toMatchObject({ resolvedAt: T0 + 5, resolvedBy: "user" });
          if (to === "open") {
            expect(r.alert.resolvedAt).toBeUndefined();
            expect(r.alert.reopenCount).toBe(1);
          }
        });
      } else {
        it(`${from} --${action}--> refused with a typed error`, () => {
          expect(canTransition(from, action)).toBe(false);
          const before = alertIn(from);
          const r = transitionAlert(before, action, T0 + 5);
          expect(r).toEqual({
            ok: false,
            error: { code: "invalid-transition", from, action, message: expect.stringContaining(from) },
          });
          expect(before.state).toBe(from); // untouched
        });
      }
    }
  }
});
