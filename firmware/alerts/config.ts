/**
 * The correlation rules' knobs, parsed once with zod. The defaults are reasoned in README.md
 * ("Thresholds"); every field can be overridden from the device config.
 */
import { z } from "zod";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const Ms = z.number().int().min(1_000).max(90 * 24 * HOUR);
const Count = z.number().int().min(1).max(100_000);

export const AlertConfigSchema = z.object({
  /**
   * After a person resolves an alert, the same thing again within this time reopens that
   * alert (and notifies again when it is high); later, it opens a new alert.
   */
  dedupeWindowMs: Ms.default(24 * HOUR),
  /** LAN host hitting blocked outbound ports: `threshold` attempts within `windowMs` → medium. */
  outboundPort: z.object({
    threshold: Count.default(10),
    windowMs: Ms.default(10 * MINUTE),
    /** A worm-like burst: this many attempts within `escalateWindowMs` raises it to high. */
    escalateThreshold: Count.default(200),
    escalateWindowMs: Ms.default(MINUTE),
  }).prefault({}),
  /** Inbound attacks concentrated on one LAN host (an exposed device) → medium. */
  exposedHost: z.object({
    /** The pilot's threshold: 30 or more attacks a day, port scans not counted. */
    minAttempts: Count.default(30),
    /** …or this many different sources. */
    minSources: Count.default(10),
    windowMs: Ms.default(24 * HOUR),
  }).prefault({}),
  /**
   * Kinds whose alerts end by themselves: an alert quiet for this long is closed by the
   * system, and the next occurrence opens a new one (port scans: one alert per scanning
   * episode of a source, so the weekly summary can count episodes).
   */
  episodeGapMs: z.object({
    "port-scan": Ms.default(HOUR),
  }).prefault({}),
  /** Endpoint syslog at or below this severity (3 = err) → medium alert. */
  endpointMaxSyslogSeverity: z.number().int().min(0).max(7).default(3),
  /** Severities whose new / reopened / escalated alerts go to the outbox (e-mailed by the provider). */
  notifySeverities: z.array(z.enum(["high", "medium", "low"])).max(3).default(["high"]),
  /** Bounds on the engine's memory: tracked LAN hosts per threshold rule, alerts it remembers. */
  maxTrackedHosts: Count.default(4_096),
  maxRememberedAlerts: Count.default(5_000),
  /** Time zone of the texts' timestamps. */
  timeZone: z.string().min(1).max(64).default("Asia/Tokyo"),
});

export type AlertConfig = z.infer<typeof AlertConfigSchema>;
export type AlertConfigInput = z.input<typeof AlertConfigSchema>;

export type AlertConfigResult = { ok: true; value: AlertConfig } | { ok: false; error: string };

/** Parses alert settings (from the device config); a clear message path by path when bad. */
export function parseAlertConfig(input: unknown): AlertConfigResult {
  const r = AlertConfigSchema.safeParse(input ?? {});
  if (r.success) {
    const tz = r.data.timeZone;
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
    } catch {
      return { ok: false, error: `timeZone: unknown time zone ${JSON.stringify(tz)}` };
    }
    return { ok: true, value: r.data };
  }
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ") };
}

/** The defaults (README, "Thresholds"). */
export const DEFAULT_ALERT_CONFIG: AlertConfig = AlertConfigSchema.parse({});
