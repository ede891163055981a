/**
 * Which correlation rule an event feeds, and the identity key of the alert it belongs to.
 * Pure. The event's kind (the classifier derives it from RuleMeta.path) says what kind of
 * rule logged the packet (README, "Rules").
 */
import type { BoxEvent, Incident } from "../events/types.ts";
import type { Category, RuleMeta, Severity } from "../ruleset/meta.ts";
import { cleanAddress, cleanText } from "./untrusted-text.ts";
import type { AlertKind } from "./types.ts";

/** The rule id of inventory's "a device we never saw" event (inventory's `newDeviceEvent`). */
export const NEW_DEVICE_RULE_ID = "new-device";
/** The admin page's lockout events (webui/routes/auth.ts): a LAN device guessing the box's admin password. */
export const ADMIN_LOGIN_RULE_ID = "admin-login";
/** The rule / log id the classifier gives endpoint syslog messages. */
export const SYSLOG_RULE_ID = "syslog";

/**
 * An event as the alert rules read it. `syslogSeverity` (0 emerg … 7 debug) is read when
 * the classifier passes it on; without it, an endpoint event the classifier rated medium or
 * high counts as "severity ≤ 3" (README, "Endpoint syslog").
 */
export type AlertInputEvent = BoxEvent & { syslogSeverity?: number };

/** Each kind's pilot category and base severity (DESIGN.md, "The five alert categories"). */
export const KIND_DEFINITIONS: Record<AlertKind, { category: Category; severity: Severity }> = {
  "c2-contact": { category: "c2", severity: "high" },
  "outbound-port": { category: "c2", severity: "medium" },
  "exposed-host": { category: "inbound", severity: "medium" },
  "brute-force": { category: "inbound", severity: "medium" },
  "port-scan": { category: "inbound", severity: "low" },
  "new-device": { category: "endpoint", severity: "low" },
  "endpoint-syslog": { category: "endpoint", severity: "medium" },
  // A LAN device, not the internet, is the one trying: the pilot's ⑤ (the endpoint) fits.
  "admin-login": { category: "endpoint", severity: "medium" },
};

/** What kind of rule logged an event, as far as the alert rules care. */
export type RuleRole =
  | "c2-blocklist"
  | "blocklist"
  | "outbound-block"
  | "brute-force"
  | "port-scan"
  | "inbound-drop"
  | "new-device"
  | "syslog"
  | "admin-login"
  | "allowed"
  | "other";

/**
 * The event's kind (set by the classifier from RuleMeta.path) says what logged it; within
 * "scan", the port-scan detector (its ban, and the drops of sources it banned) is told apart
 * from plain drops of unsolicited inbound traffic by the rule's path, or without the rule
 * (the policy changed since) by what the compiler gives it: action "ban", log id ".banned".
 */
export function ruleRole(e: Pick<BoxEvent, "kind" | "ruleId" | "logId" | "category" | "direction" | "action" | "domain">, rule: RuleMeta | undefined): RuleRole {
  if (e.ruleId === NEW_DEVICE_RULE_ID) return "new-device";
  if (e.ruleId === ADMIN_LOGIN_RULE_ID) return "admin-login";
  switch (e.kind) {
    case "endpoint":
      return "syslog";
    case "allowed":
      return "allowed";
    case "brute-force":
      return "brute-force";
    case "outbound-port":
      return "outbound-block";
    case "blocklist":
      return e.category === "c2" && e.direction === "outbound" ? "c2-blocklist" : "blocklist";
    case "scan": {
      const detector = rule !== undefined
        ? rule.path === "portScan"
        : e.action === "ban" || e.logId.endsWith(".banned");
      return detector ? "port-scan" : "inbound-drop";
    }
    case "other":
      // The DNS filter (a later issue) blocking a C&C domain for a LAN host.
      return e.category === "c2" && e.direction === "outbound" && e.domain !== undefined ? "c2-blocklist" : "other";
  }
}

/** One rule an event feeds: the alert kind and that alert's identity key. */
export type Signal = { kind: AlertKind; key: string };

