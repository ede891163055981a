/** ダッシュボード: one status, counts, chart, open alerts, devices online, policy. */
import type { Alert, Severity } from "../../firmware/alerts/types.ts";
import type { BoxStatus } from "../deps.ts";
import { formatNumber, formatTime } from "../i18n/index.ts";
import { CATEGORIES, type Bucket, type CategoryCounts } from "../queries.ts";
import { barChart } from "./chart.ts";
import { html, query, type Html, type ViewContext } from "./html.ts";
import { alertRows } from "./alerts.ts";

export type DashboardRange = "week" | "year";

export type DashboardData = {
  range: DashboardRange;
  status: BoxStatus;
  openBySeverity: Record<Severity, number>;
  today: CategoryCounts;
  week: CategoryCounts;
  buckets: Bucket[];
  alerts: Alert[];
  devicesOnline: number;
  devicesTotal: number;
};

const HEALTH_KEYS = ["enforcer", "ulogd", "dns", "events"] as const;

/** The part htmx replaces every 5 s (the whole content below the heading). */
export function dashboardFragment(v: ViewContext, d: DashboardData): Html {
  const t = v.t.dashboard;
  const n = (x: number): string => formatNumber(x, v.lang);
  const unhealthy = HEALTH_KEYS.filter((k) => !d.status.health[k].ok).map((k) => v.t.system.healthNames[k]);
  const alertReason = d.openBySeverity.high + d.openBySeverity.medium > 0;
  const attention = alertReason || unhealthy.length > 0;
  const status = attention
    ? html`<article class="status attention" aria-live="polite"><h2>${t.attention}</h2>
${alertReason ? html`<p>${t.reasonAlerts(n(d.openBySeverity.high), n(d.openBySeverity.medium))} <a href="/alerts?state=open">${t.seeAlerts}</a></p>` : html``}
${unhealthy.length > 0 ? html`<p>${t.reasonHealth(unhealthy.join(v.t.common.listSeparator))} <a href="/system">${t.seeSystem}</a></p>` : html``}
</article>`
    : html`<article class="status ok" aria-live="polite"><h2>${t.protected}</h2><p>${t.protectedBody}</p></article>`;
  const chart = d.range === "year"
    ? barChart(d.buckets, t.chartTitleYear, t.chartTotal, v.lang, 30)
    : barChart(d.buckets, t.chartTitleWeek, t.chartTotal, v.lang, 24);
  const p = d.status.policy;
  return html`<div id="dashboard" hx-get="/fragments/dashboard${query({ range: d.range === "year" ? "year" : undefined })}" hx-trigger="every 5s" hx-swap="outerHTML">
${status}
<section>
<h2>${t.counts}</h2>
<div class="overflow-auto"><table>
<thead><tr><th scope="col">${t.category}</th><th scope="col" class="num">${t.today}</th><th scope="col" class="num">${t.week}</th></tr></thead>
<tbody>${CATEGORIES.map((c) => html`<tr><th scope="row"><span class="swatch c-${c}" aria-hidden="true"></span> <a href="/events${query({ category: c })}">${v.t.category[c]}</a></th><td class="num">${n(d.today[c])}</td><td class="num">${n(d.week[c])}</td></tr>`)}</tbody>
</table></div>
<nav aria-label="${t.range}" class="range"><a href="/"${d.range === "week" ? html` aria-current="true"` : html``}>${t.rangeWeek}</a> <a href="/?range=year"${d.range === "year" ? html` aria-current="true"` : html``}>${t.rangeYear}</a></nav>
${chart}
</section>
<section>
<h2>${t.openAlerts}</h2>
${d.alerts.length === 0 ? html`<p>${t.noOpenAlerts}</p>` : alertRows(v, d.alerts)}
</section>
<div class="grid">
<article><h2>${t.devicesOnline}</h2><p><a href="/devices">${t.devicesOnlineBody(n(d.devicesOnline), n(d.devicesTotal))}</a></p></article>
<article><h2>${t.policy}</h2><p><a href="/policy">${t.policyVersion(p.id, n(p.serial))}</a></p>
<p><small>${t.lastApply}: ${p.appliedAt === null ? t.neverApplied : `${formatTime(p.appliedAt)} ${v.t.common.jst}`}</small></p></article>
</div>
<p><small>${t.updated}: ${formatTime(v.now)} ${v.t.common.jst}<br>${t.autoUpdate}</small></p>
</div>`;
}

export function dashboardBody(v: ViewContext, d: DashboardData): Html {
  return dashboardFragment(v, d);
}
