/**
 * The admin page over real parts: a libsql file in a temp dir with every capability's
 * migrations, the real AlertStore (fed by the real AlertEngine), the real DeviceInventory,
 * events and rollups written by the event store's own batch writer, and the real DNS filter
 * recompiled on each local change. Only `deps.policy` is small and in-test (the real one
 * applies nft): it uses the contract's own applyOverrideChange / mergeOverrides.
 * Documentation addresses only.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "hono";
import { AlertEngine } from "../../firmware/alerts/engine.ts";
import { AlertStore, applyAlertMigrations } from "../../firmware/alerts/store.ts";
import type { AlertChange } from "../../firmware/alerts/types.ts";
import { compileDnsFilter, explainName, type DnsFilter } from "../../firmware/dns/filter.ts";
import type { DnsQueryRecord } from "../../firmware/dns/query-log.ts";
import { RollupAccumulator } from "../../firmware/events/rollups.ts";
import { applyEventMigrations, writeStoreBatch } from "../../firmware/events/store.ts";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { DeviceInventory } from "../../firmware/inventory/inventory.ts";
import { INVENTORY_MIGRATIONS } from "../../firmware/inventory/service.ts";
import { loadVendorTable, type VendorTable } from "../../firmware/inventory/vendor.ts";
import { applyMigrations, closeDatabase, openDatabase, type Database } from "../../firmware/store/database.ts";
import {
  applyOverrideChange, EMPTY_OVERRIDES, mergeOverrides, type LocalOverrides, type OverrideChange, type PolicyHistoryEntry,
} from "../../policies/overrides.ts";
import { parsePolicy, type Policy } from "../../policies/schema.ts";
import { createAdminApp } from "../../webui/app.ts";
import { ensureAdminPassword } from "../../webui/auth/password.ts";
import type { AdminDeps, BoxStatus, PolicyChangeResult } from "../../webui/deps.ts";
import { applyWebuiMigrations } from "../../webui/store.ts";
import { c2, lookupRule, manualClock, sequentialIds, syslogFrom, T0 } from "../firmware/alerts/fixtures.ts";

export { T0 };
export const HOSTILE = "<img src=x onerror=alert(1)>";
export const ROOT = join(import.meta.dirname ?? ".", "..", "..");
/** Cheap scrypt for tests (the record carries its own cost; the default is tested apart). */
export const TEST_COST = { N: 2 ** 10, r: 8, p: 1 };

export const PC_MAC = "02:00:5e:00:53:10";
export const PC_IP = "192.0.2.10";
export const ADMIN_MAC = "02:00:5e:00:53:20";
export const ADMIN_IP = "192.0.2.20";
/** The office router, as the firmware's infrastructure check reports it. */
export const ROUTER_MAC = "02:00:5e:00:53:30";

function testPolicy(): Policy {
  const raw = JSON.parse(readFileSync(join(ROOT, "policies", "baseline.json"), "utf8"));
  raw.blocklists[0].entries = ["203.0.113.99"];
  raw.dns.dohAddresses = ["192.0.2.53"];
  raw.dns.blockCategories = ["malware", "phishing", "c2", "ads"];
  raw.dns.lists = [
    { id: "bad-sites", category: "malware", format: "domains", match: "subdomain", entries: ["malware.example", "evil.example"] },
    { id: "ad-sites", category: "ads", format: "domains", match: "subdomain", entries: ["ads.example"] },
  ];
  const p = parsePolicy(raw);
  if (!p.ok) throw new Error(`test policy: ${JSON.stringify(p.problems)}`);
  return p.value;
}

