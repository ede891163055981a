/**
 * The one way views write HTML: hono's `html` tagged template, which escapes every
 * interpolated string (& < > " '), with values always in double-quoted attributes. Nothing
 * from the network or the database is ever passed through `raw`. Views are pure and
 * synchronous, so the result is a string, never a promise.
 */
import { html as honoHtml } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Lang, Messages } from "../i18n/index.ts";

export type Html = HtmlEscapedString;

/** Escaping template (see above). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return honoHtml(strings, ...values) as Html;
}

/** What every view gets: the words, the language, the session's CSRF token, the clock. */
export type ViewContext = {
  t: Messages;
  lang: Lang;
  /** The CSRF token for forms (the session's, or the login page's). */
  csrf: string;
  /** The current path (the nav marks it). */
  path: string;
  now: number;
  loggedIn: boolean;
};

/** The hidden CSRF input every form carries. */
export const csrfField = (v: ViewContext): Html => html`<input type="hidden" name="_csrf" value="${v.csrf}">`;

/** A query string from parameters (undefined and "" left out), for links. */
export function query(params: Record<string, string | number | undefined>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") s.set(k, String(v));
  const text = s.toString();
  return text === "" ? "" : `?${text}`;
}

/** A notice at the top of a page: success or error (text from the catalogue, or an escaped detail). */
export function notice(kind: "ok" | "error", text: string | undefined): Html {
  if (text === undefined) return html``;
  return kind === "ok"
    ? html`<p class="notice ok" role="status">${text}</p>`
    : html`<p class="notice error" role="alert">${text}</p>`;
}
