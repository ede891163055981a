/** システム: version, uptime, mode, interfaces, health, storage, diagnostics. */
import type { BoxStatus } from "../deps.ts";
import { formatBytes, formatNumber, formatTime } from "../i18n/index.ts";
import { html, type Html, type ViewContext } from "./html.ts";

const HEALTH_KEYS = ["enforcer", "ulogd", "dns", "events"] as const;

export function systemBody(v: ViewContext, s: BoxStatus): Html {
  const t = v.t.system;
  const n = (x: number): string => formatNumber(x, v.lang);
  const up = Math.max(0, Math.floor((v.now - s.startedAt) / 60_000));
  const uptime = t.uptimeValue(n(Math.floor(up / 1440)), n(Math.floor((up % 1440) / 60)), n(up % 60));
  return html`<div class="grid">
<article><dl>
<dt>${t.firmware}</dt><dd>${s.firmwareVersion}</dd>
<dt>${t.uptime}</dt><dd>${uptime}</dd>
<dt>${t.startedAt}</dt><dd><time>${formatTime(s.startedAt)}</time> ${v.t.common.jst}</dd>
<dt>${t.mode}</dt><dd>${t.modes[s.mode]}</dd>
</dl></article>
<article><h2>${t.interfaces}</h2><ul>${s.interfaces.map((i) => html`<li><code>${i.name}</code>: ${t.roles[i.role]}</li>`)}</ul>
<h2>${t.addresses}</h2><ul>${s.managementAddresses.map((a) => html`<li><code>${a}</code></li>`)}</ul></article>
</div>
<section><h2>${t.health}</h2><div class="overflow-auto"><table><tbody>
${HEALTH_KEYS.map((k) => html`<tr><th scope="row">${t.healthNames[k]}</th><td>${s.health[k].ok ? html`<mark class="online">${t.ok}</mark>` : html`<mark class="sev-high">${t.notOk}</mark>`}</td><td class="wrap">${t.healthText[k][s.health[k].ok ? "ok" : "bad"]}${v.lang === "en" ? html`<br><small>${s.health[k].detail}</small>` : html``}</td></tr>`)}
</tbody></table></div></section>
<div class="grid">
<section><h2>${t.storage}</h2><dl><dt>${t.database}</dt><dd>${formatBytes(s.storage.databaseBytes, v.lang)}</dd><dt>${t.dataDir}</dt><dd>${formatBytes(s.storage.dataDirBytes, v.lang)}</dd></dl></section>
${s.dns ? html`<section><h2>${t.dnsStats}</h2><dl><dt>${t.dnsQueries}</dt><dd>${n(s.dns.queries)}</dd><dt>${t.dnsBlocked}</dt><dd>${n(s.dns.blocked)}</dd><dt>${t.dnsCache}</dt><dd>${(s.dns.cacheHitRatio * 100).toFixed(1)}%</dd></dl></section>` : html``}
</div>
<p><a href="/system/diagnostics" role="button" class="secondary" download>${t.diagnostics}</a></p>
<p><small>${t.diagnosticsHelp}</small></p>`;
}
