/**
 * Alert texts: every alert in Japanese and English, in the three parts an office worker
 * needs (何が起きたか / どのくらい危険か / 何をすればよいか), plus the device and the
 * evidence as labelled rows. The words live in one catalogue per language (texts/ja.ts,
 * texts/en.ts); this file only fills them in. Output is plain text: escaping for HTML or
 * e-mail is the renderer's job. Every value from the network was cleaned when the alert
 * was built (no control characters, bounded), and is cleaned again here, so a stored row
 * cannot smuggle one in either.
 */
import type { Category } from "../ruleset/meta.ts";
import { EN } from "./texts/en.ts";
import { JA } from "./texts/ja.ts";
import { cleanText } from "./untrusted-text.ts";
import type { Alert, AlertKind, AlertState, Severity } from "./types.ts";

export type Lang = "ja" | "en";
export const LANGS: readonly Lang[] = ["ja", "en"];

/** Everything a sentence may use, already formatted; "" means "not known" (sentences leave it out). */
export type TextParams = {
  severity: Severity;
  /** "「TARO-PC」（192.0.2.10）" / "the device at 192.0.2.10". */
  device: string;
  count: string;
  firstSeen: string;
  lastSeen: string;
  /** The first internet-side address (or domain). */
  remote: string;
  /** All of them, as a list ("…ほか" when there were more). */
  remotes: string;
  /** How many different internet-side sources, as the catalogue phrases it ("12か所" / "12 sources"); "" when none is known. */
  sources: string;
  ports: string;
  /** LAN hosts a scanner probed. */
  targets: string;
  /** The policy rule's title (or its id when the policy no longer has it). */
  ruleTitle: string;
  vendor: string;
  message: string;
  app: string;
};

/** The four sentences of one kind of alert. */
export type KindTexts = {
  title: (p: TextParams) => string;
  what: (p: TextParams) => string;
  danger: (p: TextParams) => string;
  action: (p: TextParams) => string;
};

/** One language's words. */
export type Catalogue = {
  lang: Lang;
  kinds: Record<AlertKind, KindTexts>;
  sections: { what: string; danger: string; action: string; device: string; evidence: string };
  labels: {
    name: string; ip: string; mac: string; vendor: string;
    severity: string; state: string; category: string;
    firstSeen: string; lastSeen: string; count: string; remotes: string; ports: string; targets: string;
    rules: string; message: string; app: string; incidents: string; reopened: string;
  };
  severity: Record<Severity, string>;
  state: Record<AlertState, string>;
  category: Record<Category, string>;
  /** The device as sentences name it. */
  deviceLabel: (d: { name: string; ip: string; mac: string }) => string;
  list: (items: readonly string[], more: boolean) => string;
  sources: (n: number, more: boolean) => string;
  number: (n: number) => string;
  /** A point in time, in the box's time zone. */
  time: (ms: number, timeZone: string) => string;
  /** How a rule appears in the evidence: id and title. */
  rule: (id: string, title: string) => string;
  /** Plain-text layout: a section heading, a labelled row, the summary line. */
  heading: (section: string) => string;
  row: (label: string, value: string) => string;
  summary: (severity: string, state: string, category: string) => string;
};

export const CATALOGUES: Record<Lang, Catalogue> = { ja: JA, en: EN };

/** A labelled value of the device or evidence section. */
export type TextRow = { label: string; value: string };

export type AlertText = {
  lang: Lang;
  title: string;
  /** 何が起きたか / What happened. */
  what: string;
  /** どのくらい危険か / How serious. */
  danger: string;
  /** 何をすればよいか / What to do. */
  action: string;
  severity: string;
  state: string;
  category: string;
  device: TextRow[];
  evidence: TextRow[];
};

export type RenderOptions = { timeZone?: string };

/** Formatters per time zone, built once: constructing one costs far more than formatting. */
const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Calendar fields of a time in a time zone (web-standard Intl, same on Deno and Node). */
export function zonedParts(ms: number, timeZone: string): { y: string; mo: string; d: string; h: string; mi: string; s: string } {
  let f = zoneFormats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    zoneFormats.set(timeZone, f);
  }
  const parts = f.formatToParts(new Date(ms));
  const get = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? "00";
  return { y: get("year"), mo: get("month"), d: get("day"), h: get("hour"), mi: get("minute"), s: get("second") };
}

