/**
 * An alert as an RFC 5424 syslog message for the provider's collector: plain fields, the
 * shape of firmware/logs' `SyslogMessage`, so the composition root hands them to
 * `formatSyslog5424` and the sender. Pure.
 *
 * Severity: high → 2 (crit), medium → 4 (warning), low → 5 (notice). Facility 4
 * (security/authorization). APP-NAME "sekisho", MSGID "ALERT". Structured data under the
 * SD-ID "sekisho@32473" (32473 is the private enterprise number RFC 5612 reserves for
 * documentation: replace it with the project's own PEN once it has one); the MSG is the
 * alert's title in the chosen language.
 */
import { renderAlertText, type Lang } from "./texts.ts";
import type { Alert, Severity } from "./types.ts";

export const ALERT_SYSLOG_APP_NAME = "sekisho";
export const ALERT_SYSLOG_MSGID = "ALERT";
export const ALERT_SYSLOG_SD_ID = "sekisho@32473";
/** security/authorization messages (RFC 5424, Table 1). */
export const ALERT_SYSLOG_FACILITY = 4;

const SYSLOG_SEVERITY: Record<Severity, 2 | 4 | 5> = { high: 2, medium: 4, low: 5 };

/** The fields of one syslog message (firmware/logs' SyslogMessage without host and procid). */
export type AlertSyslogFields = {
  facility: number;
  severity: 2 | 4 | 5;
  timestamp: number;
  appName: string;
  msgId: string;
  structuredData: Record<string, Record<string, string>>;
  message: string;
};

export type AlertSyslogOptions = { lang?: Lang; timeZone?: string };

/** The syslog message that reports an alert (its current state) to a collector. */
export function alertToSyslog(alert: Alert, options: AlertSyslogOptions = {}): AlertSyslogFields {
  const text = renderAlertText(alert, options.lang ?? "en", options.timeZone === undefined ? {} : { timeZone: options.timeZone });
  const params: Record<string, string> = {
    id: alert.id,
    kind: alert.kind,
    category: alert.category,
    severity: alert.severity,
    state: alert.state,
    count: String(alert.count),
    firstSeen: new Date(alert.firstSeen).toISOString(),
    lastSeen: new Date(alert.lastSeen).toISOString(),
  };
  // Device and evidence values were cleaned when the alert was built; the formatter escapes
  // what RFC 5424 requires (", \, ]) and bounds each value.
  if (alert.device.ip) params.ip = alert.device.ip;
  if (alert.device.mac) params.mac = alert.device.mac;
  if (alert.device.name) params.name = alert.device.name;
  const rule = alert.evidence.rules[0];
  if (rule) params.rule = rule.logId;
  const remote = alert.evidence.remotes[0];
  if (remote) params.remote = remote;
  if (alert.evidence.ports.length > 0) params.port = String(alert.evidence.ports[0]);
  return {
    facility: ALERT_SYSLOG_FACILITY,
    severity: SYSLOG_SEVERITY[alert.severity],
    timestamp: alert.updatedAt,
    appName: ALERT_SYSLOG_APP_NAME,
    msgId: ALERT_SYSLOG_MSGID,
    structuredData: { [ALERT_SYSLOG_SD_ID]: params },
    message: text.title,
  };
}
