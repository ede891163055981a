/** ポリシー: the provider policy in words, the local overrides, the history. */
import type { Policy } from "../../policies/schema.ts";
import type { LocalOverrides, OverrideChange, PolicyHistoryEntry } from "../deps.ts";
import { formatNumber, formatTime } from "../i18n/index.ts";
import { html, query, type Html, type ViewContext } from "./html.ts";

export type PolicyPageData = { policy: Policy; overrides: LocalOverrides; history: PolicyHistoryEntry[]; page: number; hasMore: boolean };

const portText = (p: number | readonly [number, number]): string => (typeof p === "number" ? String(p) : `${p[0]}-${p[1]}`);

function changeText(v: ViewContext, c: OverrideChange): string {
  const t = v.t.policy.change;
  switch (c.kind) {
    case "allow-domain": return t["allow-domain"](c.domain);
    case "block-domain": return t["block-domain"](c.domain);
    case "reset-domain": return t["reset-domain"](c.domain);
    case "set-category": return t["set-category"](v.t.dns.dnsCategory[c.category], c.blocked);
    case "reset-category": return t["reset-category"](v.t.dns.dnsCategory[c.category]);
    case "block-device": return t["block-device"](c.mac);
    case "unblock-device": return t["unblock-device"](c.mac);
  }
}

/** Rule ids of a provider diff, marked +added -removed ~changed. */
const diffIds = (d: NonNullable<PolicyHistoryEntry["diff"]>): string[] =>
  [...d.added.map((x) => `+${x}`), ...d.removed.map((x) => `-${x}`), ...d.changed.map((x) => `~${x}`)];

function duration(v: ViewContext, seconds: number): string {
  return seconds % 60 === 0 ? v.t.login.minutes(formatNumber(seconds / 60, v.lang)) : v.t.login.seconds(formatNumber(seconds, v.lang));
}

export function policyBody(v: ViewContext, d: PolicyPageData): Html {
  const t = v.t.policy;
  const p = d.policy;
  const n = (x: number): string => formatNumber(x, v.lang);
  const lang = v.lang;
  const o = d.overrides;
  const localCats = Object.entries(o.dns.categories) as [keyof typeof v.t.dns.dnsCategory, boolean][];
  const hasLocal = o.dns.allow.length + o.dns.block.length + localCats.length + o.blockedDevices.length > 0;
  const list = (xs: readonly string[]): Html => html`<ul>${xs.map((x) => html`<li><code>${x}</code></li>`)}</ul>`;
  return html`<p>${t.intro}</p>
<section><h2>${t.provider}: ${t.version(p.id, n(p.serial))}</h2>
${p.description ? html`<p>${p.description}</p>` : html``}
<h3>${t.inbound}</h3><p>${t.inboundDefault}</p>
${p.inbound.allow.length === 0 ? html`<p>${t.noInboundAllow}</p>` : html`<ul>${p.inbound.allow.map((a) => html`<li>${t.inboundAllow(a.protocol.toUpperCase(), String(a.port), a.to)}${a.from ? t.inboundFrom(a.from.join(", ")) : ""}${a.description ? html` — ${a.description}` : html``}</li>`)}</ul>`}
<h3>${t.scan}</h3><p>${p.portScan.enabled ? t.scanOn(n(p.portScan.rate), n(p.portScan.burst), duration(v, p.portScan.banSeconds)) : t.scanOff}</p>
<h3>${t.brute}</h3><ul>${p.bruteForce.map((b) => html`<li>${t.bruteRule(b.service, b.ports.join(", "), n(b.perMinute), b.ban)}</li>`)}</ul>
<h3>${t.blocklists}</h3><ul>${p.blocklists.map((b) => html`<li>${t.blocklistRule(b.description ?? b.id, n(b.entries.length), t.direction[b.direction])}</li>`)}</ul>
<h3>${t.outbound}</h3><ul>${p.outbound.block.map((b) => html`<li><strong>${t.outboundRule(b.protocol === "both" ? "TCP/UDP" : b.protocol.toUpperCase(), b.ports.map(portText).join(", "))}</strong>: ${b.reason[lang]}</li>`)}</ul>
<h3>${t.dnsTitle}</h3>
${p.dns.enabled ? html`<p>${t.dnsOn(p.dns.blockCategories.map((c) => v.t.dns.dnsCategory[c]).join(v.t.common.listSeparator) || v.t.common.none)}</p><p>${t.dnsLists(n(p.dns.lists.length))}</p>` : html`<p>${t.dnsOff}</p>`}
</section>
<section><h2>${t.local}</h2>
${hasLocal ? html`
${o.dns.allow.length > 0 ? html`<h3>${t.localAllow}</h3>${list(o.dns.allow)}` : html``}
${o.dns.block.length > 0 ? html`<h3>${t.localBlock}</h3>${list(o.dns.block)}` : html``}
${localCats.length > 0 ? html`<h3>${t.localCategories}</h3><ul>${localCats.map(([c, b]) => html`<li>${v.t.dns.dnsCategory[c]}: ${b ? v.t.dns.blockedState : v.t.dns.allowedState}</li>`)}</ul>` : html``}
${o.blockedDevices.length > 0 ? html`<h3>${t.localDevices}</h3><ul>${o.blockedDevices.map((m) => html`<li><a href="/devices/${encodeURIComponent(m)}"><code>${m}</code></a></li>`)}</ul>` : html``}`
    : html`<p>${t.noLocal}</p>`}
</section>
<section><h2>${t.history}</h2>
${d.history.length === 0 ? html`<p>${t.noHistory}</p>` : html`<div class="overflow-auto"><table>
<thead><tr><th scope="col">${t.historyTime}</th><th scope="col">${t.historySource}</th><th scope="col">${t.historyWhat}</th></tr></thead>
<tbody>${d.history.map((h) => html`<tr><td><time>${formatTime(h.time)}</time></td>
<td>${h.source === "provider" ? t.sourceProvider : t.sourceLocal}</td>
<td>${t.version(h.policyId, n(h.serial))}${h.change ? html`: ${changeText(v, h.change)}` : html``}${h.diff ? html`: ${t.diff(n(h.diff.added.length), n(h.diff.removed.length), n(h.diff.changed.length))}
${diffIds(h.diff).length > 0 ? html`<br><small><code>${diffIds(h.diff).join(" ")}</code></small>` : html``}` : html``}</td></tr>`)}</tbody></table></div>`}
<nav class="pager" aria-label="${v.t.common.next}">
${d.page > 1 ? html`<a href="/policy${query({ page: d.page - 1 })}" rel="prev">${v.t.common.prev}</a>` : html``}
${d.hasMore ? html`<a href="/policy${query({ page: d.page + 1 })}" rel="next">${v.t.common.next}</a>` : html``}
</nav>
</section>`;
}
