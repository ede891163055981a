import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AlertConfigSchema } from "../../../firmware/alerts/config.ts";
import { AlertEngine } from "../../../firmware/alerts/engine.ts";
import { emptyEvidence } from "../../../firmware/alerts/evidence.ts";
import { alertToSyslog } from "../../../firmware/alerts/syslog.ts";
import { CATALOGUES, formatAlertPlainText, LANGS, renderAlertText, type AlertText, type Lang } from "../../../firmware/alerts/texts.ts";
import { ALERT_KINDS, type Alert, type AlertKind, type DeviceLookup } from "../../../firmware/alerts/types.ts";
import { cleanText, hasControlCharacters } from "../../../firmware/alerts/untrusted-text.ts";
import type { BoxEvent } from "../../../firmware/events/types.ts";
import { parseSyslog } from "../../../firmware/logs/syslog.ts";
import { formatSyslog5424, type SyslogMessage } from "../../../firmware/logs/syslog-sender.ts";
import {
  adminLockout, bruteSsh, c2, inbound, lookupRule, manualClock, newDevice, outSmb, scanBan, scanBanned, sequentialIds, syslogFrom, T0,
} from "./fixtures.ts";

/** Events that make one alert of a kind (thresholds lowered so a few events cross them). */
const EVENTS: Record<AlertKind, BoxEvent[]> = {
  "c2-contact": [c2(T0), c2(T0 + 1_000, "192.0.2.10", "203.0.113.97")],
  "outbound-port": [outSmb(T0), outSmb(T0 + 1)],
  "exposed-host": [inbound(T0, "198.51.100.5"), inbound(T0 + 1, "198.51.100.6", "192.0.2.30", 23)],
  "brute-force": [bruteSsh(T0, "198.51.100.1")],
  "port-scan": [scanBan(T0, "203.0.113.7"), scanBanned(T0 + 1, "203.0.113.7", "192.0.2.41", 3389)],
  "new-device": [newDevice(T0, "02:00:5e:00:53:77", "192.0.2.77")],
  "endpoint-syslog": [syslogFrom(T0, "192.0.2.60", 2, "RAID degraded: disk 2 failed", "raidmon")],
  "admin-login": [adminLockout(T0), adminLockout(T0 + 60_000)],
};

function alertsOf(kind: AlertKind, lookupDevice?: DeviceLookup, extra: Partial<Record<string, unknown>> = {}): Alert[] {
  const engine = new AlertEngine({
    clock: manualClock().now, lookupRule, newId: sequentialIds(),
    config: AlertConfigSchema.parse({ outboundPort: { threshold: 2, escalateThreshold: 2 }, exposedHost: { minAttempts: 2 }, ...extra }),
    ...(lookupDevice ? { lookupDevice } : {}),
  });
  return engine.process(EVENTS[kind]).map((c) => c.alert).filter((a) => a.kind === kind);
}

const named: DeviceLookup = () => ({ name: "KEIRI-PC", vendor: "Example Corp" });

/** Every string in a rendered text. */
function strings(t: AlertText): string[] {
  return [t.title, t.what, t.danger, t.action, t.severity, t.state, t.category, ...t.device.flatMap((r) => [r.label, r.value]), ...t.evidence.flatMap((r) => [r.label, r.value])];
}

