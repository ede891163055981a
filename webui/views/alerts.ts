/** アラート: list with filters, and the detail with the plain-language text and actions. */
import type { Alert, AlertState, Severity } from "../../firmware/alerts/types.ts";
import { renderAlertText } from "../../firmware/alerts/texts.ts";
import { ALERT_STATES, SEVERITIES } from "../../firmware/alerts/types.ts";
import { formatNumber, formatTime } from "../i18n/index.ts";
import type { AlertCursor } from "../queries.ts";
import { csrfField, html, notice, query, type Html, type ViewContext } from "./html.ts";

const deviceText = (a: Alert): string => a.device.name ?? a.device.ip ?? a.device.mac ?? "";

/** The table of alerts (list page and dashboard). */
export function alertRows(v: ViewContext, alerts: readonly Alert[]): Html {
  const t = v.t.alerts;
  return html`<div class="overflow-auto"><table class="alerts cards">
<thead><tr><th scope="col" class="nowrap">${t.severityCol}</th><th scope="col" class="nowrap">${t.stateCol}</th><th scope="col">${t.titleCol}</th><th scope="col">${t.device}</th><th scope="col" class="num">${t.count}</th><th scope="col">${t.lastSeen}</th></tr></thead>
<tbody>${alerts.map((a) => html`<tr class="sev-${a.severity}">
<td class="nowrap"><mark class="sev sev-${a.severity}">${v.t.severity[a.severity]}</mark> <span class="phone-only">${v.t.alertState[a.state]}</span></td>
<td class="nowrap desk-only">${v.t.alertState[a.state]}</td>
<td class="primary"><a href="/alerts/${encodeURIComponent(a.id)}">${renderAlertText(a, v.lang).title}</a></td>
<td data-label="${t.device}">${deviceText(a)}</td>
<td class="num" data-label="${t.count}">${formatNumber(a.count, v.lang)}</td>
<td data-label="${t.lastSeen}"><time>${formatTime(a.lastSeen)}</time></td>
</tr>`)}</tbody></table></div>`;
}

export type AlertListData = {
  states: AlertState[];
  severities: Severity[];
  alerts: Alert[];
  next: AlertCursor | undefined;
  isFirst: boolean;
};

export function alertListBody(v: ViewContext, d: AlertListData): Html {
  const t = v.t.alerts;
  const opt = (value: string, label: string, selected: boolean): Html =>
    selected ? html`<option value="${value}" selected>${label}</option>` : html`<option value="${value}">${label}</option>`;
  const stateParam = d.states.length === 1 ? d.states[0] : undefined;
  const sevParam = d.severities.length === 1 ? d.severities[0] : undefined;
  return html`<search><form method="get" action="/alerts" class="filters">
<div class="grid">
<label>${t.filterState}<select name="state">${opt("", v.t.common.all, stateParam === undefined)}${ALERT_STATES.map((s) => opt(s, v.t.alertState[s], stateParam === s))}</select></label>
<label>${t.filterSeverity}<select name="severity">${opt("", v.t.common.all, sevParam === undefined)}${SEVERITIES.map((s) => opt(s, v.t.severity[s], sevParam === s))}</select></label>
</div>
<button type="submit">${v.t.common.search}</button> <a href="/alerts">${v.t.common.clear}</a>
</form></search>
${d.alerts.length === 0 ? html`<p>${t.empty}</p>` : alertRows(v, d.alerts)}
<nav class="pager" aria-label="${v.t.common.next}">
${d.isFirst ? html`` : html`<a href="/alerts${query({ state: stateParam, severity: sevParam })}">${v.t.common.first}</a>`}
${d.next ? html`<a href="/alerts${query({ state: stateParam, severity: sevParam, ct: d.next.lastSeen, ci: d.next.id })}" rel="next">${v.t.common.next}</a>` : html``}
</nav>`;
}

export function alertDetailBody(v: ViewContext, a: Alert, flash: { ok?: string; error?: string }): Html {
  const t = v.t.alerts;
  const text = renderAlertText(a, v.lang);
  // The state in the page's own words (the list, the buttons and the notice say 確認済み;
  // the alert catalogue's 対応中 is for mail and the CLI).
  const rows = (rs: { label: string; value: string }[]): Html =>
    html`<dl>${rs.map((r) => html`<dt>${r.label}</dt><dd>${r.value}</dd>`)}</dl>`;
  const action = (path: string, label: string, cls: string): Html =>
    html`<form method="post" action="/alerts/${encodeURIComponent(a.id)}/${path}" class="inline">${csrfField(v)}<button type="submit" class="${cls}">${label}</button></form>`;
  return html`${notice("ok", flash.ok)}${notice("error", flash.error)}
<article class="alert-detail sev-${a.severity}">
<header><p><mark class="sev sev-${a.severity}">${v.t.severityLong[a.severity]}</mark> · ${v.t.alertState[a.state]} · ${text.category}</p>
<h2>${text.title}</h2></header>
<h3>${t.what}</h3><p>${text.what}</p>
<h3>${t.danger}</h3><p>${text.danger}</p>
<h3>${t.action}</h3><p>${text.action}</p>
<footer>
${a.state === "open" ? action("acknowledge", t.acknowledge, "secondary") : html``}
${a.state !== "resolved" ? action("resolve", t.resolve, "") : html``}
</footer>
</article>
<div class="grid">
<section><h3>${t.deviceSection}</h3>${text.device.length > 0 ? rows(text.device) : html`<p>${v.t.common.unknown}</p>`}
${a.device.ip ? html`<p><a href="/events${query({ lan: a.device.ip })}">${t.relatedEvents}</a></p>` : html``}</section>
<section><h3>${t.evidence}</h3>${rows(text.evidence)}</section>
</div>
<p><a href="/alerts">${v.t.common.back}</a></p>`;
}
