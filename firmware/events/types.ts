/**
 * Events, incidents and rollups: what the box knows about what it blocked. Shared by
 * firmware/events (producer and store), firmware/alerts, the CLI and the admin page.
 */
import type { Category, Severity } from "../ruleset/meta.ts";

export type { Category, Severity };

/**
 * What kind of rule produced an event; it decides how events collapse into incidents
 * (firmware/events/README.md, "Incidents").
 * - `scan`: unsolicited inbound traffic: the port-scan detector, drops of banned sources,
 *   the default inbound drop, impossible TCP flags.
 * - `brute-force`: a login service hit too often from one source.
 * - `blocklist`: traffic to or from a blocklisted address (C&C, botnet, malware, phishing, ...).
 * - `outbound-port`: a LAN host using a risky outbound port (SMB, telnet, IRC, port 25, ...).
 * - `allowed`: an accepting rule (they count, they do not log; here for completeness).
 * - `endpoint`: a syslog message from a LAN device.
 * - `other`: a logged rule this version does not know how to group.
 */
export type EventKind = "scan" | "brute-force" | "blocklist" | "outbound-port" | "allowed" | "endpoint" | "other";

export type Direction = "inbound" | "outbound";
export type EventAction = "drop" | "ban" | "accept" | "log";

/** One classified log record (one logged packet or syslog line). */
export type BoxEvent = {
  /** When it happened (ms since epoch), as the record says. */
  time: number;
  category: Category;
  severity: Severity;
  kind: EventKind;
  /** The log id from the prefix ("c2-feed.out"), or "syslog" for endpoint messages. */
  logId: string;
  /** The policy / built-in rule it belongs to ("c2-feed"); for syslog, "syslog". */
  ruleId: string;
  /** Endpoint (syslog) events are "outbound": the LAN device reported something. */
  direction: Direction;
  action: EventAction;
  /** The LAN-side host involved (the box itself counts as a LAN-side host). */
  lanIp?: string;
  /** The LAN host's MAC, when the packet came from it (outbound in both modes). */
  lanMac?: string;
  /** The internet-side address involved. */
  remoteIp?: string;
  proto?: string;
  /** The port on the side being contacted (the service port): dport in both directions. */
  port?: number;
  /** DNS events (later): the domain. */
  domain?: string;
  /** Endpoint (syslog) events: the sender's app-name, untrusted, cleaned and bounded. */
  app?: string;
  /** Endpoint (syslog) events: the message text, untrusted, cleaned and bounded. */
  message?: string;
  /** The incident this event was counted in (set by the event writer). */
  incidentId?: number;
};

/** An event as read back from the store. */
export type StoredEvent = BoxEvent & { id: number };

/**
 * Many events of one kind collapsed: a port scan of thousands of packets from one source is
 * one incident with a count, first and last seen, and the ports it touched. Which events are
 * "the same incident" is decided by `key` (firmware/events/README.md, "Incidents").
 */
export type Incident = {
  /** Stable id: a sequence number, never reused (the store continues from its highest id). */
  id: number;
  /** What identifies "the same incident" (e.g. "scan|203.0.113.7", "c2-feed|192.0.2.10|198.51.100.9"). */
  key: string;
  kind: EventKind;
  category: Category;
  /** The highest severity of its events. */
  severity: Severity;
  /** The rule that best describes it: a `ban` (scan detected) wins over plain drops. */
  ruleId: string;
  logId: string;
  direction: Direction;
  action: EventAction;
  /** The LAN host (the first one, when the incident is keyed by the remote only). */
  lanIp?: string;
  lanMac?: string;
  /** The remote (the first one, when the incident is keyed by the LAN host only). */
  remoteIp?: string;
  proto?: string;
  domain?: string;
  /** Endpoint incidents: the syslog app-name. */
  app?: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  /** Distinct ports touched, ascending (bounded: the first 64 distinct seen; `portCount` is exact). */
  ports: number[];
  portCount: number;
  /** Distinct LAN hosts involved (bounded: the first 16; `lanHostCount` saturates at 4096). */
  lanHosts: string[];
  lanHostCount: number;
  /** Distinct remotes involved (bounded: the first 16; `remoteCount` saturates at 4096). */
  remotes: string[];
  remoteCount: number;
};

/** One hourly rollup row: how many events of one shape happened in one hour. */
export type RollupRow = {
  /** Start of the hour (ms since epoch, UTC). */
  hour: number;
  category: Category;
  severity: Severity;
  /** "" when the events had none, "*" for "many" (folded, see README "Rollups"). */
  lanIp: string;
  remoteIp: string;
  /** 0 when the events had none (ICMP, syslog), -1 for "many" (folded). */
  port: number;
  domain: string;
  count: number;
};
