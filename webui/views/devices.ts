/** 端末: the inventory, per-device statistics, rename, block and unblock. */
import type { InventoryDevice } from "../../firmware/inventory/inventory.ts";
import { formatNumber, formatTime } from "../i18n/index.ts";
import { CATEGORIES, type CategoryCounts } from "../queries.ts";
import { csrfField, html, notice, query, type Html, type ViewContext } from "./html.ts";

/** A device is online when seen in the last 10 minutes. */
export const ONLINE_MS = 10 * 60_000;

export type DeviceRow = {
  device: InventoryDevice;
  openAlerts: number;
  events7d: number;
  blocked: boolean;
};

const label = (d: InventoryDevice): string => d.name ?? d.dhcpHostname ?? d.mac;

function vendorText(v: ViewContext, d: InventoryDevice): string {
  if (d.vendor) return d.vendor;
  return d.macKind === "randomised" ? v.t.devices.randomMac : "";
}

export type DeviceListData = { q: string; rows: DeviceRow[]; page: number; pages: number };

export function deviceListBody(v: ViewContext, d: DeviceListData): Html {
  const t = v.t.devices;
  const n = (x: number): string => formatNumber(x, v.lang);
  return html`<p>${t.intro}</p>
<search><form method="get" action="/devices" class="filters">
<label>${t.filter}<input type="search" name="q" value="${d.q}" maxlength="100" autocomplete="off"></label>
<button type="submit">${v.t.common.search}</button> <a href="/devices">${v.t.common.clear}</a>
</form></search>
${d.rows.length === 0 ? html`<p>${t.empty}</p>` : html`<div class="overflow-auto"><table class="cards">
<thead><tr><th scope="col">${t.name}</th><th scope="col">${t.vendor}</th><th scope="col">${t.addresses}</th><th scope="col">${t.firstSeen}</th><th scope="col">${t.lastSeen}</th><th scope="col" class="num">${t.openAlerts}</th><th scope="col" class="num">${t.events7d}</th></tr></thead>
<tbody>${d.rows.map((r) => html`<tr>
<td class="primary"><a href="/devices/${encodeURIComponent(r.device.mac)}">${label(r.device)}</a>${r.device.name && r.device.dhcpHostname ? html`<br><small>${r.device.dhcpHostname}</small>` : html``}
${v.now - r.device.lastSeen <= ONLINE_MS ? html` <mark class="online">${t.online}</mark>` : html``}${r.blocked ? html` <mark class="sev-high">${t.blocked}</mark>` : html``}</td>
<td class="vendor" data-label="${t.vendor}">${vendorText(v, r.device)}</td>
<td data-label="${t.addresses}">${r.device.addresses.map((a, i) => html`${i > 0 ? html`<br>` : html``}${a.ip}`)}<br><small><code>${r.device.mac}</code></small></td>
<td data-label="${t.firstSeen}"><time>${formatTime(r.device.firstSeen)}</time></td>
<td data-label="${t.lastSeen}"><time>${formatTime(r.device.lastSeen)}</time></td>
<td class="num" data-label="${t.openAlerts}">${n(r.openAlerts)}</td>
<td class="num" data-label="${t.events7d}">${n(r.events7d)}</td>
</tr>`)}</tbody></table></div>`}
<nav class="pager" aria-label="${v.t.common.next}">
${d.page > 1 ? html`<a href="/devices${query({ q: d.q, page: d.page - 1 })}" rel="prev">${v.t.common.prev}</a>` : html``}
${d.page < d.pages ? html`<a href="/devices${query({ q: d.q, page: d.page + 1 })}" rel="next">${v.t.common.next}</a>` : html``}
</nav>`;
}

export type DeviceDetailData = {
  row: DeviceRow;
  stats: CategoryCounts;
  /** The name field as typed when a rename was refused (shown back, escaped). */
  nameInput?: string;
  ok?: string;
  error?: string;
};

export function deviceDetailBody(v: ViewContext, d: DeviceDetailData): Html {
  const t = v.t.devices;
  const dev = d.row.device;
  const n = (x: number): string => formatNumber(x, v.lang);
  const mac = encodeURIComponent(dev.mac);
  const firstIp = dev.addresses[0]?.ip;
  return html`${notice("ok", d.ok)}${notice("error", d.error)}
<article>
<header><h2>${label(dev)} ${v.now - dev.lastSeen <= ONLINE_MS ? html`<mark class="online">${t.online}</mark>` : html`<small>${t.offline}</small>`}${d.row.blocked ? html` <mark class="sev-high">${t.blocked}</mark>` : html``}</h2></header>
<dl>
<dt>${t.name}</dt><dd>${dev.name ?? "—"}</dd>
<dt>${t.dhcpName}</dt><dd>${dev.dhcpHostname ?? "—"}</dd>
<dt>${t.vendor}</dt><dd>${vendorText(v, dev) || "—"}</dd>
<dt>${t.mac}</dt><dd><code>${dev.mac}</code></dd>
<dt>${t.addresses}</dt><dd>${dev.addresses.length === 0 ? "—" : dev.addresses.map((a, i) => html`${i > 0 ? html`, ` : html``}${a.ip}`)}</dd>
<dt>${t.firstSeen}</dt><dd><time>${formatTime(dev.firstSeen)}</time></dd>
<dt>${t.lastSeen}</dt><dd><time>${formatTime(dev.lastSeen)}</time></dd>
<dt>${t.openAlerts}</dt><dd>${n(d.row.openAlerts)} <a href="/alerts?state=open">${t.seeAlerts}</a></dd>
</dl>
${firstIp ? html`<p><a href="/events${query({ lan: firstIp })}">${t.seeEvents}</a></p>` : html``}
</article>
<section><h3>${t.stats}</h3>
<div class="overflow-auto"><table><tbody>${CATEGORIES.map((c) => html`<tr><th scope="row"><span class="swatch c-${c}" aria-hidden="true"></span> ${v.t.category[c]}</th><td class="num">${n(d.stats[c])}</td></tr>`)}</tbody></table></div>
</section>
<section><h3>${t.rename}</h3>
<form method="post" action="/devices/${mac}/rename">${csrfField(v)}
<label>${t.renameLabel}<input name="name" value="${d.nameInput ?? dev.name ?? ""}" maxlength="200" autocomplete="off"></label>
<button type="submit">${t.renameSubmit}</button>
</form></section>
<section><h3>${d.row.blocked ? t.unblock : t.block}</h3>
${d.row.blocked
    ? html`<form method="post" action="/devices/${mac}/unblock">${csrfField(v)}<button type="submit">${t.unblock}</button></form>`
    : html`<p>${t.blockHelp}</p><form method="post" action="/devices/${mac}/block">${csrfField(v)}<button type="submit" class="contrast">${t.block}</button></form>`}
</section>
<p><a href="/devices">${v.t.common.back}</a></p>`;
}
