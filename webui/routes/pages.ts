/**
 * The pages (GET). Each parses its query with zod, reads through indexed queries or rollups,
 * and renders a pure view. Loaders are exported so an action can re-render its page with an
 * error (status 4xx, nothing changed).
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { ALERT_STATES, SEVERITIES, type AlertState, type Severity } from "../../firmware/alerts/types.ts";
import type { InventoryDevice } from "../../firmware/inventory/inventory.ts";
import { Mac } from "../../policies/overrides.ts";
import { formatIpv6, parseIpv4, parseIpv6 } from "../../policies/net.ts";
import type { AppContext, AppEnv } from "../app.ts";
import { fromDateTimeLocal, startOfJstDay } from "../i18n/index.ts";
import {
  alertPage, bucketSeries, CATEGORIES, deviceCategoryCounts, eventPage, openAlertCounts, storeCounts,
  topBlockedClients, topBlockedDomains, unresolvedAlertCounts, type CategoryCounts, type EventFilter,
} from "../queries.ts";
import { alertDetailBody, alertListBody } from "../views/alerts.ts";
import { dashboardBody, dashboardFragment, type DashboardData, type DashboardRange } from "../views/dashboard.ts";
import { deviceDetailBody, deviceListBody, ONLINE_MS, type DeviceRow } from "../views/devices.ts";
import { dnsBody, isBlockedOutcome, type DnsPageData } from "../views/dns.ts";
import { eventListBody, type EventFilterForm } from "../views/events.ts";
import { messageBody } from "../views/auth.ts";
import { policyBody } from "../views/policy.ts";
import { systemBody } from "../views/system.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

const optionalEnum = <T extends string>(values: readonly T[]) =>
  z.union([z.literal(""), z.enum(values as [T, ...T[]])]).optional().transform((v) => (v === "" || v === undefined ? undefined : v));
const Int = z.string().regex(/^\d{1,16}$/).transform(Number);
const PageNumber = z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(1000)).optional().catch(undefined);

/** An IP address as typed, in the store's canonical form; undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const s = text.trim();
  if (parseIpv4(s) !== undefined) return s;
  const v6 = parseIpv6(s);
  return v6 === undefined ? undefined : formatIpv6(v6);
}

// ---- dashboard ---------------------------------------------------------------------------------

async function dashboardData(ctx: AppContext, range: DashboardRange): Promise<DashboardData> {
  const { deps } = ctx;
  const now = deps.clock();
  const hour = Math.floor(now / HOUR) * HOUR;
  // One read of the week's hourly rollups gives the chart and both counts (today is a
  // suffix of the week): the dashboard is polled every 5 s, and with a busy year in the
  // store each range read costs milliseconds (test/bench, webui).
  const [status, openBySeverity, hourly, devices, open, acknowledged] = await Promise.all([
    deps.status(),
    openAlertCounts(deps.database),
    ctx.weekSeries.read(deps.database, hour - WEEK + HOUR, hour + HOUR, HOUR, now),
    deps.devices.list(),
    deps.alerts.listAlerts({ state: "open", limit: 10 }),
    deps.alerts.listAlerts({ state: "acknowledged", limit: 5 }),
  ]);
  const sum = (from: number): CategoryCounts => {
    const out: CategoryCounts = { inbound: 0, c2: 0, web: 0, malware: 0, endpoint: 0 };
    for (const b of hourly) if (b.start >= from) for (const c of CATEGORIES) out[c] += b.counts[c];
    return out;
  };
  const today = sum(startOfJstDay(now));
  const week = sum(-Infinity);
  const severityRank: Record<Severity, number> = { high: 0, medium: 1, low: 2 };
  const alerts = [...open].sort((a, b) => severityRank[a.severity] - severityRank[b.severity] || b.lastSeen - a.lastSeen).concat(acknowledged);
  const buckets = range === "year"
    ? await ctx.yearSeries.read(deps.database, startOfJstDay(now) - 364 * DAY, startOfJstDay(now) + DAY, DAY, now)
    : hourly;
  return {
    range, status, openBySeverity, today, week, buckets, alerts,
    devicesOnline: devices.filter((d) => now - d.lastSeen <= ONLINE_MS).length,
    devicesTotal: devices.length,
  };
}

// ---- devices -----------------------------------------------------------------------------------

/** Devices with their open alerts, blocked flag and 7-day event counts. */
async function deviceRows(ctx: AppContext): Promise<{ rows: DeviceRow[]; stats: Map<string, CategoryCounts> }> {
  const { deps } = ctx;
  const now = deps.clock();
  const [devices, counts, stats] = await Promise.all([
    deps.devices.list(),
    unresolvedAlertCounts(deps.database),
    deviceCategoryCounts(deps.database, now - WEEK, now),
  ]);
  const blocked = new Set(deps.policy.overrides().blockedDevices);
  const rows = devices.map((device): DeviceRow => {
    const ips = device.addresses.map((a) => a.ip);
    const openAlerts = (counts.byMac.get(device.mac) ?? 0) + ips.reduce((s, ip) => s + (counts.byIp.get(ip) ?? 0), 0);
    const events7d = ips.reduce((s, ip) => s + CATEGORIES.reduce((t, c) => t + (stats.get(ip)?.[c] ?? 0), 0), 0);
    return { device, openAlerts, events7d, blocked: blocked.has(device.mac) };
  });
  return { rows, stats };
}