const LEFTOVER = /undefined|null|NaN|\[object|[{}]|\$\{/;

/** A bare alert: nothing known about the device, no evidence at all. */
function bare(kind: AlertKind): Alert {
  return {
    id: "bare", key: `${kind}|unknown`, kind, category: "inbound", severity: kind === "c2-contact" ? "high" : "low", state: "open",
    firstSeen: T0, lastSeen: T0, count: 1, openedAt: T0, updatedAt: T0, reopenCount: 0, version: 1, device: {}, evidence: emptyEvidence(),
  };
}

describe("alert texts", () => {
  for (const kind of ALERT_KINDS) {
    for (const lang of LANGS) {
      it(`${kind} (${lang}): three parts, device and evidence, every parameter filled`, () => {
        const variants = [...alertsOf(kind, named), ...alertsOf(kind), bare(kind)];
        expect(variants.length).toBeGreaterThanOrEqual(3);
        for (const a of variants) {
          const t = renderAlertText(a, lang);
          for (const part of [t.title, t.what, t.danger, t.action]) {
            expect(part.length).toBeGreaterThan(10);
            expect(part).not.toMatch(LEFTOVER);
          }
          for (const s of strings(t)) {
            expect(s).not.toMatch(LEFTOVER);
            expect(hasControlCharacters(s)).toBe(false);
          }
          if (a.id === "bare") continue;
          const all = strings(t).join("\n");
          // The facts are in there: device address, count, first/last seen, rule.
          expect(all).toContain(a.device.ip ?? a.device.mac!);
          expect(t.what).toContain(String(a.count));
          expect(t.evidence.map((r) => r.label)).toEqual(expect.arrayContaining([
            CATALOGUES[lang].labels.firstSeen, CATALOGUES[lang].labels.lastSeen, CATALOGUES[lang].labels.count, CATALOGUES[lang].labels.rules,
          ]));
          expect(all).toContain(a.evidence.rules[0]!.id);
          // A scan names its source and targets; the probed device is in the device rows.
          if (a.device.name && kind !== "port-scan") expect(t.title + t.what).toContain(a.device.name);
          if (a.evidence.remotes[0] && kind !== "new-device") expect(all).toContain(a.evidence.remotes[0]);
          if (lang === "ja") expect(t.action).toMatch(/[ぁ-んァ-ヶ一-龯]/);
          else expect(t.action).toMatch(/^[\x20-\x7e]+$/);
        }
      });
    }
  }

  it("the C&C advice is the concrete one: unplug, full scan, call the provider", () => {
    const a = alertsOf("c2-contact")[0]!;
    const ja = renderAlertText(a, "ja");
    expect(ja.action).toContain("LANケーブル・Wi-Fiから外し");
    expect(ja.action).toContain("フルスキャン");
    expect(ja.action).toContain("提供事業者に連絡");
    expect(ja.danger).toContain("高");
    const en = renderAlertText(a, "en");
    expect(en.action).toMatch(/Unplug.*full scan.*Contact your provider/s);
  });

  it("an escalated outbound-port alert speaks as a high one", () => {
    const a = alertsOf("outbound-port")[0]!;
    expect(a.severity).toBe("high"); // escalateThreshold 2 in this fixture
    expect(renderAlertText(a, "ja").danger).toContain("危険度：高");
    expect(renderAlertText({ ...a, severity: "medium" }, "ja").danger).toContain("危険度：中");
  });

  it("times are in the box's time zone", () => {
    const a = alertsOf("c2-contact")[0]!;
    const ja = renderAlertText(a, "ja");
    expect(ja.evidence.find((r) => r.label === "最初の検知")!.value).toBe("2026年11月23日 14:00:00");
    const utc = renderAlertText(a, "en", { timeZone: "UTC" });
    expect(utc.evidence.find((r) => r.label === "First seen")!.value).toBe("2026-11-23 05:00:00 (UTC)");
  });

  it("formats a plain-text block with the three headings", () => {
    const text = formatAlertPlainText(renderAlertText(alertsOf("c2-contact", named)[0]!, "ja"));
    const iWhat = text.indexOf("■ 何が起きたか");
    const iDanger = text.indexOf("■ どのくらい危険か");
    const iAction = text.indexOf("■ 何をすればよいか");
    expect(iWhat).toBeGreaterThan(0);
    expect(iDanger).toBeGreaterThan(iWhat);
    expect(iAction).toBeGreaterThan(iDanger);
    expect(text).toContain("MACアドレス：02:00:5e:00:53:10");
  });
});

describe("hostile device names and messages", () => {
  const HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "TARO\u0000\u001b[31m-PC\r\nBcc: evil@example.com\u0007",
    "\u202Etxt.exe\u2066 \u200Binvisible\uFEFF",
    "half \uD800 surrogate \uDFFF",
    "A".repeat(10_240),
    "\u0085\u2028\u2029\t\n".repeat(2_000) + "tail",
  ];

  for (const name of HOSTILE) {
    it(`comes out bounded and clean: ${JSON.stringify(name.slice(0, 30))}${name.length > 30 ? "…" : ""}`, () => {
      const lookup: DeviceLookup = () => ({ name, vendor: name });
      for (const kind of ["c2-contact", "new-device", "endpoint-syslog"] as const) {
        const events = kind === "endpoint-syslog" ? [syslogFrom(T0, "192.0.2.60", 1, name, "app")] : EVENTS[kind];
        const engine = new AlertEngine({ clock: manualClock().now, lookupRule, lookupDevice: lookup, newId: sequentialIds() });
        const a = engine.process(events)[0]!.alert;
        expect(Array.from(a.device.name ?? "").length).toBeLessThanOrEqual(64);
        expect(Array.from(a.evidence.message ?? "").length).toBeLessThanOrEqual(200);
        expect(hasControlCharacters(JSON.stringify(a.device) + (a.evidence.message ?? ""))).toBe(false);
        for (const lang of LANGS) {
          const t = renderAlertText(a, lang);
          for (const s of strings(t)) {
            expect(hasControlCharacters(s)).toBe(false);
            expect(s.length).toBeLessThan(2_000);
          }
          expect(t.title.length).toBeLessThan(300);
          const block = formatAlertPlainText(t);
          // Only the layout's own line breaks: a name cannot start a new line ("Bcc: …").
          expect(block.split("\n").some((l) => l.startsWith("Bcc"))).toBe(false);
        }
        // The markup stays text: it is the HTML renderer's job to escape it.
        if (name.startsWith("<img")) expect(renderAlertText(a, "en").title).toContain("<img src=x onerror=alert(1)>");
      }
    });
  }

  it("a stored row that carries control characters is cleaned again on the way out", () => {
    const a: Alert = { ...bare("c2-contact"), device: { ip: "192.0.2.10", name: "evil\u001b]0;pwned\u0007\nname" } };
    for (const lang of LANGS) for (const s of strings(renderAlertText(a, lang))) expect(hasControlCharacters(s)).toBe(false);
  });

  it("property: any name, any message: clean, bounded texts in both languages", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 3_000 }), fc.string({ unit: "binary", maxLength: 3_000 }), (name, message) => {
      const engine = new AlertEngine({ clock: manualClock().now, lookupRule, lookupDevice: () => ({ name }), newId: sequentialIds() });
      const a = engine.process([syslogFrom(T0, "192.0.2.60", 0, message.length > 0 ? message : "x")])[0]!.alert;
      for (const lang of LANGS as Lang[]) {
        const t = renderAlertText(a, lang);
        for (const s of strings(t)) {
          if (hasControlCharacters(s)) return false;
        }
        if (t.what.length > 1_000) return false;
      }
      return true;
    }), { numRuns: 300 });
  });

  it("property: cleanText never lets a control character through and respects the bound", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 500 }), fc.integer({ min: 1, max: 300 }), (s, max) => {
      const out = cleanText(s, max);
      return !hasControlCharacters(out) && Array.from(out).length <= max;
    }), { numRuns: 2_000 });
    expect(cleanText("  plain  text  ", 64)).toBe("plain text");
    expect(cleanText("abcdef", 4)).toBe("abc…");
  });
});