/** The in-test PolicyControl: the contract's pure functions, a real DNS filter recompile. */
export class TestPolicy {
  readonly policy = testPolicy();
  overridesValue: LocalOverrides = structuredClone(EMPTY_OVERRIDES);
  readonly historyRows: PolicyHistoryEntry[] = [];
  filter: DnsFilter;
  changes: OverrideChange[] = [];
  failNext = false;
  #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
    this.filter = this.#compile(this.overridesValue);
    this.historyRows.push({ id: 1, time: T0 - 86_400_000, source: "provider", policyId: this.policy.id, serial: this.policy.serial, diff: { added: ["port-scan", "bf-ssh"], removed: [], changed: [] } });
  }

  #compile(o: LocalOverrides): DnsFilter {
    const merged = mergeOverrides(this.policy, o);
    const r = compileDnsFilter({
      policy: merged.policy.dns, listTexts: new Map(), overrides: merged.dnsOverrides,
      box: { management4: "192.0.2.2", blockPage4: "192.0.2.2" },
    });
    if (!r.ok) throw new Error(`dns filter: ${JSON.stringify(r.error)}`);
    return r.filter;
  }

  control(): AdminDeps["policy"] {
    return {
      current: () => this.policy,
      overrides: () => this.overridesValue,
      change: async (change): Promise<PolicyChangeResult> => {
        this.changes.push(change);
        if (this.failNext) {
          this.failNext = false;
          return { ok: false, error: "nft refused the batch (test)" };
        }
        const r = applyOverrideChange(this.policy, this.overridesValue, change);
        if (!r.ok) return r;
        this.filter = this.#compile(r.overrides);
        this.overridesValue = r.overrides;
        this.historyRows.unshift({ id: this.historyRows.length + 1, time: this.#clock(), source: "local", policyId: this.policy.id, serial: this.policy.serial, change });
        return { ok: true, overrides: r.overrides };
      },
      history: async (limit) => this.historyRows.slice(0, limit),
      switchableCategories: () => this.policy.dns.localSwitchable,
    };
  }
}

export type Fixture = Awaited<ReturnType<typeof createFixture>>;

let vendors: VendorTable | undefined;

/** A seeded box and its admin app. Call `close()` after. */
export async function createFixture(options: { pageSize?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-webui-"));
  const database: Database = await openDatabase(join(dir, "sekisho.db"));
  await applyEventMigrations(database);
  await applyAlertMigrations(database);
  await applyMigrations(database, INVENTORY_MIGRATIONS, "inventory");
  await applyWebuiMigrations(database);
  const clock = manualClock(T0);
  const password = await ensureAdminPassword(database, { clock: clock.now, cost: TEST_COST });
  if (password === undefined) throw new Error("no password generated");

  // Alerts: engine → store, as the alert service does it.
  const engine = new AlertEngine({ clock: clock.now, lookupRule, newId: sequentialIds("alert") });
  const alerts = new AlertStore({ database, clock: clock.now, newId: sequentialIds("re") });
  const raise = async (events: BoxEvent[]): Promise<AlertChange[]> => {
    const r = await alerts.applyChanges(engine.process(events));
    engine.sync(r.applied.map((c) => c.alert));
    return r.applied;
  };

  // Events and rollups through the event store's batch writer.
  const writeEvents = async (events: BoxEvent[]): Promise<void> => {
    const acc = new RollupAccumulator();
    for (const e of events) acc.add(e);
    await writeStoreBatch(database, { events, opened: [], updated: [], rollups: acc.takeDeltas() });
  };

  // Devices through the real inventory.
  vendors ??= await loadVendorTable();
  const inventory = new DeviceInventory({ database, vendors, emit: () => {}, clock: clock.now, baselineMs: 0, announceDelayMs: 0 });
  await inventory.load();
  await inventory.observe([
    { time: T0 - 60_000, source: "dhcp", mac: PC_MAC, ip: PC_IP, hostname: HOSTILE },
    { time: T0 - 120_000, source: "dhcp", mac: ADMIN_MAC, ip: ADMIN_IP, hostname: "taro-pc" },
    { time: T0 - 3 * 3_600_000, source: "neighbour", mac: "02:00:5e:00:53:30", ip: "192.0.2.30" },
  ]);

  const policy = new TestPolicy(clock.now);
  const queries: DnsQueryRecord[] = [];
  const emitted: BoxEvent[] = [];
  const logs: string[] = [];
  const client = { ip: ADMIN_IP };
  const health = { enforcer: { ok: true, detail: "ruleset applied" }, ulogd: { ok: true, detail: "running" }, dns: { ok: true, detail: "serving" }, events: { ok: true, detail: "writing" } };
  const status = (): BoxStatus => ({
    firmwareVersion: "0.1.0-test",
    startedAt: T0 - (2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000),
    mode: "bridge",
    interfaces: [{ role: "wan", name: "wan0" }, { role: "lan", name: "lan0" }, { role: "bridge", name: "br0" }],
    managementAddresses: ["192.0.2.2"],
    policy: { id: policy.policy.id, serial: policy.policy.serial, description: policy.policy.description ?? "", appliedAt: T0 - 3_600_000 },
    health: structuredClone(health),
    storage: { databaseBytes: 12_345_678, dataDirBytes: 98_765_432 },
    dns: null,
  });

  const deps: AdminDeps = {
    database,
    clock: clock.now,
    alerts,
    devices: { list: async () => inventory.listDevices(), rename: (mac, name) => inventory.rename(mac, name) },
    policy: policy.control(),
    status: async () => status(),
    dns: {
      explain: (name, c) => explainName(policy.filter, name, c),
      recentQueries: (limit) => queries.slice(0, limit),
    },
    macOf: (ip) => inventory.listDevices().find((d) => d.addresses.some((a) => a.ip === ip))?.mac,
    isInfrastructure: async (mac) => mac === ROUTER_MAC,
    emit: (events) => emitted.push(...events),
    log: (m) => logs.push(m),
  };
  const app = createAdminApp(deps, {
    clientIp: (_c: Context) => client.ip,
    scryptCost: TEST_COST,
    appRoot: ROOT,
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
  });

  return {
    dir, database, clock, password, alerts, raise, writeEvents, inventory, policy, queries, emitted, logs, client, health, deps, app,
    close: () => {
      closeDatabase(database);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The standard seed: events in every category, a C&C alert, an endpoint alert with markup, DNS queries. */
export async function seed(f: Fixture): Promise<void> {
  const web = (time: number, domain: string, lanIp = PC_IP): BoxEvent => ({
    time, category: "web", severity: "low", kind: "blocklist", logId: "dns-block.bad-sites", ruleId: "dns-block",
    direction: "outbound", action: "drop", lanIp, domain, proto: "udp", port: 53,
  });
  const scan = (time: number, port: number): BoxEvent => ({
    time, category: "inbound", severity: "low", kind: "scan", logId: "sys-inbound", ruleId: "sys-inbound",
    direction: "inbound", action: "drop", lanIp: "192.0.2.40", remoteIp: "203.0.113.7", proto: "tcp", port,
  });
  const events: BoxEvent[] = [
    scan(T0 - 30 * 60_000, 22), scan(T0 - 29 * 60_000, 23), scan(T0 - 2 * 86_400_000, 3389),
    c2(T0 - 10 * 60_000, PC_IP, "203.0.113.99", PC_MAC),
    web(T0 - 5 * 60_000, HOSTILE), web(T0 - 4 * 60_000, "malware.example"),
    { ...web(T0 - 3 * 60_000, "dl.malware.example"), category: "malware", severity: "medium" },
    syslogFrom(T0 - 2 * 60_000, "192.0.2.30", 3, `disk failure ${HOSTILE}`, "smartd"),
    // Before the week: counts in the year view only.
    scan(T0 - 100 * 86_400_000, 445),
  ];
  await f.writeEvents(events);
  await f.raise([c2(T0 - 10 * 60_000, PC_IP, "203.0.113.99", PC_MAC)]);
  await f.raise([syslogFrom(T0 - 2 * 60_000, "192.0.2.30", 2, `disk failure ${HOSTILE}`, "smartd")]);
  f.queries.push(
    { time: T0 - 5 * 60_000, client: PC_IP, protocol: "udp", name: HOSTILE, qtype: 1, outcome: "blocked", rcode: 0, rule: "bad-sites", source: "bad-sites", category: "malware", action: "block" },
    { time: T0 - 4 * 60_000, client: PC_IP, protocol: "udp", name: "malware.example", qtype: 1, outcome: "blocked", rcode: 0, rule: "malware.example", source: "bad-sites", category: "malware", action: "block" },
    { time: T0 - 3 * 60_000, client: ADMIN_IP, protocol: "udp", name: "news.example.org", qtype: 1, outcome: "forwarded", rcode: 0 },
  );
}

/** A browser for `app.request`: keeps cookies, reads the CSRF token off the last page. */
export class Browser {
  readonly cookies = new Map<string, string>();
  csrf: string | undefined;
  lastBody = "";
  readonly #app: Fixture["app"];
  readonly #base: string;

  constructor(app: Fixture["app"], base = "http://sekisho.home.arpa") {
    this.#app = app;
    this.#base = base;
  }

  #cookieHeader(): Record<string, string> {
    return this.cookies.size === 0 ? {} : { Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  }

  #keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      if (value === "" || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.#app.request(`${this.#base}${path}`, { headers: { ...this.#cookieHeader(), ...headers } });
    this.#keep(res);
    const body = await res.clone().text();
    this.lastBody = body;
    const m = /name="_csrf" value="([^"]*)"/.exec(body);
    if (m) this.csrf = m[1];
    return res;
  }

  /** A form POST; `_csrf` is the page's token unless `csrf` says otherwise (null: none). */
  async post(path: string, form: Record<string, string>, options: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<Response> {
    const body = new URLSearchParams(form);
    const token = options.csrf === undefined ? this.csrf : options.csrf;
    if (token !== null && token !== undefined) body.set("_csrf", token);
    const res = await this.#app.request(`${this.#base}${path}`, {
      method: "POST",
      body: body.toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...this.#cookieHeader(), ...(options.headers ?? {}) },
    });
    this.#keep(res);
    this.lastBody = await res.clone().text();
    return res;
  }

  async login(password: string): Promise<Response> {
    await this.get("/login");
    return this.post("/login", { password });
  }
}
