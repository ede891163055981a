/**
 * The admin page's security model through `app.request` on a real database: headers, upgrade
 * refusal before auth, authentication on every route, CSRF on every POST (nothing changes
 * without a valid token), the login lockout and its event, sessions and their expiry,
 * the password change, escaping of hostile text.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAdminApp, CSP } from "../../webui/app.ts";
import { MAX_TRACKED_CLIENTS, recordLoginFailure } from "../../webui/auth/rate-limit.ts";
import { Browser, createFixture, HOSTILE, ROOT, seed, TEST_COST, type Fixture } from "./fixture.ts";

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
  await seed(f);
});
afterEach(() => f.close());

const PAGES = ["/", "/fragments/dashboard", "/alerts", "/alerts/alert-1", "/events", "/devices", "/devices/02:00:5e:00:53:10", "/dns", "/policy", "/system", "/system/diagnostics", "/password", "/no-such-page"];

async function loggedIn(): Promise<Browser> {
  const b = new Browser(f.app);
  const res = await b.login(f.password);
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/");
  await b.get("/");
  return b;
}

async function alertState(id: string): Promise<string | undefined> {
  return (await f.alerts.getAlert(id))?.state;
}

describe("security headers", () => {
  it("are on every response: pages, login, 404, assets, redirects, refusals", async () => {
    const b = await loggedIn();
    const anon = new Browser(f.app);
    const responses = [
      await anon.get("/login"), await anon.get("/"), await anon.get("/assets/pico.min.css"),
      await b.get("/"), await b.get("/no-such-page"), await b.get("/system/diagnostics"),
      await b.post("/alerts/alert-1/acknowledge", {}, { csrf: null }),
      await anon.get("/", { Upgrade: "h2c" }),
    ];
    for (const res of responses) {
      expect(res.headers.get("content-security-policy")).toBe(CSP);
      expect(CSP).toContain("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
    }
    expect((await b.get("/")).headers.get("cache-control")).toBe("no-store");
    expect((await b.get("/fragments/dashboard")).headers.get("cache-control")).toBe("no-store");
  });

  it("serves htmx and pico from the box, and no page has inline script or style", async () => {
    const anon = new Browser(f.app);
    const js = await anon.get("/assets/htmx.min.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(await js.text()).toMatch(/htmx/);
    const css = await anon.get("/assets/pico.min.css");
    expect(css.headers.get("content-type")).toMatch(/text\/css/);
    expect((await anon.get("/assets/app.css")).status).toBe(200);
    expect((await anon.get("/assets/../package.json")).status).not.toBe(200);
    // Only the assets themselves are public: any other path under /assets/ needs a login.
    expect((await anon.get("/assets/secret.js")).status).toBe(302);
    const b = await loggedIn();
    for (const path of PAGES.filter((p) => !p.includes("diagnostics"))) {
      const html = await (await b.get(path)).text();
      // Every <script> has a src and nothing else in it; no style attribute, no on* handler.
      for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
        expect(m[1]).toMatch(/src="\/assets\/htmx\.min\.js"/);
        expect(m[2]).toBe("");
      }
      // Attribute names only (quoted values, which are escaped text, removed).
      const attributes = [...html.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0].replace(/"[^"]*"|'[^']*'/g, '""')).join("\n");
      expect(attributes).not.toMatch(/\sstyle=/i);
      expect(attributes).not.toMatch(/\son[a-z]+=/i);
      expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
  });
});

describe("protocol upgrades", () => {
  it("are refused with 400 before routing and before auth (AdGuard Home's h2c hole)", async () => {
    const anon = new Browser(f.app);
    const upgrades: Record<string, string>[] = [{ Upgrade: "h2c", Connection: "Upgrade, HTTP2-Settings", "HTTP2-Settings": "AAMAAABkAAQAAP__" }, { Upgrade: "websocket" }, { "HTTP2-Settings": "AAMAAABk" }];
    for (const headers of upgrades) {
      for (const path of ["/", "/system/diagnostics", "/login", "/assets/htmx.min.js", "/healthz"]) {
        const res = await anon.get(path, headers);
        expect(res.status).toBe(400);
        expect(res.headers.get("location")).toBeNull();
        expect(await res.text()).not.toMatch(/firmwareVersion|htmx/);
      }
    }
    // Logged in, an upgrade is still refused.
    const b = await loggedIn();
    expect((await b.get("/", { Upgrade: "h2c" })).status).toBe(400);
  });
});

describe("authentication", () => {
  it("every page redirects to /login without a session; htmx gets 401 with HX-Redirect", async () => {
    const anon = new Browser(f.app);
    for (const path of PAGES) {
      const res = await anon.get(path);
      expect(res.status, path).toBe(302);
      expect(res.headers.get("location")).toBe("/login");
    }
    const hx = await anon.get("/fragments/dashboard", { "HX-Request": "true" });
    expect(hx.status).toBe(401);
    expect(hx.headers.get("hx-redirect")).toBe("/login");
    expect((await anon.get("/healthz")).status).toBe(200);
  });

  it("a wrong password is 401; the right one gives an HttpOnly, SameSite=Strict session cookie (Secure only on https)", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    expect((await anon.post("/login", { password: "wrong-password" })).status).toBe(401);
    expect(anon.lastBody).toContain("パスワードが違います");
    const res = await anon.post("/login", { password: f.password });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("sk_session="))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/);
    expect((await anon.get("/")).status).toBe(200);
    // The table keeps a hash, never the cookie's id.
    const id = anon.cookies.get("sk_session")!;
    const rows = await f.database.client.execute("SELECT id_hash FROM webui_sessions");
    expect(rows.rows.map((r) => String(r[0]))).not.toContain(id);
    expect(rows.rows).toHaveLength(1);

    const tls = new Browser(f.app, "https://sekisho.home.arpa");
    await tls.get("/login");
    const secure = await tls.post("/login", { password: f.password });
    expect(secure.headers.getSetCookie().find((c) => c.startsWith("sk_session="))).toMatch(/Secure/);
  });

  it("sessions end after 30 idle minutes and after 12 hours whatever happens", async () => {
    const b = await loggedIn();
    f.clock.advance(29 * 60_000);
    expect((await b.get("/")).status).toBe(200);
    f.clock.advance(29 * 60_000);
    expect((await b.get("/")).status).toBe(200);
    f.clock.advance(31 * 60_000);
    const res = await b.get("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/login?m=expired");

    const c = await loggedIn();
    for (let i = 0; i < 26; i++) {
      f.clock.advance(28 * 60_000);
      await c.get("/alerts");
    }
    expect((await c.get("/")).status).toBe(302);
  });

  it("the dashboard's polling does not keep an unattended session alive", async () => {
    const b = await loggedIn();
    for (let i = 0; i < 5; i++) {
      f.clock.advance(5 * 60_000);
      expect((await b.get("/fragments/dashboard", { "HX-Request": "true" })).status).toBe(200);
    }
    // 31 minutes of polling only: idle for the session, which has ended; htmx is told to
    // load the login page as a page (not into the dashboard's fragment).
    f.clock.advance(6 * 60_000);
    const poll = await b.get("/fragments/dashboard", { "HX-Request": "true" });
    expect(poll.status).toBe(401);
    expect(poll.headers.get("HX-Redirect")).toBe("/login?m=expired");
    expect((await b.get("/")).status).toBe(302);
  });

  it("logout is a POST with the token; afterwards the old cookie is worthless", async () => {
    const b = await loggedIn();
    const stolen = b.cookies.get("sk_session")!;
    expect((await b.post("/logout", {})).status).toBe(303);
    const replay = await f.app.request("http://sekisho.home.arpa/", { headers: { Cookie: `sk_session=${stolen}` } });
    expect(replay.status).toBe(302);
    // There is no state-changing GET: /logout answers only POST.
    const c = await loggedIn();
    expect((await c.get("/logout")).status).toBe(404);
    expect((await c.get("/")).status).toBe(200);
  });
});

describe("CSRF", () => {
  it("a POST without a token, with a wrong one, or from another origin is refused 403 and changes nothing", async () => {
    const b = await loggedIn();
    const attempts = [
      () => b.post("/alerts/alert-1/acknowledge", {}, { csrf: null }),
      () => b.post("/alerts/alert-1/acknowledge", {}, { csrf: "x".repeat(43) }),
      () => b.post("/alerts/alert-1/acknowledge", {}, { headers: { Origin: "http://evil.example" } }),
      () => b.post("/alerts/alert-1/acknowledge", {}, { headers: { "Sec-Fetch-Site": "cross-site" } }),
      // A LAN host named printer.home.arpa is the same site (home.arpa is no public suffix).
      () => b.post("/alerts/alert-1/acknowledge", {}, { headers: { "Sec-Fetch-Site": "same-site" } }),
      // ... and may plant a second sk_session cookie for the whole of home.arpa.
      () => b.post("/alerts/alert-1/acknowledge", {}, { headers: { Cookie: `sk_session=${b.cookies.get("sk_session")}; sk_session=planted` } }),
      () => b.post("/alerts/alert-1/acknowledge", {}, { csrf: null, headers: { Origin: "null" } }),
    ];
    for (const attempt of attempts) {
      const res = await attempt();
      expect(res.status).toBe(403);
      expect(b.lastBody).toContain("この操作は受け付けられません");
      expect(await alertState("alert-1")).toBe("open");
    }
    // The same request with the token works.
    expect((await b.post("/alerts/alert-1/acknowledge", {})).status).toBe(303);
    expect(await alertState("alert-1")).toBe("acknowledged");
  });

  it("guards logout (Pi-hole) and every settings form: nothing changes without the token", async () => {
    const b = await loggedIn();
    const forms: [string, Record<string, string>][] = [
      ["/logout", {}],
      ["/dns/allow", { domain: "malware.example" }],
      ["/dns/block", { domain: "example.com" }],
      ["/dns/category", { category: "ads", blocked: "false" }],
      ["/devices/02:00:5e:00:53:10/block", {}],
      ["/devices/02:00:5e:00:53:10/rename", { name: "renamed" }],
      ["/alerts/alert-1/resolve", {}],
      ["/password", { current: f.password, next: "a-new-password-1", again: "a-new-password-1" }],
      ["/lang", { lang: "en" }],
    ];
    for (const [path, form] of forms) {
      expect((await b.post(path, form, { csrf: null })).status, path).toBe(403);
      expect((await b.post(path, form, { csrf: "wrong" })).status, path).toBe(403);
    }
    expect(f.policy.changes).toEqual([]);
    expect(f.policy.overridesValue.blockedDevices).toEqual([]);
    expect(f.inventory.getDevice("02:00:5e:00:53:10")?.name).toBeNull();
    expect(await alertState("alert-1")).toBe("open");
    expect(b.cookies.has("lang")).toBe(false);
    // Still logged in (logout was refused) with the same password.
    expect((await b.get("/")).status).toBe(200);
    const again = new Browser(f.app);
    expect((await again.login(f.password)).status).toBe(303);
  });

  it("the login form carries its own token (double-submit cookie); a login without it is refused", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    expect(anon.cookies.get("sk_login")).toBe(anon.csrf);
    expect((await anon.post("/login", { password: f.password }, { csrf: null })).status).toBe(403);
    expect((await anon.post("/login", { password: f.password }, { csrf: "A".repeat(43) })).status).toBe(403);
    const bare = await f.app.request("http://sekisho.home.arpa/login", {
      method: "POST", body: `password=${encodeURIComponent(f.password)}`, headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(bare.status).toBe(403);
    expect((await f.database.client.execute("SELECT count(*) FROM webui_sessions")).rows[0]![0]).toBe(0);
  });
});

describe("login rate limit", () => {
  it("locks a client out with growing delays after a few failures, logs it as an event, and lets others in", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    for (let i = 0; i < 4; i++) expect((await anon.post("/login", { password: `guess-${i}` })).status).toBe(401);
    expect(f.emitted).toEqual([]);
    const fifth = await anon.post("/login", { password: "guess-5" });
    expect(fifth.status).toBe(429);
    expect(fifth.headers.get("retry-after")).toBe("30");
    expect(f.emitted).toHaveLength(1);
    expect(f.emitted[0]).toMatchObject({ category: "endpoint", kind: "brute-force", logId: "admin-login", ruleId: "admin-login", lanIp: "192.0.2.20", direction: "inbound", time: f.clock.now() });
    // Locked: even the right password is not checked.
    const locked = await anon.post("/login", { password: f.password });
    expect(locked.status).toBe(429);
    expect(anon.cookies.has("sk_session")).toBe(false);
    // Another address is not locked.
    f.client.ip = "192.0.2.77";
    const other = new Browser(f.app);
    expect((await other.login(f.password)).status).toBe(303);
    f.client.ip = "192.0.2.20";
    // After the lockout, one more failure locks twice as long.
    f.clock.advance(31_000);
    const sixth = await anon.post("/login", { password: "guess-6" });
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get("retry-after")).toBe("60");
    expect(f.emitted).toHaveLength(2);
    f.clock.advance(61_000);
    expect((await anon.post("/login", { password: f.password })).status).toBe(303);
    // A success forgets the failures.
    expect((await f.database.client.execute("SELECT count(*) FROM webui_login_failures WHERE client_ip = '192.0.2.20'")).rows[0]![0]).toBe(0);
  });

  it("counts every address of one IPv6 /64 as one client", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    for (let i = 0; i < 5; i++) {
      f.client.ip = `2001:db8:2::${(i + 1).toString(16)}`; // a new address for every guess
      const r = await anon.post("/login", { password: `guess-${i}` });
      expect(r.status).toBe(i < 4 ? 401 : 429);
    }
    f.client.ip = "2001:db8:2::abcd";
    expect((await anon.post("/login", { password: f.password })).status).toBe(429);
    f.client.ip = "192.0.2.20";
  });

  it("has a box-wide budget: addresses taking turns are slowed down together after 20 failures", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) {
      f.client.ip = `192.0.2.${100 + (i % 7)}`; // 7 addresses, 3 failures each: none is locked on its own
      statuses.push((await anon.post("/login", { password: `guess-${i}` })).status);
    }
    expect(statuses.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(statuses[20]).toBe(429);
    // A fresh address waits too, even with the right password; after the wait it gets in.
    f.client.ip = "192.0.2.120";
    expect((await anon.post("/login", { password: f.password })).status).toBe(429);
    f.clock.advance(6_000);
    expect((await new Browser(f.app).login(f.password)).status).toBe(303);
    f.client.ip = "192.0.2.20";
  });

  it("checks one password at a time on the whole box, whatever the addresses", async () => {
    // An app whose peer address comes with each request, so six clients really differ.
    const app = createAdminApp(f.deps, { clientIp: (c) => c.req.header("x-test-peer") ?? "", scryptCost: TEST_COST, appRoot: ROOT });
    const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      const b = new Browser(app);
      const peer = { "x-test-peer": `192.0.2.${130 + i}` };
      await b.get("/login", peer);
      return b.post("/login", { password: `p-${i}` }, { headers: peer });
    }));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(4);
    expect(statuses.every((x) => x === 401 || x === 429)).toBe(true);
  });

  it("parallel guesses from one address are not checked at once", async () => {
    const anon = new Browser(f.app);
    await anon.get("/login");
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => anon.post("/login", { password: `p-${i}` })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(4);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(4);
  });
});

describe("password change", () => {
  it("checks the current password, the repeat and the length; then ends every other session", async () => {
    const b = await loggedIn();
    const other = await loggedIn();
    await b.get("/password");
    const next = "kuroneko-yamato-77";
    expect((await b.post("/password", { current: f.password, next, again: `${next}x` })).status).toBe(400);
    expect(b.lastBody).toContain("一致しません");
    expect((await b.post("/password", { current: f.password, next: "short", again: "short" })).status).toBe(400);
    expect((await b.post("/password", { current: "not-the-password", next, again: next })).status).toBe(403);
    expect((await new Browser(f.app).login(f.password)).status).toBe(303);
    const ok = await b.post("/password", { current: f.password, next, again: next });
    expect(ok.status).toBe(303);
    expect((await b.get("/password?m=changed")).status).toBe(200);
    expect(b.lastBody).toContain("パスワードを変更しました");
    expect((await other.get("/")).status).toBe(302);
    expect((await new Browser(f.app).login(f.password)).status).toBe(401);
    expect((await new Browser(f.app).login(next)).status).toBe(303);
  });
});

describe("hostile text", () => {
  it("a hostile path on the 404 page comes out escaped", async () => {
    const b = await loggedIn();
    for (const path of [`/${HOSTILE}`, `/${encodeURIComponent(HOSTILE)}`, "/%22%3E%3Cscript%3Ealert(1)%3C/script%3E", "/x?<script>alert(1)</script>"]) {
      const res = await b.get(path);
      expect(res.status).toBe(404);
      const html = await res.text();
      expect(html).not.toContain("<img src=x");
      expect(html).not.toContain("<script>alert");
      expect(html).toContain("ページが見つかりません");
    }
    // The path is shown, as text.
    await b.get(`/${encodeURIComponent(HOSTILE)}`);
    expect(b.lastBody).toContain("<code>/&lt;img src");
  });

  it("never appears raw on any page, though it is in a DHCP hostname, a query log, top domains, a syslog message and an alert", async () => {
    const b = await loggedIn();
    // A device name a person typed, too.
    await b.get("/devices/02:00:5e:00:53:20");
    expect((await b.post("/devices/02:00:5e:00:53:20/rename", { name: `"><svg onload=alert(1)>` })).status).toBe(303);
    const seen: string[] = [];
    for (const path of [...PAGES, "/events?category=endpoint", "/events?domain=malware.example", "/devices/02:00:5e:00:53:20", "/alerts/alert-2", "/dns?outcome=blocked"]) {
      const html = await (await b.get(path)).text();
      expect(html, path).not.toContain(HOSTILE);
      expect(html, path).not.toContain("<svg onload");
      if (html.includes("&lt;img src=x onerror=alert(1)&gt;")) seen.push(path);
    }
    // The hostile text is shown (escaped) where it belongs.
    expect(seen).toEqual(expect.arrayContaining(["/devices", "/dns", "/events", "/devices/02:00:5e:00:53:10", "/alerts/alert-2"]));
    expect(await (await b.get("/devices")).text()).toContain("&quot;&gt;&lt;svg onload=alert(1)&gt;");
  });
});

describe("the login-failure table", () => {
  it("stays bounded: beyond the newest clients, old unlocked rows go; the box-wide row and lockouts stay", async () => {
    const now = f.clock.now();
    const values = Array.from({ length: MAX_TRACKED_CLIENTS + 50 }, (_, i) => `('198.51.100.${i % 250}-${i}', 1, ${now - 100_000 + i}, 0)`);
    await f.database.client.execute(`INSERT INTO webui_login_failures (client_ip, failures, last_failure, locked_until) VALUES ${values.join(",")}`);
    await f.database.client.execute(`INSERT INTO webui_login_failures (client_ip, failures, last_failure, locked_until) VALUES ('locked-old', 9, ${now - 200_000}, ${now + 3_600_000})`);
    await recordLoginFailure(f.database, "192.0.2.99", now);
    const count = Number((await f.database.client.execute("SELECT count(*) FROM webui_login_failures")).rows[0]![0]);
    expect(count).toBeLessThanOrEqual(MAX_TRACKED_CLIENTS + 1);
    const kept = await f.database.client.execute("SELECT client_ip FROM webui_login_failures WHERE client_ip IN ('locked-old', '192.0.2.99')");
    expect(kept.rows.length).toBe(2);
  });
});
