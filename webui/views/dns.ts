/** URLフィルタ: categories, local allow/block lists, precedence, recent queries, tops, a name check. */
import type { DnsCategory } from "../../policies/schema.ts";
import type { NameExplanation } from "../../firmware/dns/filter.ts";
import type { DnsQueryRecord } from "../../firmware/dns/query-log.ts";
import type { LocalOverrides } from "../deps.ts";
import { formatNumber, formatTime } from "../i18n/index.ts";
import { csrfField, html, notice, query, type Html, type ViewContext } from "./html.ts";

export type DnsPageData = {
  running: boolean;
  switchable: readonly DnsCategory[];
  /** The provider policy's own blocked categories. */
  providerBlocked: readonly DnsCategory[];
  overrides: LocalOverrides;
  recent: DnsQueryRecord[];
  outcome: "all" | "blocked";
  page: number;
  hasMore: boolean;
  topDomains: { value: string; count: number }[];
  topClients: { value: string; count: number }[];
  check: { input: string; result: NameExplanation | undefined; error?: string };
  /** The add-domain field as typed when it was refused. */
  domainInput?: string;
  ok?: string;
  error?: string;
};

const BLOCKED_OUTCOMES = new Set(["blocked", "blocked-cname", "doh"]);

export const isBlockedOutcome = (r: DnsQueryRecord): boolean => BLOCKED_OUTCOMES.has(r.outcome);

function domainForm(v: ViewContext, action: "allow" | "block" | "reset", domain: string, label: string, cls = ""): Html {
  return html`<form method="post" action="/dns/${action}" class="inline">${csrfField(v)}<input type="hidden" name="domain" value="${domain}"><button type="submit" class="${cls}">${label}</button></form>`;
}

function explanation(v: ViewContext, r: NameExplanation): Html {
  const t = v.t.dns;
  if (!r.ok) return notice("error", t.checkBad);
  const src = r.reason?.source;
  const sourceText = src === undefined ? "" : src.kind === "local" ? t.sourceLocal : src.kind === "policy" ? t.sourcePolicy
    : src.kind === "doh" ? t.sourceDoh : src.kind === "builtin" ? t.sourceBuiltin : t.sourceList(src.id);
  return html`<article class="check-result"><p><strong>${r.name}</strong>: ${t.decision[r.decision]}</p>
${r.reason ? html`<p>${t.ruleFrom(r.reason.rule, sourceText)}</p>` : html``}
<p><small>${t.categoriesApplied(r.categories.map((c) => t.dnsCategory[c]).join(v.t.common.listSeparator) || v.t.common.none)}</small></p></article>`;
}