describe("alert → syslog", () => {
  it("maps severity and carries the alert in structured data; the real formatter and parser agree", () => {
    const cases = [
      [alertsOf("c2-contact", named)[0]!, 2],
      [alertsOf("brute-force")[0]!, 4],
      [alertsOf("port-scan")[0]!, 5],
    ] as const;
    for (const [alert, severity] of cases) {
      const fields = alertToSyslog(alert);
      const msg: SyslogMessage = fields; // the sender's type accepts it as is
      expect(fields).toMatchObject({ severity, appName: "sekisho", msgId: "ALERT", facility: 4 });
      const sd = fields.structuredData["sekisho@32473"]!;
      expect(sd).toMatchObject({ id: alert.id, category: alert.category, severity: alert.severity, kind: alert.kind, rule: alert.evidence.rules[0]!.logId });
      if (alert.device.ip) expect(sd.ip).toBe(alert.device.ip);
      const bytes = formatSyslog5424({ ...msg, hostname: "sekisho-box" });
      const parsed = parseSyslog(bytes, "127.0.0.1", T0);
      if (!parsed.ok) throw new Error(parsed.detail);
      expect(parsed.record).toMatchObject({ severity, facility: 4, appName: "sekisho", msgId: "ALERT" });
      expect(parsed.record.structuredData?.["sekisho@32473"]?.id).toBe(alert.id);
      expect(parsed.record.message).toBe(renderAlertText(alert, "en").title);
    }
  });

  it("a hostile device name cannot break out of the structured data", () => {
    const a = alertsOf("c2-contact", () => ({ name: 'x"] [evil@1 a="b' }))[0]!;
    const parsed = parseSyslog(formatSyslog5424(alertToSyslog(a, { lang: "ja" })), "127.0.0.1", T0);
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(Object.keys(parsed.record.structuredData ?? {})).toEqual(["sekisho@32473"]);
    expect(parsed.record.structuredData?.["sekisho@32473"]?.name).toBe('x"] [evil@1 a="b');
    expect(parsed.record.message).toContain("ウイルス感染の疑い");
  });
});