/** A blocked MAC the inventory does not know (any more) still gets a page, so it can be unblocked. */
function unknownDevice(mac: string): InventoryDevice {
  return {
    mac, macKind: "global", vendor: null, dhcpHostname: null, dhcpVendorClass: null, dhcpClientId: null, name: null,
    firstSeen: Number.NaN, lastSeen: Number.NaN, lastSource: "neighbour", baseline: false, addresses: [],
  };
}

/** The device page, or undefined when the box knows nothing of the MAC. */
export async function renderDevicePage(
  ctx: AppContext, c: Context<AppEnv>, mac: string, flash: { ok?: string; error?: string; nameInput?: string }, status = 200,
): Promise<Response | undefined> {
  const { rows, stats } = await deviceRows(ctx);
  let row = rows.find((r) => r.device.mac === mac);
  if (row === undefined) {
    if (!ctx.deps.policy.overrides().blockedDevices.includes(mac)) return undefined;
    row = { device: unknownDevice(mac), openAlerts: 0, events7d: 0, blocked: true };
  }
  const sum: CategoryCounts = { inbound: 0, c2: 0, web: 0, malware: 0, endpoint: 0 };
  for (const a of row.device.addresses) for (const cat of CATEGORIES) sum[cat] += stats.get(a.ip)?.[cat] ?? 0;
  const v = ctx.view(c);
  return ctx.page(c, v.t.devices.title, deviceDetailBody(v, { row, stats: sum, ...flash }), status);
}

// ---- DNS ---------------------------------------------------------------------------------------

const DNS_PAGE = 50;
const DnsQuery = z.object({
  check: z.string().max(300).optional().catch(undefined),
  outcome: z.enum(["all", "blocked"]).optional().catch(undefined),
  page: PageNumber,
});

export async function renderDnsPage(
  ctx: AppContext, c: Context<AppEnv>, flash: { ok?: string; error?: string; domainInput?: string }, status = 200,
): Promise<Response> {
  const { deps } = ctx;
  const v = ctx.view(c);
  const q = DnsQuery.parse(c.req.method === "GET" ? c.req.query() : {});
  const now = deps.clock();
  const outcome = q.outcome ?? "all";
  const page = q.page ?? 1;
  const all = deps.dns?.recentQueries(1000) ?? [];
  const filtered = outcome === "blocked" ? all.filter(isBlockedOutcome) : all;
  const recent = filtered.slice((page - 1) * DNS_PAGE, page * DNS_PAGE);
  const checkInput = (q.check ?? "").trim();
  let result;
  if (checkInput !== "" && deps.dns !== undefined) {
    const ip = ctx.options.clientIp(c);
    result = await deps.dns.explain(checkInput, { ip, mac: deps.macOf(ip) });
  }
  const policy = deps.policy.current();
  const [topDomains, topClients] = await Promise.all([
    topBlockedDomains(deps.database, now - WEEK, now, 10),
    topBlockedClients(deps.database, now - WEEK, now, 10),
  ]);
  const data: DnsPageData = {
    running: deps.dns !== undefined,
    switchable: deps.policy.switchableCategories(),
    providerBlocked: policy.dns.blockCategories,
    overrides: deps.policy.overrides(),
    recent, outcome, page, hasMore: filtered.length > page * DNS_PAGE,
    topDomains, topClients,
    check: { input: checkInput, result },
    ...flash,
  };
  return ctx.page(c, v.t.dns.title, dnsBody(v, data), status);
}

