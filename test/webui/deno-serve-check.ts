// Run by deno.test.ts under Deno with the box's permission flags: serves the admin page with
// `Deno.serve(app.fetch)` on loopback (port 0), as the firmware will, and walks it over real
// HTTP: login page, an asset, login with the first-start password, the dashboard, an upgrade
// refused. Prints one JSON report on stdout. Argument: the data directory.
import { join } from "node:path";
import type { Context } from "hono";
import { AlertStore, applyAlertMigrations } from "../../firmware/alerts/store.ts";
import { applyEventMigrations } from "../../firmware/events/store.ts";
import { closeDatabase, openDatabase } from "../../firmware/store/database.ts";
import { EMPTY_OVERRIDES } from "../../policies/overrides.ts";
import { parsePolicy } from "../../policies/schema.ts";
import baseline from "../../policies/baseline.json" with { type: "json" };
import { createAdminApp } from "../../webui/app.ts";
import { ensureAdminPassword } from "../../webui/auth/password.ts";
import { applyWebuiMigrations } from "../../webui/store.ts";

type ServeInfo = { remoteAddr: { hostname: string } };
type DenoLike = {
  args: string[];
  serve(options: { hostname: string; port: number; onListen?: () => void }, handler: (req: Request, info: ServeInfo) => Response | Promise<Response>): {
    addr: { port: number }; shutdown(): Promise<void>;
  };
};
const Deno = (globalThis as unknown as { Deno: DenoLike }).Deno;

const database = await openDatabase(join(Deno.args[0]!, "sekisho.db"));
await applyEventMigrations(database);
await applyAlertMigrations(database);
await applyWebuiMigrations(database);
const password = await ensureAdminPassword(database);
const policy = parsePolicy(baseline);
if (!policy.ok || password === undefined) throw new Error("setup failed");
const app = createAdminApp({
  database, clock: Date.now, alerts: new AlertStore({ database }),
  devices: { list: async () => [], rename: async () => ({ ok: false, error: "none" }) },
  policy: {
    current: () => policy.value, overrides: () => EMPTY_OVERRIDES, change: async () => ({ ok: false, error: "read only" }),
    history: async () => [], switchableCategories: () => policy.value.dns.localSwitchable,
  },
  status: async () => ({
    firmwareVersion: "deno-check", startedAt: Date.now(), mode: "bridge", interfaces: [], managementAddresses: ["127.0.0.1"],
    policy: { id: policy.value.id, serial: policy.value.serial, description: "", appliedAt: null },
    health: { enforcer: { ok: true, detail: "" }, ulogd: { ok: true, detail: "" }, dns: { ok: true, detail: "" }, events: { ok: true, detail: "" } },
    storage: { databaseBytes: 0, dataDirBytes: 0 }, dns: null,
  }),
  dns: undefined, macOf: () => undefined, isInfrastructure: async () => false, emit: () => {}, log: () => {},
}, { clientIp: (c: Context) => (c.env as ServeInfo).remoteAddr.hostname });

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req, info) => app.fetch(req, info));
const base = `http://127.0.0.1:${server.addr.port}`;
const report: Record<string, unknown> = {};
const loginPage = await fetch(`${base}/login`);
const html = await loginPage.text();
const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
const loginCookie = loginPage.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
report.login = { status: loginPage.status, csp: loginPage.headers.get("content-security-policy") !== null, japanese: html.includes("ログイン") };
const asset = await fetch(`${base}/assets/htmx.min.js`);
report.asset = { status: asset.status, bytes: (await asset.arrayBuffer()).byteLength };
const posted = await fetch(`${base}/login`, {
  method: "POST", redirect: "manual",
  headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: loginCookie },
  body: new URLSearchParams({ _csrf: token, password }).toString(),
});
await posted.body?.cancel();
const session = posted.headers.getSetCookie().find((c) => c.startsWith("sk_session="))?.split(";")[0] ?? "";
report.loggedIn = { status: posted.status, session: session !== "" };
const dash = await fetch(`${base}/`, { headers: { Cookie: session }, redirect: "manual" });
report.dashboard = { status: dash.status, protectedShown: (await dash.text()).includes("保護中") };
const upgrade = await fetch(`${base}/`, { headers: { Upgrade: "h2c", Cookie: session }, redirect: "manual" });
await upgrade.body?.cancel();
report.upgrade = upgrade.status;
await server.shutdown();
closeDatabase(database);
console.log(JSON.stringify(report));
