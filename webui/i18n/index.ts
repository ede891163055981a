/**
 * Languages of the admin page and the formatting of what is not a word: times (always JST,
 * in both languages: the box and its users are in Japan), numbers with grouping, sizes.
 */
import { en } from "./en.ts";
import { ja, type Messages } from "./ja.ts";

export type { Messages };
export type Lang = "ja" | "en";
export const LANGS: readonly Lang[] = ["ja", "en"];
export const DEFAULT_LANG: Lang = "ja";

const CATALOGUES: Record<Lang, Messages> = { ja, en };

/** The catalogue of a language. */
export function messages(lang: Lang): Messages {
  return CATALOGUES[lang];
}

/** A language named by a cookie or a form ("ja" when absent or unknown). */
export function parseLang(value: string | undefined): Lang {
  return value === "en" ? "en" : "ja";
}

const JST_OFFSET_MS = 9 * 3_600_000;
export const TIME_ZONE = "Asia/Tokyo";

/** Calendar fields of a time in JST (fixed +09:00: Japan has no daylight saving time). */
function jstFields(ms: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const t = new Date(ms + JST_OFFSET_MS);
  return { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds() };
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** "2026-11-23 14:05:09" in JST (the same in both languages; the page says the zone once). */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  const f = jstFields(ms);
  return `${f.y}-${pad(f.mo)}-${pad(f.d)} ${pad(f.h)}:${pad(f.mi)}:${pad(f.s)}`;
}

/** "11/23" (a chart's day label) in JST. */
export function formatDay(ms: number): string {
  const f = jstFields(ms);
  return `${f.mo}/${f.d}`;
}

/** The value of an `<input type="datetime-local">` for a time, in JST ("2026-11-23T14:05"). */
export function toDateTimeLocal(ms: number): string {
  const f = jstFields(ms);
  return `${f.y}-${pad(f.mo)}-${pad(f.d)}T${pad(f.h)}:${pad(f.mi)}`;
}

/** A `datetime-local` value read as JST; undefined when it is not one. */
export function fromDateTimeLocal(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 2026-02-31 over to March: refuse dates that do not exist.
  if (new Date(utc).getUTCDate() !== d) return undefined;
  return utc - JST_OFFSET_MS;
}

/** Midnight JST of the day containing `ms`. */
export function startOfJstDay(ms: number): number {
  return Math.floor((ms + JST_OFFSET_MS) / 86_400_000) * 86_400_000 - JST_OFFSET_MS;
}

// Formatters are built once: constructing an Intl.NumberFormat costs tens of microseconds,
// and a page formats hundreds of numbers.
const NUMBER = { ja: new Intl.NumberFormat("ja-JP"), en: new Intl.NumberFormat("en-US") } as const;
const DECIMAL = [0, 1].map((digits) => ({
  ja: new Intl.NumberFormat("ja-JP", { maximumFractionDigits: digits, minimumFractionDigits: digits }),
  en: new Intl.NumberFormat("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }),
}));

/** A count with grouping ("1,234" in both languages). */
export function formatNumber(n: number, lang: Lang): string {
  return NUMBER[lang].format(n);
}

/** Bytes as "12.3 MB". */
export function formatBytes(n: number, lang: Lang): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = u === 0 ? 0 : 1;
  return `${DECIMAL[digits]![lang].format(v)} ${units[u]}`;
}