export function dnsBody(v: ViewContext, d: DnsPageData): Html {
  const t = v.t.dns;
  const n = (x: number): string => formatNumber(x, v.lang);
  const cats = d.overrides.dns.categories;
  const categoryRow = (c: DnsCategory): Html => {
    const local = cats[c];
    const blocked = local ?? d.providerBlocked.includes(c);
    const setForm = (to: boolean, label: string): Html =>
      html`<form method="post" action="/dns/category" class="inline">${csrfField(v)}<input type="hidden" name="category" value="${c}"><input type="hidden" name="blocked" value="${to ? "true" : "false"}"><button type="submit" class="secondary outline">${label}</button></form>`;
    return html`<tr><th scope="row">${t.dnsCategory[c]}</th>
<td>${blocked ? t.blockedState : t.allowedState} <small>${local === undefined ? t.providerChoice : t.localChoice}</small></td>
<td>${blocked ? setForm(false, t.turnOff) : setForm(true, t.turnOn)}
${local !== undefined ? html`<form method="post" action="/dns/category" class="inline">${csrfField(v)}<input type="hidden" name="category" value="${c}"><input type="hidden" name="blocked" value="reset"><button type="submit" class="secondary outline">${t.reset}</button></form>` : html``}</td></tr>`;
  };
  const list = (items: readonly string[]): Html => items.length === 0
    ? html`<p>${v.t.common.none}</p>`
    : html`<ul class="domains">${items.map((x) => html`<li><code>${x}</code> ${domainForm(v, "reset", x, t.remove, "secondary outline")}</li>`)}</ul>`;
  const top = (rows: { value: string; count: number }[], head: string, link: (x: string) => string): Html => rows.length === 0
    ? html`<p>${v.t.common.none}</p>`
    : html`<table><thead><tr><th scope="col">${head}</th><th scope="col" class="num">${t.count}</th></tr></thead>
<tbody>${rows.map((r) => html`<tr><td class="wrap"><a href="${link(r.value)}">${r.value}</a></td><td class="num">${n(r.count)}</td></tr>`)}</tbody></table>`;
  const allowed = new Set(d.overrides.dns.allow);
  const blockedLocal = new Set(d.overrides.dns.block);
  return html`<p>${t.intro}</p>
${notice("ok", d.ok)}${notice("error", d.error)}
${d.running ? html`` : notice("error", t.notRunning)}
<section><h2>${t.check}</h2>
<search><form method="get" action="/dns" class="filters"><label>${t.checkLabel}<input name="check" value="${d.check.input}" maxlength="300" autocomplete="off"></label><button type="submit">${t.checkSubmit}</button></form></search>
${d.check.error ? notice("error", d.check.error) : d.check.result ? explanation(v, d.check.result) : html``}
</section>
<section><h2>${t.recent}</h2>
<form method="get" action="/dns" class="filters"><label>${t.recentOutcome}<select name="outcome">
${d.outcome === "all" ? html`<option value="all" selected>${t.outcomeAll}</option><option value="blocked">${t.outcomeBlocked}</option>` : html`<option value="all">${t.outcomeAll}</option><option value="blocked" selected>${t.outcomeBlocked}</option>`}
</select></label><button type="submit">${v.t.common.search}</button></form>
${d.recent.length === 0 ? html`<p>${t.noQueries}</p>` : html`<div class="overflow-auto"><table class="cards">
<thead><tr><th scope="col">${t.name}</th><th scope="col">${t.outcome}</th><th scope="col">${t.reason}</th><th scope="col">${t.time}</th><th scope="col">${t.client}</th><th scope="col"></th></tr></thead>
<tbody>${d.recent.map((r) => html`<tr>
<td class="wrap primary"><code>${r.name}</code></td>
<td class="nowrap" data-label="${t.outcome}">${t.outcomes[r.outcome]}</td>
<td class="wrap" data-label="${t.reason}">${r.rule ?? ""}${r.category ? html` (${t.dnsCategory[r.category]})` : html``}</td>
<td data-label="${t.time}"><time>${formatTime(r.time)}</time></td>
<td data-label="${t.client}">${r.client}</td>
<td>${r.name === "" || r.outcome === "builtin" ? html`` : isBlockedOutcome(r)
    ? (allowed.has(r.name) ? html`` : domainForm(v, "allow", r.name, t.allowThis))
    : (blockedLocal.has(r.name) ? html`` : domainForm(v, "block", r.name, t.blockThis, "secondary outline"))}</td>
</tr>`)}</tbody></table></div>`}
<nav class="pager" aria-label="${v.t.common.next}">
${d.page > 1 ? html`<a href="/dns${query({ outcome: d.outcome, page: d.page - 1 })}" rel="prev">${v.t.common.prev}</a>` : html``}
${d.hasMore ? html`<a href="/dns${query({ outcome: d.outcome, page: d.page + 1 })}" rel="next">${v.t.common.next}</a>` : html``}
</nav>
</section>
<div class="grid">
<section><h2>${t.allowList}</h2>${list(d.overrides.dns.allow)}
<form method="post" action="/dns/allow">${csrfField(v)}<label>${t.addAllow}<input name="domain" value="${d.domainInput ?? ""}" maxlength="300" placeholder="example.jp" autocomplete="off"></label><button type="submit">${t.add}</button></form></section>
<section><h2>${t.blockList}</h2>${list(d.overrides.dns.block)}
<form method="post" action="/dns/block">${csrfField(v)}<label>${t.addBlock}<input name="domain" maxlength="300" placeholder="example.jp" autocomplete="off"></label><button type="submit" class="secondary">${t.add}</button></form></section>
</div>
<section><h2>${t.precedence}</h2><ol class="plain">${t.precedenceItems.map((x) => html`<li>${x}</li>`)}</ol></section>
<section><h2>${t.categories}</h2><p>${t.categoriesHelp}</p>
${d.switchable.length === 0 ? html`<p>${t.noSwitchable}</p>` : html`<div class="overflow-auto"><table>
<thead><tr><th scope="col">${t.categoryCol}</th><th scope="col">${t.stateCol}</th><th scope="col"></th></tr></thead>
<tbody>${d.switchable.map(categoryRow)}</tbody></table></div>`}
</section>
<div class="grid">
<section><h2>${t.topBlocked}</h2>${top(d.topDomains, t.name, (x) => `/events${query({ domain: x })}`)}</section>
<section><h2>${t.topClients}</h2>${top(d.topClients, t.client, (x) => `/events${query({ lan: x })}`)}</section>
</div>`;
}
