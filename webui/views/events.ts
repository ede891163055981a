/** イベント: search by category, device, remote, port, domain and time range; keyset pages. */
import type { StoredEvent } from "../../firmware/events/types.ts";
import { formatTime } from "../i18n/index.ts";
import { CATEGORIES, type EventCursor } from "../queries.ts";
import { html, notice, query, type Html, type ViewContext } from "./html.ts";

/** The filter as typed (strings, so a bad value is shown back as it was typed, escaped). */
export type EventFilterForm = { category: string; lan: string; remote: string; port: string; domain: string; from: string; to: string };

export type EventListData = {
  form: EventFilterForm;
  error: string | undefined;
  events: StoredEvent[];
  next: EventCursor | undefined;
  windowed: boolean;
  isFirst: boolean;
};

export function eventListBody(v: ViewContext, d: EventListData): Html {
  const t = v.t.events;
  const f = d.form;
  const opt = (value: string, label: string): Html =>
    f.category === value ? html`<option value="${value}" selected>${label}</option>` : html`<option value="${value}">${label}</option>`;
  const params = { category: f.category, lan: f.lan, remote: f.remote, port: f.port, domain: f.domain, from: f.from, to: f.to };
  return html`<p>${t.intro}</p>
${d.error ? notice("error", d.error) : html``}
<search><form method="get" action="/events" class="filters">
<div class="grid">
<label>${t.category}<select name="category">${opt("", v.t.common.all)}${CATEGORIES.map((c) => opt(c, v.t.category[c]))}</select></label>
<label>${t.lan}<input name="lan" value="${f.lan}" maxlength="45" inputmode="decimal" autocomplete="off"></label>
<label>${t.remote}<input name="remote" value="${f.remote}" maxlength="45" autocomplete="off"></label>
</div>
<div class="grid">
<label>${t.port}<input name="port" value="${f.port}" maxlength="5" inputmode="numeric" autocomplete="off"></label>
<label>${t.domain}<input name="domain" value="${f.domain}" maxlength="253" autocomplete="off"></label>
<label>${t.from} (${v.t.common.jst})<input type="datetime-local" name="from" value="${f.from}"></label>
<label>${t.to} (${v.t.common.jst})<input type="datetime-local" name="to" value="${f.to}"></label>
</div>
<button type="submit">${v.t.common.search}</button> <a href="/events">${v.t.common.clear}</a>
</form></search>
${d.windowed ? html`<p><small>${v.t.common.scanNote}</small></p>` : html``}
${d.events.length === 0 ? html`<p>${t.empty}</p>` : html`<div class="overflow-auto"><table class="cards">
<thead><tr><th scope="col">${t.time}</th><th scope="col">${t.category}</th><th scope="col">${t.severity}</th><th scope="col">${t.rule}</th><th scope="col">${t.lan}</th><th scope="col">${t.remote}</th><th scope="col" class="num">${t.port}</th><th scope="col">${t.domain} / ${t.message}</th></tr></thead>
<tbody>${d.events.map((e) => html`<tr>
<td class="primary"><time>${formatTime(e.time)}</time></td>
<td class="nowrap" data-label="${t.category}">${v.t.categoryShort[e.category]}</td>
<td class="nowrap" data-label="${t.severity}">${v.t.severity[e.severity]}</td>
<td data-label="${t.rule}"><code>${e.logId}</code></td>
<td data-label="${t.lan}">${e.lanIp ? html`<a href="/events${query({ lan: e.lanIp })}">${e.lanIp}</a>` : html``}</td>
<td data-label="${t.remote}">${e.remoteIp ?? ""}</td>
<td class="num" data-label="${t.port}">${e.port ?? ""}</td>
<td class="wrap" data-label="${t.domain} / ${t.message}">${e.domain ?? ""}${e.app ? html` <code>${e.app}</code>` : html``} ${e.message ?? ""}</td>
</tr>`)}</tbody></table></div>`}
<nav class="pager" aria-label="${v.t.common.next}">
${d.isFirst ? html`` : html`<a href="/events${query(params)}">${v.t.common.first}</a>`}
${d.next ? html`<a href="/events${query({ ...params, ct: d.next.time, ci: d.next.id })}" rel="next">${d.events.length === 0 && d.windowed ? v.t.common.olderScan : v.t.common.next}</a>` : html``}
</nav>`;
}

