/**
 * Alerts: what the box tells a person. An alert is the answer to "is there something I
 * should do?", built by correlation rules from the classified events (firmware/events) and
 * kept with a stable identity, so a PC that calls a C&C server 500 times is one alert with
 * a count of 500, not 500 e-mails. See README.md in this folder for the rules and why.
 */
import type { Category, Severity } from "../ruleset/meta.ts";

export type { Category, Severity };

/** The correlation rules, one per kind of alert. */
export type AlertKind =
  | "c2-contact"
  | "outbound-port"
  | "exposed-host"
  | "brute-force"
  | "port-scan"
  | "new-device"
  | "endpoint-syslog"
  | "admin-login";

export const ALERT_KINDS: readonly AlertKind[] = [
  "c2-contact", "outbound-port", "exposed-host", "brute-force", "port-scan", "new-device", "endpoint-syslog", "admin-login",
];

/** open → acknowledged → resolved; resolved → open again when the problem recurs (README). */
export type AlertState = "open" | "acknowledged" | "resolved";

export const ALERT_STATES: readonly AlertState[] = ["open", "acknowledged", "resolved"];
export const SEVERITIES: readonly Severity[] = ["high", "medium", "low"];

/** The LAN device an alert is about. Every string is cleaned untrusted text (untrusted-text.ts). */
export type AlertDevice = {
  ip?: string;
  mac?: string;
  /** DHCP hostname or a name a user gave it: untrusted, cleaned, at most 64 characters. */
  name?: string;
  /** MAC vendor (OUI table). */
  vendor?: string;
};

/** What the inventory knows about a LAN device; injected into the engine. */
export type DeviceLookup = (query: { ip?: string; mac?: string }) => { name?: string; vendor?: string; mac?: string; ip?: string } | undefined;

/** The policy rule behind an alert, as it was when the alert saw it (policies change later). */
export type AlertRuleRef = {
  /** Policy / built-in rule id ("c2-feed"). */
  id: string;
  /** Log id ("c2-feed.out"). */
  logId: string;
  /** The rule's title (RuleMeta); empty strings when the rule is not in the current policy. */
  title: { ja: string; en: string };
};

/**
 * Why the box thinks so. Lists are bounded (the first N distinct values, and a flag when
 * more were seen) so a scan of 65,535 ports cannot grow a row without limit.
 */
export type AlertEvidence = {
  rules: AlertRuleRef[];
  /** Internet-side addresses (or, for DNS events, domains) involved. */
  remotes: string[];
  remotesMore: boolean;
  ports: number[];
  portsMore: boolean;
  protos: string[];
  /** LAN hosts touched (port scans: the hosts the scanner probed). */
  targets: string[];
  targetsMore: boolean;
  /** The most recent incidents (firmware/events) that fed this alert. */
  incidentIds: number[];
  /** Endpoint syslog: the latest message, cleaned, at most 200 characters. */
  message?: string;
  /** Endpoint syslog: the sender's app-name, cleaned, at most 48 characters. */
  app?: string;
  /** Endpoint syslog: the lowest (most severe) syslog severity seen, 0 (emerg) … 7. */
  syslogSeverity?: number;
};

export type Alert = {
  id: string;
  /** The identity: "<kind>|<subject>" (README, "Identity"). At most one alert per key is not resolved. */
  key: string;
  kind: AlertKind;
  category: Category;
  severity: Severity;
  state: AlertState;
  /** Event times (ms since epoch): the first and last event counted in this alert. */
  firstSeen: number;
  lastSeen: number;
  /** Events counted. */
  count: number;
  /** Clock times (ms since epoch). */
  openedAt: number;
  updatedAt: number;
  acknowledgedAt?: number;
  resolvedAt?: number;
  /** "user": someone resolved it; "system": the episode ended by itself (low alerts). */
  resolvedBy?: "user" | "system";
  reopenCount: number;
  /**
   * The version of the alert's identity key when this alert was last written. Every write to
   * any alert of a key bumps it; a planned change is written only if the key is still at the
   * version it was planned against (optimistic concurrency; README, "Storage").
   */
  version: number;
  device: AlertDevice;
  evidence: AlertEvidence;
};

/**
 * What the correlation rules saw in one batch for one identity key: a delta (count, times,
 * evidence), merged into the alert by the planner.
 */
export type Observation = {
  key: string;
  kind: AlertKind;
  category: Category;
  /** The severity this evidence calls for; an alert's severity only ever rises. */
  severity: Severity;
  firstSeen: number;
  lastSeen: number;
  count: number;
  device: AlertDevice;
  evidence: AlertEvidence;
};

/** Why an outbox row (a notification to deliver to the provider) was written. */
export type NotificationReason = "opened" | "reopened" | "escalated";

/** One planned write of one alert, with the notification it calls for. */
export type AlertChange = {
  type: "opened" | "updated" | "reopened" | "escalated" | "closed" | "acknowledged" | "resolved";
  /** The alert after the change. */
  alert: Alert;
  /** The identity key's version this change was planned against (0: no alert for the key yet). */
  base: number;
  /** The evidence that caused it, so the store can re-plan when the key moved on meanwhile. */
  observation: Observation | undefined;
  /** Set when the change must reach a person now (an outbox row is written with it). */
  notification: NotificationReason | undefined;
};
