/**
 * Every page and action of the admin page through `app.request` on a seeded real database:
 * what it shows, what its filters and pages do, what each action changes (and that bad input
 * changes nothing), JST times, the English switch.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { c2 } from "../firmware/alerts/fixtures.ts";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { ADMIN_MAC, Browser, createFixture, HOSTILE, PC_IP, PC_MAC, seed, T0, type Fixture, ROUTER_MAC } from "./fixture.ts";

let f: Fixture;
let b: Browser;

async function setup(pageSize?: number): Promise<void> {
  f = await createFixture(pageSize === undefined ? {} : { pageSize });
  await seed(f);
  b = new Browser(f.app);
  expect((await b.login(f.password)).status).toBe(303);
  await b.get("/");
}
afterEach(() => f.close());

const text = (html: string): string => html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");

describe("dashboard", () => {
  beforeEach(() => setup());

  it("shows 要対応 with the reason, counts from rollups, a chart, open alerts first, devices online, the policy", async () => {
    const res = await b.get("/");
    expect(res.status).toBe(200);
    const html = await res.text();
    const t = text(html);
    expect(t).toContain("要対応");
    expect(t).toContain("未対応のアラートがあります（危険度 高：1件、中：1件）");
    // Today (JST, from 00:00): 2 scans, 1 c2, 2 web, 1 malware, 1 endpoint; the 2-day-old scan counts in the week only.
    expect(html).toMatch(/① 外部からの不正アクセス<\/a><\/th><td class="num">2<\/td><td class="num">3<\/td>/);
    expect(html).toMatch(/③ 不正サイトへのアクセス<\/a><\/th><td class="num">2<\/td><td class="num">2<\/td>/);
    expect(html).toContain("<svg");
    expect(html.match(/<rect /g)?.length).toBeGreaterThanOrEqual(5);
    expect(t).toContain("合計 8件");
    expect(html).toContain('hx-get="/fragments/dashboard"');
    expect(html).toContain('hx-trigger="every 5s"');
    // Open alerts: the high C&C alert before the endpoint one.
    const c2At = t.indexOf("ウイルス感染の疑い");
    expect(c2At).toBeGreaterThan(0);
    expect(t).toContain("2台（この10分間に通信あり）／登録 3台");
    expect(t).toContain("baseline-sme（版 1）");
    expect(t).toContain("2026-11-23 13:00:00 JST");
    expect(t.indexOf("ウイルス感染の疑い")).toBeLessThan(t.indexOf("機器からの警告"));
  });

  it("the year view sums a year of rollups by JST day", async () => {
    const html = await (await b.get("/?range=year")).text();
    expect(html).toContain("この1年間の件数（1日ごと）");
    expect(text(html)).toContain("合計 9件");
    expect(html).toContain('hx-get="/fragments/dashboard?range=year"');
  });

  it("the fragment htmx polls shows a new alert without a reload, and 保護中 once all is well", async () => {
    const before = await (await b.get("/fragments/dashboard", { "HX-Request": "true" })).text();
    expect(before).not.toContain("<html");
    expect(before).toMatch(/^<div id="dashboard" hx-get/);
    expect(before).not.toContain("192.0.2.60");
    const e: BoxEvent = c2(T0 - 60_000, "192.0.2.60", "203.0.113.99", "02:00:5e:00:53:60");
    await f.raise([e]);
    const after = await (await b.get("/fragments/dashboard", { "HX-Request": "true" })).text();
    expect(text(after)).toContain("危険度 高：2件");
    expect(after).toContain("192.0.2.60");
    for (const a of await f.alerts.listAlerts({ limit: 100 })) await f.alerts.resolve(a.id);
    const calm = text(await (await b.get("/fragments/dashboard")).text());
    expect(calm).toContain("保護中");
    expect(calm).not.toContain("要対応");
    f.health.dns = { ok: false, detail: "upstream timeout" };
    const sick = text(await (await b.get("/fragments/dashboard")).text());
    expect(sick).toContain("要対応");
    expect(sick).toContain("本機の一部が正常に動いていません：URLフィルタ（DNS）");
  });
});

describe("alerts", () => {
  beforeEach(() => setup());

  it("lists with state and severity filters; the detail explains in plain Japanese with evidence and device", async () => {
    const all = text(await (await b.get("/alerts")).text());
    expect(all).toContain("ウイルス感染の疑い");
    const low = text(await (await b.get("/alerts?severity=low")).text());
    expect(low).not.toContain("ウイルス感染の疑い");
    const resolved = text(await (await b.get("/alerts?state=resolved")).text());
    expect(resolved).toContain("条件に合うアラートはありません");
    const bogus = await b.get("/alerts?state=<x>&severity=zzz");
    expect(bogus.status).toBe(200);
    const detail = text(await (await b.get("/alerts/alert-1")).text());
    for (const s of ["何が起きたか", "どのくらい危険か", "何をすればよいか", "根拠", "端末", "203.0.113.99", PC_IP, PC_MAC, "2026年11月23日 13:50:00"]) expect(detail).toContain(s);
    expect((await b.get("/alerts/no-such")).status).toBe(404);
  });

  it("acknowledges and resolves; an action the state does not allow is refused and changes nothing", async () => {
    await b.get("/alerts/alert-1");
    const ack = await b.post("/alerts/alert-1/acknowledge", {});
    expect(ack.status).toBe(303);
    expect(ack.headers.get("location")).toBe("/alerts/alert-1?done=acknowledged");
    expect((await f.alerts.getAlert("alert-1"))?.state).toBe("acknowledged");
    expect(text(await (await b.get("/alerts/alert-1?done=acknowledged")).text())).toContain("アラートを確認済みにしました");
    expect((await b.post("/alerts/alert-1/resolve", {})).status).toBe(303);
    expect((await f.alerts.getAlert("alert-1"))?.state).toBe("resolved");
    const again = await b.post("/alerts/alert-1/acknowledge", {});
    expect(again.status).toBe(409);
    expect((await f.alerts.getAlert("alert-1"))?.state).toBe("resolved");
    expect((await b.post("/alerts/nope/resolve", {})).status).toBe(404);
  });

  it("pages with a keyset cursor", async () => {
    f.close();
    await setup(1);
    const first = await (await b.get("/alerts")).text();
    const next = /href="(\/alerts\?ct=\d+&amp;ci=[^"]+)" rel="next"/.exec(first);
    expect(next).not.toBeNull();
    const second = await (await b.get(next![1]!.replaceAll("&amp;", "&"))).text();
    const id = (html: string) => /href="\/alerts\/([^"]+)"/.exec(html)?.[1];
    expect(id(first)).toBeDefined();
    expect(id(second)).toBeDefined();
    expect(id(second)).not.toBe(id(first));
    expect(second).not.toMatch(/rel="next"/);
  });
});

describe("events", () => {
  beforeEach(() => setup());

  it("filters by category, device, remote, port, domain and time range, in JST", async () => {
    const all = text(await (await b.get("/events")).text());
    expect(all).toContain("2026-11-23 13:30:00");
    const only = async (q: string): Promise<string> => text(await (await b.get(`/events?${q}`)).text());
    const inbound = await only("category=inbound");
    expect(inbound).toContain("203.0.113.7");
    expect(inbound).not.toContain("malware.example");
    expect(await only(`lan=${PC_IP}`)).toContain("203.0.113.99");
    expect(await only(`lan=${PC_IP}`)).not.toContain("203.0.113.7");
    expect(await only("remote=203.0.113.7&port=23")).toContain("2026-11-23 13:31:00");
    expect(await only("remote=203.0.113.7&port=23")).not.toContain("2026-11-23 13:30:00");
    const domain = await only("domain=malware.example");
    expect(domain).toContain("malware.example");
    expect(domain).not.toContain("dl.malware.example");
    // 13:29-13:30 JST: only the first scan.
    const range = await only("from=2026-11-23T13:29&to=2026-11-23T13:30");
    expect(range).toContain("2026-11-23 13:30:00");
    expect(range).not.toContain("2026-11-23 13:31:00");
    expect(range).not.toContain("13:50:00");
    const endpoint = await (await b.get("/events?category=endpoint")).text();
    expect(endpoint).toContain("disk failure &lt;img src=x onerror=alert(1)&gt;");
  });

  it("refuses a bad filter with 400 and says which field", async () => {
    for (const [q, field] of [["port=70000", "ポート"], ["lan=192.0.2.999", "端末"], ["domain=%3Cscript%3E", "ドメイン"], ["from=2026-02-31T00:00", "開始日時"], ["category=evil", "分類"]] as const) {
      const res = await b.get(`/events?${q}`);
      expect(res.status, q).toBe(400);
      const html = await res.text();
      expect(text(html)).toContain(`検索条件が正しくありません: ${field}`);
      expect(html).not.toContain("<script>");
    }
  });

  it("pages on (time, id)", async () => {
    f.close();
    await setup(3);
    const seen: string[] = [];
    let path: string | undefined = "/events";
    for (let i = 0; i < 10 && path; i++) {
      const html = await (await b.get(path)).text();
      for (const m of html.matchAll(/<time>([^<]+)<\/time>/g)) seen.push(m[1]!);
      path = /href="([^"]+)" rel="next"/.exec(html)?.[1]?.replaceAll("&amp;", "&");
    }
    expect(seen).toHaveLength(9);
    expect([...seen].sort().reverse()).toEqual(seen);
  });
});

describe("devices", () => {
  beforeEach(() => setup());

  it("lists vendor, names, addresses, first/last seen, open alerts and 7-day counts; filters", async () => {
    const html = await (await b.get("/devices")).text();
    const t = text(html);
    expect(t).toContain("taro-pc");
    expect(t).toContain("ランダムMAC");
    expect(t).toContain(PC_IP);
    expect(t).toContain("2026-11-23 13:59:00");
    // PC: one open alert; 4 events in the rollups (c2, 2 web, 1 malware).
    expect(html).toMatch(/02:00:5e:00:53:10<\/code><\/small><\/td>\s*<td data-label="[^"]+"><time>[^<]+<\/time><\/td>\s*<td data-label="[^"]+"><time>[^<]+<\/time><\/td>\s*<td class="num" data-label="[^"]+">1<\/td>\s*<td class="num" data-label="[^"]+">4<\/td>/);
    const filtered = text(await (await b.get("/devices?q=taro")).text());
    expect(filtered).toContain("taro-pc");
    expect(filtered).not.toContain(PC_IP);
    const detail = text(await (await b.get(`/devices/${PC_MAC}`)).text());
    expect(detail).toContain("この7日間の分類ごとの件数");
    expect((await b.get("/devices/02:00:5e:00:53:99")).status).toBe(404);
    expect((await b.get("/devices/not-a-mac")).status).toBe(400);
  });

  it("renames; an overlong or control-character name is refused and changes nothing", async () => {
    await b.get(`/devices/${PC_MAC}`);
    expect((await b.post(`/devices/${PC_MAC}/rename`, { name: "経理のPC" })).status).toBe(303);
    expect(f.inventory.getDevice(PC_MAC)?.name).toBe("経理のPC");
    const long = await b.post(`/devices/${PC_MAC}/rename`, { name: "あ".repeat(65) });
    expect(long.status).toBe(400);
    expect(text(b.lastBody)).toContain("名前は64文字以内にしてください");
    const ctl = await b.post(`/devices/${PC_MAC}/rename`, { name: "a\u0000b; rm -rf /" });
    expect(ctl.status).toBe(400);
    expect(f.inventory.getDevice(PC_MAC)?.name).toBe("経理のPC");
    expect((await b.post("/devices/02:00:5e:00:53:99/rename", { name: "x" })).status).toBe(404);
  });

  it("blocks and unblocks through the policy; refuses a bad MAC (Pi-hole's MAC field) and the admin's own device", async () => {
    await b.get(`/devices/${PC_MAC}`);
    const res = await b.post(`/devices/${PC_MAC}/block`, {});
    expect(res.status).toBe(303);
    expect(f.policy.overridesValue.blockedDevices).toEqual([PC_MAC]);
    expect(text(await (await b.get(`/devices/${PC_MAC}?done=blocked`)).text())).toContain("通信を遮断中");
    for (const bad of ["02:00:5e:00:53:10;reboot", "$(reboot)", "02:00:5e:00:53", "zz:zz:zz:zz:zz:zz", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"]) {
      expect((await b.post(`/devices/${encodeURIComponent(bad)}/block`, {})).status).toBe(400);
    }
    const self = await b.post(`/devices/${ADMIN_MAC}/block`, {});
    expect(self.status).toBe(409);
    expect(text(b.lastBody)).toContain("いま操作しているこの端末自身は遮断できません");
    expect(f.policy.overridesValue.blockedDevices).toEqual([PC_MAC]);
    // The office router (or the box itself): blocking it would cut everyone off.
    expect((await b.post(`/devices/${ROUTER_MAC}/block`, {})).status).toBe(409);
    expect(text(b.lastBody)).toContain("ルーターまたは本機自身のため遮断できません");
    expect(f.policy.overridesValue.blockedDevices).toEqual([PC_MAC]);
    f.policy.failNext = true;
    expect((await b.post(`/devices/${PC_MAC}/unblock`, {})).status).toBe(502);
    expect(f.policy.overridesValue.blockedDevices).toEqual([PC_MAC]);
    expect((await b.post(`/devices/${PC_MAC}/unblock`, {})).status).toBe(303);
    expect(f.policy.overridesValue.blockedDevices).toEqual([]);
    expect(f.policy.changes.map((c) => c.kind)).toEqual(["block-device", "unblock-device", "unblock-device"]);
  });
});

describe("URL filter", () => {
  beforeEach(() => setup());

  it("shows recent queries with one-click allow / block, top sites and clients, the precedence", async () => {
    const html = await (await b.get("/dns")).text();
    const t = text(html);
    expect(t).toContain("どの設定が優先されるか");
    expect(t).toContain("このサイトを許可");
    expect(t).toContain("よく遮断されたサイト");
    expect(html).toContain('<a href="/events?lan=192.0.2.10">192.0.2.10</a>');
    const blockedOnly = text(await (await b.get("/dns?outcome=blocked")).text());
    expect(blockedOnly).not.toContain("news.example.org");
  });

  it("allows a blocked site from the query log: the filter's decision changes", async () => {
    const before = text(await (await b.get("/dns?check=malware.example")).text());
    expect(before).toContain("遮断されます");
    expect(before).toContain("リスト bad-sites");
    const res = await b.post("/dns/allow", { domain: "malware.example" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/dns?done=saved");
    expect(f.policy.overridesValue.dns.allow).toEqual(["malware.example"]);
    const after = text(await (await b.get("/dns?check=malware.example")).text());
    expect(after).toContain("許可されます（許可リストに一致）");
    expect(after).toContain("この本体の設定");
    expect((await b.post("/dns/block", { domain: "Social.Example." })).status).toBe(303);
    expect(f.policy.overridesValue.dns.block).toEqual(["social.example"]);
    expect((await b.post("/dns/reset", { domain: "malware.example" })).status).toBe(303);
    expect(f.policy.overridesValue.dns.allow).toEqual([]);
  });

  it("refuses a bad domain with a clear error, echoing it escaped, and changes nothing", async () => {
    await b.get("/dns");
    for (const bad of ["<script>alert(1)</script>", "a b.example", "x".repeat(300), "evil.example; nft flush ruleset", ""]) {
      const res = await b.post("/dns/allow", { domain: bad });
      expect(res.status).toBe(400);
      expect(text(b.lastBody)).toContain("ドメインの形式が正しくありません");
      expect(b.lastBody).not.toContain("<script>alert");
    }
    expect(f.policy.changes).toEqual([]);
  });

  it("switches a category the provider allows, refuses one it does not", async () => {
    await b.get("/dns");
    expect((await b.post("/dns/category", { category: "ads", blocked: "false" })).status).toBe(303);
    expect(f.policy.overridesValue.dns.categories).toEqual({ ads: false });
    expect(text(await (await b.get("/dns?check=ads.example")).text())).toContain("許可されます（どのリストにも一致しません）");
    const refused = await b.post("/dns/category", { category: "malware", blocked: "false" });
    expect(refused.status).toBe(403);
    expect(text(b.lastBody)).toContain("この分類は提供事業者が変更を許していません");
    expect((await b.post("/dns/category", { category: "ads", blocked: "maybe" })).status).toBe(400);
    expect((await b.post("/dns/category", { category: "ads", blocked: "reset" })).status).toBe(303);
    expect(f.policy.overridesValue.dns.categories).toEqual({});
  });
});

describe("policy, system, diagnostics", () => {
  beforeEach(() => setup());

  it("explains the policy in words, with the local overrides and the history", async () => {
    await b.get("/dns");
    await b.post("/dns/allow", { domain: "malware.example" });
    const html = await (await b.get("/policy")).text();
    const t = text(html);
    expect(t).toContain("インターネットから社内への新しい接続は");
    expect(t).toContain("SSH（ポート 22）");
    expect(t).toContain("Telnet は暗号化されず");
    expect(t).toContain("その送信元を10分遮断します");
    expect(t).toContain("malware.example を許可");
    expect(t).toContain("追加 2件・削除 0件・変更 0件");
    expect(html).not.toMatch(/"schemaVersion"/);
  });

  it("shows version, uptime, mode, interfaces, health, storage; the bundle has no secrets", async () => {
    const t = text(await (await b.get("/system")).text());
    for (const s of ["0.1.0-test", "2日 3時間 4分", "ブリッジ", "wan0", "192.0.2.2", "正常", "12.3 MB"]) expect(t).toContain(s);
    const res = await b.get("/system/diagnostics");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="sekisho-diagnostics-/);
    const body = await res.text();
    const bundle = JSON.parse(body);
    expect(bundle.status.firmwareVersion).toBe("0.1.0-test");
    expect(bundle.counts.alerts).toBe(2);
    const hash = String((await f.database.client.execute("SELECT hash FROM webui_admin")).rows[0]![0]);
    const sessions = (await f.database.client.execute("SELECT id_hash, csrf FROM webui_sessions")).rows.flatMap((r) => [String(r[0]), String(r[1])]);
    for (const secret of [hash, "scrypt$", f.password, b.cookies.get("sk_session")!, ...sessions]) expect(body).not.toContain(secret);
  });
});

describe("failures", () => {
  beforeEach(() => setup());

  it("an unexpected error is a 500 page in the user's words; the detail goes to the operator log only", async () => {
    const status = f.deps.status;
    f.deps.status = async () => {
      throw new Error("status.json unreadable: /run/sekisho/status.json");
    };
    const res = await b.get("/system");
    expect(res.status).toBe(500);
    const html = await res.text();
    expect(text(html)).toContain("操作できませんでした");
    expect(html).not.toContain("/run/sekisho");
    expect(f.logs.some((l) => l.includes('GET "/system" failed: "Error: status.json unreadable'))).toBe(true);
    f.deps.status = status;
    expect((await b.get("/system")).status).toBe(200);
  });

  it("htmx requests may carry the token in X-CSRF-Token instead of a form field", async () => {
    const res = await b.post("/alerts/alert-1/acknowledge", {}, { csrf: null, headers: { "X-CSRF-Token": b.csrf!, "HX-Request": "true" } });
    expect(res.status).toBe(303);
    expect((await f.alerts.getAlert("alert-1"))?.state).toBe("acknowledged");
  });
});

describe("language", () => {
  beforeEach(() => setup());

  it("switches to English with a cookie; times stay in JST and numbers are grouped", async () => {
    await b.get("/events");
    const res = await b.post("/lang", { lang: "en", back: "/events" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/events");
    expect(b.cookies.get("lang")).toBe("en");
    const html = await (await b.get("/")).text();
    expect(html).toContain('<html lang="en">');
    const t = text(html);
    expect(t).toContain("Needs attention");
    expect(t).toContain("All times are Japan Standard Time (JST).");
    expect(t).toContain("2026-11-23 13:00:00 JST");
    expect(text(await (await b.get("/alerts/alert-1")).text())).toContain("What happened");
    const sys = text(await (await b.get("/system")).text());
    expect(sys).toContain("98.8 MB");
    // An open redirect is not possible through `back`.
    for (const back of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
      const r = await b.post("/lang", { lang: "ja", back });
      expect(r.headers.get("location")).toBe("/");
    }
  });
});