// ---- routes ------------------------------------------------------------------------------------

const AlertQuery = z.object({
  state: optionalEnum(ALERT_STATES).catch(undefined),
  severity: optionalEnum(SEVERITIES).catch(undefined),
  ct: Int.optional().catch(undefined),
  ci: z.string().max(100).optional().catch(undefined),
});

const EventQuery = z.object({
  category: z.string().max(20).default(""),
  lan: z.string().max(60).default(""),
  remote: z.string().max(60).default(""),
  port: z.string().max(10).default(""),
  domain: z.string().max(300).default(""),
  from: z.string().max(30).default(""),
  to: z.string().max(30).default(""),
  ct: z.string().max(20).optional(),
  ci: z.string().max(20).optional(),
});

const DOMAIN_RE = /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;

export function registerPageRoutes(app: Hono<AppEnv>, ctx: AppContext): void {
  const { deps } = ctx;

  const rangeOf = (c: Context<AppEnv>): DashboardRange => (c.req.query("range") === "year" ? "year" : "week");

  app.get("/", async (c) => {
    const v = ctx.view(c);
    return ctx.page(c, v.t.dashboard.title, dashboardBody(v, await dashboardData(ctx, rangeOf(c))));
  });

  app.get("/fragments/dashboard", async (c) => c.html(dashboardFragment(ctx.view(c), await dashboardData(ctx, rangeOf(c)))));

  app.get("/alerts", async (c) => {
    const v = ctx.view(c);
    const q = AlertQuery.parse(c.req.query());
    const states: AlertState[] = q.state ? [q.state] : [];
    const severities: Severity[] = q.severity ? [q.severity] : [];
    const cursor = q.ct !== undefined && q.ci !== undefined ? { lastSeen: q.ct, id: q.ci } : undefined;
    const page = await alertPage(deps.database, { states, severities, cursor, limit: ctx.pageSize });
    return ctx.page(c, v.t.alerts.title, alertListBody(v, { states, severities, alerts: page.alerts, next: page.next, isFirst: cursor === undefined }));
  });

  app.get("/alerts/:id", async (c) => {
    const v = ctx.view(c);
    const id = c.req.param("id");
    const alert = id.length <= 100 ? await deps.alerts.getAlert(id) : undefined;
    if (alert === undefined) return ctx.page(c, v.t.alerts.title, messageBody(v.t.alerts.notFound), 404);
    const done = c.req.query("done");
    const ok = done === "acknowledged" ? v.t.alerts.acknowledged : done === "resolved" ? v.t.alerts.resolved : undefined;
    return ctx.page(c, v.t.alerts.title, alertDetailBody(v, alert, ok ? { ok } : {}));
  });

  app.get("/events", async (c) => {
    const v = ctx.view(c);
    const t = v.t.events;
    const raw = EventQuery.safeParse(c.req.query());
    const form: EventFilterForm = raw.success
      ? { category: raw.data.category, lan: raw.data.lan, remote: raw.data.remote, port: raw.data.port, domain: raw.data.domain, from: raw.data.from, to: raw.data.to }
      : { category: "", lan: "", remote: "", port: "", domain: "", from: "", to: "" };
    const bad: string[] = raw.success ? [] : [t.invalid];
    const filter: EventFilter = {};
    if (form.category !== "") {
      if ((CATEGORIES as readonly string[]).includes(form.category)) filter.category = form.category as EventFilter["category"];
      else bad.push(t.category);
    }
    if (form.lan.trim() !== "") {
      const ip = canonicalIp(form.lan);
      if (ip) filter.lanIp = ip;
      else bad.push(t.lan);
    }
    if (form.remote.trim() !== "") {
      const ip = canonicalIp(form.remote);
      if (ip) filter.remoteIp = ip;
      else bad.push(t.remote);
    }
    if (form.port.trim() !== "") {
      const p = /^\d{1,5}$/.test(form.port.trim()) ? Number(form.port.trim()) : -1;
      if (p >= 0 && p <= 65535) filter.port = p;
      else bad.push(t.port);
    }
    if (form.domain.trim() !== "") {
      const d = form.domain.trim().toLowerCase().replace(/\.$/, "");
      if (d.length <= 253 && DOMAIN_RE.test(d)) filter.domain = d;
      else bad.push(t.domain);
    }
    for (const [key, label] of [["from", t.from], ["to", t.to]] as const) {
      if (form[key] !== "") {
        const ms = fromDateTimeLocal(form[key]);
        if (ms === undefined) bad.push(label);
        else filter[key] = key === "to" ? ms + 60_000 : ms;
      }
    }
    const cursor = raw.success && raw.data.ct !== undefined && raw.data.ci !== undefined && /^\d{1,16}$/.test(raw.data.ct) && /^\d{1,16}$/.test(raw.data.ci)
      ? { time: Number(raw.data.ct), id: Number(raw.data.ci) } : undefined;
    if (bad.length > 0) {
      const error = `${t.invalid}: ${[...new Set(bad)].filter((b) => b !== t.invalid).join(v.t.common.listSeparator)}`;
      return ctx.page(c, t.title, eventListBody(v, { form, error, events: [], next: undefined, windowed: false, isFirst: true }), 400);
    }
    const page = await eventPage(deps.database, filter, cursor, ctx.pageSize);
    return ctx.page(c, t.title, eventListBody(v, { form, error: undefined, ...page, isFirst: cursor === undefined }));
  });

  app.get("/devices", async (c) => {
    const v = ctx.view(c);
    const q = (c.req.query("q") ?? "").slice(0, 100).trim().toLowerCase();
    const { rows } = await deviceRows(ctx);
    const matches = q === "" ? rows : rows.filter((r) => {
      const d = r.device;
      return [d.name, d.dhcpHostname, d.vendor, d.mac, ...d.addresses.map((a) => a.ip)]
        .some((s) => s !== null && s !== undefined && s.toLowerCase().includes(q));
    });
    const pages = Math.max(1, Math.ceil(matches.length / ctx.pageSize));
    const page = Math.min(pages, PageNumber.parse(c.req.query("page")) ?? 1);
    const shown = matches.slice((page - 1) * ctx.pageSize, page * ctx.pageSize);
    return ctx.page(c, v.t.devices.title, deviceListBody(v, { q, rows: shown, page, pages }));
  });

  app.get("/devices/:mac", async (c) => {
    const v = ctx.view(c);
    const mac = Mac.safeParse(c.req.param("mac"));
    if (!mac.success) return ctx.page(c, v.t.devices.title, messageBody(v.t.devices.badMac), 400);
    const done = c.req.query("done");
    const ok = done === "renamed" ? v.t.devices.renamed : done === "blocked" ? v.t.devices.blockedDone : done === "unblocked" ? v.t.devices.unblockedDone : undefined;
    const r = await renderDevicePage(ctx, c, mac.data, ok ? { ok } : {});
    return r ?? ctx.page(c, v.t.devices.title, messageBody(v.t.devices.notFound), 404);
  });

  app.get("/dns", (c) => {
    const v = ctx.view(c);
    return renderDnsPage(ctx, c, c.req.query("done") === "saved" ? { ok: v.t.dns.added } : {});
  });

  app.get("/policy", async (c) => {
    const v = ctx.view(c);
    const per = 20;
    const page = PageNumber.parse(c.req.query("page")) ?? 1;
    const history = await deps.policy.history(Math.min(1000, page * per + 1));
    return ctx.page(c, v.t.policy.title, policyBody(v, {
      policy: deps.policy.current(), overrides: deps.policy.overrides(),
      history: history.slice((page - 1) * per, page * per), page, hasMore: history.length > page * per,
    }));
  });

  app.get("/system", async (c) => {
    const v = ctx.view(c);
    return ctx.page(c, v.t.system.title, systemBody(v, await deps.status()));
  });

  app.get("/system/diagnostics", async (c) => {
    const now = deps.clock();
    const status = await deps.status();
    const overrides = deps.policy.overrides();
    // Status, counts and sizes only: no password hash, no session ids or tokens, no client list.
    const bundle = {
      generatedAt: new Date(now).toISOString(),
      status,
      counts: await storeCounts(deps.database),
      overrides: {
        allow: overrides.dns.allow.length, block: overrides.dns.block.length,
        categories: overrides.dns.categories, blockedDevices: overrides.blockedDevices.length,
      },
    };
    const stamp = new Date(now).toISOString().replace(/[:.]/g, "-");
    return c.body(JSON.stringify(bundle, null, 1), 200, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Disposition": `attachment; filename="sekisho-diagnostics-${stamp}.json"`,
    });
  });
}