/** The LAN host an event is about, as it appears in identity keys. */
export function hostSubject(e: { lanIp?: string; lanMac?: string }): string {
  if (e.lanIp) return cleanAddress(e.lanIp);
  if (e.lanMac) return cleanAddress(e.lanMac);
  return "unknown";
}

/** The internet side of an event: the remote address, or the domain for DNS events. */
export function remoteSubject(e: { remoteIp?: string; domain?: string }): string | undefined {
  if (e.remoteIp) return cleanAddress(e.remoteIp);
  if (e.domain) return cleanText(e.domain, 253).toLowerCase();
  return undefined;
}

/** "<kind>|<subject>[|<rule>]": see README, "Identity". */
export function identityKey(kind: AlertKind, ...parts: string[]): string {
  return [kind, ...parts.map((p) => cleanText(p, 64).replace(/\|/g, "/"))].join("|");
}

function syslogSeverityOk(e: AlertInputEvent, max: number): boolean {
  if (typeof e.syslogSeverity === "number" && Number.isInteger(e.syslogSeverity)) return e.syslogSeverity >= 0 && e.syslogSeverity <= max;
  return e.severity !== "low";
}

/**
 * The rules an event feeds. C&C contacts, brute force, scans, new devices and endpoint
 * errors raise an alert on the first event; outbound-port and exposed-host signals are
 * counted by the engine against their thresholds first.
 */
export function classifyEvent(
  e: AlertInputEvent,
  rule: RuleMeta | undefined,
  maxSyslogSeverity: number,
  isScanner: (remote: string) => boolean = () => false,
): Signal[] {
  if (e.action === "accept") return [];
  switch (ruleRole(e, rule)) {
    case "new-device":
      return [{ kind: "new-device", key: identityKey("new-device", e.lanMac ? cleanAddress(e.lanMac) : hostSubject(e)) }];
    case "admin-login":
      return [{ kind: "admin-login", key: identityKey("admin-login", hostSubject(e)) }];
    case "syslog":
      return syslogSeverityOk(e, maxSyslogSeverity) ? [{ kind: "endpoint-syslog", key: identityKey("endpoint-syslog", hostSubject(e)) }] : [];
    case "c2-blocklist":
      return [{ kind: "c2-contact", key: identityKey("c2-contact", hostSubject(e)) }];
    case "outbound-block":
      return e.direction === "outbound" ? [{ kind: "outbound-port", key: identityKey("outbound-port", hostSubject(e)) }] : [];
    case "port-scan":
      // Scans are counted apart: the pilot left them out of "attacks" (README, "Rules").
      return [{ kind: "port-scan", key: identityKey("port-scan", remoteSubject(e) ?? "unknown") }];
    case "brute-force":
      return [
        { kind: "brute-force", key: identityKey("brute-force", hostSubject(e), e.ruleId) },
        ...exposure(e),
      ];
    case "inbound-drop": {
      // A scanner's probes that arrived before (or without) the detector's ban are part of
      // its scan, not an attack on the host.
      const remote = remoteSubject(e);
      if (remote !== undefined && isScanner(remote)) return [{ kind: "port-scan", key: identityKey("port-scan", remote) }];
      return exposure(e);
    }
    case "blocklist":
      return exposure(e);
    case "allowed":
    case "other":
      return [];
  }
}

/** Inbound traffic dropped on its way to one LAN host counts towards "exposed host". */
function exposure(e: AlertInputEvent): Signal[] {
  return e.direction === "inbound" && e.lanIp ? [{ kind: "exposed-host", key: identityKey("exposed-host", hostSubject(e)) }] : [];
}

/** An incident read as an event, so it maps to the same identity keys (for linking). */
export function incidentAsEvent(i: Incident): AlertInputEvent {
  const e: AlertInputEvent = {
    time: i.lastSeen, category: i.category, severity: i.severity, kind: i.kind, logId: i.logId, ruleId: i.ruleId,
    direction: i.direction, action: i.action,
  };
  if (i.lanIp !== undefined) e.lanIp = i.lanIp;
  if (i.lanMac !== undefined) e.lanMac = i.lanMac;
  if (i.remoteIp !== undefined) e.remoteIp = i.remoteIp;
  if (i.proto !== undefined) e.proto = i.proto;
  if (i.domain !== undefined) e.domain = i.domain;
  return e;
}
