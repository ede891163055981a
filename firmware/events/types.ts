/**
 * Events, incidents and rollups: what the box knows about what it blocked. Shared by
 * firmware/events (producer and store), firmware/alerts, the CLI and the admin page.
 */
import type { Category, Severity } from "../ruleset/meta.ts";

export type { Category, Severity };

/** One classified log record (one logged packet or syslog line). */
export type BoxEvent = {
  time: number;
  category: Category;
  severity: Severity;
  /** The log id from the prefix ("c2-feed.out"), or "syslog" for endpoint messages. */
  logId: string;
  /** The policy / built-in rule it belongs to ("c2-feed"). */
  ruleId: string;
  direction: "inbound" | "outbound";
  action: "drop" | "ban" | "accept" | "log";
  /** The LAN-side host involved (the box itself counts as a LAN-side host). */
  lanIp?: string;
  lanMac?: string;
  /** The internet-side address involved. */
  remoteIp?: string;
  proto?: string;
  /** The port on the side being contacted (the service port). */
  port?: number;
  /** DNS events (later): the domain. */
  domain?: string;
  /** Endpoint (syslog) events: the message text, untrusted. */
  message?: string;
};

/**
 * Many events of one kind collapsed: a port scan of thousands of packets from one source is
 * one incident with a count, first and last seen, and the ports it touched.
 */
export type Incident = {
  id: string;
  /** What identifies "the same incident": rule + remote + LAN host (see the events README). */
  key: string;
  category: Category;
  severity: Severity;
  ruleId: string;
  logId: string;
  direction: "inbound" | "outbound";
  lanIp?: string;
  lanMac?: string;
  remoteIp?: string;
  proto?: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  /** Distinct ports touched (bounded: the first 64, plus `portCount` for the total). */
  ports: number[];
  portCount: number;
  domain?: string;
};