// Values are cleaned once more on the way out: a row written by an older version (or by
// hand) must not carry a control character into an e-mail either.
const c = (s: string | undefined, max = 200): string => (s === undefined ? "" : cleanText(s, max));

/** The parameters of an alert's sentences in one language. */
export function buildTextParams(alert: Alert, cat: Catalogue, timeZone: string): TextParams {
  const ev = alert.evidence;
  const d = alert.device;
  const remotes = ev.remotes.map((r) => c(r, 253)).filter((r) => r !== "");
  const firstRule = ev.rules[0];
  // Sentences add their own full stop: a title's own one would double it.
  const ruleTitle = firstRule ? (c(firstRule.title[cat.lang], 160) || c(firstRule.id, 64)).replace(/[。．.]+$/u, "") : "";
  return {
    severity: alert.severity,
    device: cat.deviceLabel({ name: c(d.name, 64), ip: c(d.ip, 45), mac: c(d.mac, 45) }),
    count: cat.number(alert.count),
    firstSeen: cat.time(alert.firstSeen, timeZone),
    lastSeen: cat.time(alert.lastSeen, timeZone),
    remote: remotes[0] ?? "",
    remotes: remotes.length > 0 ? cat.list(remotes, ev.remotesMore) : "",
    sources: cat.sources(remotes.length, ev.remotesMore),
    ports: ev.ports.length > 0 ? cat.list(ev.ports.map(String), ev.portsMore) : "",
    targets: ev.targets.length > 0 ? cat.list(ev.targets.map((t) => c(t, 45)), ev.targetsMore) : "",
    ruleTitle,
    vendor: c(d.vendor, 64),
    message: c(ev.message, 200),
    app: c(ev.app, 48),
  };
}

/** An alert's text in one language. */
export function renderAlertText(alert: Alert, lang: Lang, options: RenderOptions = {}): AlertText {
  const cat = CATALOGUES[lang];
  const timeZone = options.timeZone ?? "Asia/Tokyo";
  const p = buildTextParams(alert, cat, timeZone);
  const k = cat.kinds[alert.kind];
  const device: TextRow[] = [];
  const push = (rows: TextRow[], label: string, value: string): void => {
    if (value !== "") rows.push({ label, value });
  };
  push(device, cat.labels.name, c(alert.device.name, 64));
  push(device, cat.labels.ip, c(alert.device.ip, 45));
  push(device, cat.labels.mac, c(alert.device.mac, 45));
  push(device, cat.labels.vendor, c(alert.device.vendor, 64));
  const evidence: TextRow[] = [];
  push(evidence, cat.labels.firstSeen, p.firstSeen);
  push(evidence, cat.labels.lastSeen, p.lastSeen);
  push(evidence, cat.labels.count, p.count);
  push(evidence, cat.labels.remotes, p.remotes);
  push(evidence, cat.labels.ports, p.ports);
  push(evidence, cat.labels.targets, p.targets);
  push(evidence, cat.labels.rules, cat.list(alert.evidence.rules.map((r) => cat.rule(c(r.id, 64), c(r.title[lang], 160))), false));
  push(evidence, cat.labels.app, p.app);
  push(evidence, cat.labels.message, p.message);
  if (alert.reopenCount > 0) push(evidence, cat.labels.reopened, cat.number(alert.reopenCount));
  push(evidence, cat.labels.incidents, alert.evidence.incidentIds.length > 0 ? cat.list(alert.evidence.incidentIds.map(String), false) : "");
  return {
    lang,
    title: k.title(p),
    what: k.what(p),
    danger: k.danger(p),
    action: k.action(p),
    severity: cat.severity[alert.severity],
    state: cat.state[alert.state],
    category: cat.category[alert.category],
    device,
    evidence,
  };
}

/** The text as one plain-text block (e-mail body, CLI), with the catalogue's headings. */
export function formatAlertPlainText(text: AlertText): string {
  const cat = CATALOGUES[text.lang];
  const rows = (rs: TextRow[]): string => rs.map((r) => cat.row(r.label, r.value)).join("\n");
  return [
    text.title,
    cat.summary(text.severity, text.state, text.category),
    "",
    cat.heading(cat.sections.what), text.what, "",
    cat.heading(cat.sections.danger), text.danger, "",
    cat.heading(cat.sections.action), text.action, "",
    cat.heading(cat.sections.device), rows(text.device), "",
    cat.heading(cat.sections.evidence), rows(text.evidence),
  ].join("\n");
}
