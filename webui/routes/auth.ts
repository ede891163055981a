/** Login (with the per-address lockout), logout, the language switch, the password change. */
import type { Context, Hono } from "hono";
import { parseIpv4, parseIpv6 } from "../../policies/net.ts";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, clearAppCookie, setAppCookie, type AppContext, type AppEnv } from "../app.ts";
import { checkAdminPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, storeAdminPassword } from "../auth/password.ts";
import { BOX_WIDE, BOX_WIDE_RATE_LIMIT, clearLoginFailures, loginWaitMs, rateLimitKey, recordLoginFailure } from "../auth/rate-limit.ts";
import { createSession, deleteAllSessions, deleteSession, randomToken } from "../auth/sessions.ts";
import { formatNumber, parseLang, type Messages } from "../i18n/index.ts";
import { loginBody, passwordBody } from "../views/auth.ts";

/** The log id / rule id of admin-login lockout events. */
export const ADMIN_LOGIN_ID = "admin-login";

const field = (body: Record<string, unknown>, name: string): string | undefined =>
  typeof body[name] === "string" ? (body[name] as string) : undefined;

function waitText(t: Messages, ms: number, lang: "ja" | "en"): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? t.login.seconds(formatNumber(s, lang)) : t.login.minutes(formatNumber(Math.ceil(s / 60), lang));
}

/** A path to go back to after the language switch: only a local absolute path. */
function safeBack(value: string | undefined): string {
  if (value === undefined || !/^\/[A-Za-z0-9/_.:%-]*$/.test(value) || value.startsWith("//")) return "/";
  return value;
}

const LOGIN_MESSAGES = { expired: "expired", bye: "loggedOut" } as const;

export function registerAuthRoutes(app: Hono<AppEnv>, ctx: AppContext): void {
  const { deps } = ctx;

  /** The login page, with a fresh double-submit token when the browser has none. */
  const loginPage = (c: Context<AppEnv>, flash: { ok?: string; error?: string }, status = 200, headers: Record<string, string> = {}): Response => {
    if (c.get("loginToken") === undefined) {
      const token = randomToken();
      setAppCookie(c, ctx, LOGIN_COOKIE, token, 3600);
      c.set("loginToken", token);
    }
    const v = ctx.view(c);
    for (const [k, val] of Object.entries(headers)) c.header(k, val);
    return ctx.page(c, v.t.login.title, loginBody(v, flash), status);
  };

  app.get("/login", (c) => {
    if (c.get("session") !== undefined) return c.redirect("/", 302);
    const t = ctx.view(c).t;
    const m = c.req.query("m");
    const flash = m === "expired" ? { error: t.login[LOGIN_MESSAGES.expired] } : m === "bye" ? { ok: t.login[LOGIN_MESSAGES.bye] } : {};
    return loginPage(c, flash);
  });

  app.post("/login", async (c) => {
    const t = ctx.view(c).t;
    const lang = c.get("lang");
    const ip = ctx.options.clientIp(c);
    const key = rateLimitKey(ip);
    const now = deps.clock();
    const wait = Math.max(await loginWaitMs(deps.database, key, now), await loginWaitMs(deps.database, BOX_WIDE, now));
    if (wait > 0) {
      return loginPage(c, { error: t.login.locked(waitText(t, wait, lang)) }, 429, { "Retry-After": String(Math.ceil(wait / 1000)) });
    }
    // One password check at a time on the whole box: scrypt takes 32 MiB and a core for a
    // tenth of a second, and checks from many addresses at once would exhaust the box
    // (and each would pass the lockout test above before any failure is counted).
    if (ctx.passwordChecks.busy) return loginPage(c, { error: t.login.busy }, 429, { "Retry-After": "1" });
    ctx.passwordChecks.busy = true;
    try {
      const body = await c.req.parseBody();
      const password = field(body, "password") ?? "";
      const ok = password.length > 0 && password.length <= MAX_PASSWORD_LENGTH && await checkAdminPassword(deps.database, password);
      if (!ok) {
        const lockMs = await countFailure(ctx, ip, key);
        if (lockMs > 0) {
          return loginPage(c, { error: t.login.locked(waitText(t, lockMs, lang)) }, 429, { "Retry-After": String(Math.ceil(lockMs / 1000)) });
        }
        return loginPage(c, { error: t.login.wrong }, 401);
      }
      await clearLoginFailures(deps.database, key);
      await clearLoginFailures(deps.database, BOX_WIDE);
      const { id } = await createSession(deps.database, ip, deps.clock(), ctx.options.sessionLimits);
      setAppCookie(c, ctx, SESSION_COOKIE, id);
      clearAppCookie(c, ctx, LOGIN_COOKIE);
      deps.log(`admin page: login from ${ip}`);
      return c.redirect("/", 303);
    } finally {
      ctx.passwordChecks.busy = false;
    }
  });

  app.post("/logout", async (c) => {
    const session = c.get("session");
    if (session !== undefined) await deleteSession(deps.database, session.idHash);
    clearAppCookie(c, ctx, SESSION_COOKIE);
    return c.redirect("/login?m=bye", 303);
  });

  app.post("/lang", async (c) => {
    const body = await c.req.parseBody();
    const lang = parseLang(field(body, "lang"));
    setAppCookie(c, ctx, LANG_COOKIE, lang, 365 * 86_400);
    return c.redirect(safeBack(field(body, "back")), 303);
  });

  app.get("/password", (c) => {
    const v = ctx.view(c);
    return ctx.page(c, v.t.password.title, passwordBody(v, c.req.query("m") === "changed" ? { ok: v.t.password.changed } : {}));
  });

  app.post("/password", async (c) => {
    const v = ctx.view(c);
    const t = v.t.password;
    const body = await c.req.parseBody();
    const current = field(body, "current") ?? "";
    const next = field(body, "next") ?? "";
    const again = field(body, "again") ?? "";
    const refuse = (error: string, status = 400): Response => ctx.page(c, t.title, passwordBody(v, { error }), status);
    if (next.length < MIN_PASSWORD_LENGTH) return refuse(t.tooShort(MIN_PASSWORD_LENGTH));
    if (next.length > MAX_PASSWORD_LENGTH) return refuse(t.tooLong(MAX_PASSWORD_LENGTH));
    if (next !== again) return refuse(t.mismatch);
    const ip = ctx.options.clientIp(c);
    const key = rateLimitKey(ip);
    // The current password is guessable here too: the same lockout and the same one-check-
    // at-a-time as the login form.
    const now = deps.clock();
    const wait = Math.max(await loginWaitMs(deps.database, key, now), await loginWaitMs(deps.database, BOX_WIDE, now));
    if (wait > 0) {
      c.header("Retry-After", String(Math.ceil(wait / 1000)));
      return refuse(v.t.login.locked(waitText(v.t, wait, v.lang)), 429);
    }
    if (ctx.passwordChecks.busy) {
      c.header("Retry-After", "1");
      return refuse(v.t.login.busy, 429);
    }
    ctx.passwordChecks.busy = true;
    try {
      if (current.length > MAX_PASSWORD_LENGTH || !(await checkAdminPassword(deps.database, current))) {
        await countFailure(ctx, ip, key);
        return refuse(t.wrongCurrent, 403);
      }
      await storeAdminPassword(deps.database, next, deps.clock(), ctx.options.scryptCost);
    } finally {
      ctx.passwordChecks.busy = false;
    }
    // Every session ends (a stolen one with them); this browser gets a fresh one.
    await deleteAllSessions(deps.database);
    const { id } = await createSession(deps.database, ip, deps.clock(), ctx.options.sessionLimits);
    setAppCookie(c, ctx, SESSION_COOKIE, id);
    deps.log(`admin page: password changed from ${ip}`);
    return c.redirect("/password?m=changed", 303);
  });
}

/**
 * Counts a failed password under the client's key and box-wide; returns the lockout the
 * client now has (0: none). The client's lockout is an event.
 */
async function countFailure(ctx: AppContext, ip: string, key: string): Promise<number> {
  const { deps } = ctx;
  const now = deps.clock();
  const own = await recordLoginFailure(deps.database, key, now, ctx.options.rateLimit);
  const box = await recordLoginFailure(deps.database, BOX_WIDE, now, BOX_WIDE_RATE_LIMIT);
  if (own.lockMs > 0) emitLockout(ctx, ip, own.failures, own.lockMs);
  return Math.max(own.lockMs, box.lockMs);
}

/** A lockout is an event (category endpoint, rule admin-login) for the event pipeline. */
function emitLockout(ctx: AppContext, ip: string, failures: number, lockMs: number): void {
  const event: BoxEvent = {
    time: ctx.deps.clock(),
    // A LAN device guessing the box's password: an endpoint matter (firmware/alerts/rules.ts, admin-login).
    category: "endpoint",
    severity: "medium",
    kind: "brute-force",
    logId: ADMIN_LOGIN_ID,
    ruleId: ADMIN_LOGIN_ID,
    direction: "inbound",
    action: "drop",
    proto: "tcp",
    message: `admin page: ${failures} failed logins in a row; locked out for ${Math.ceil(lockMs / 1000)} s`,
  };
  // The address came from the server adapter, but it is still checked before it is stored.
  if (parseIpv4(ip) !== undefined || parseIpv6(ip) !== undefined) event.lanIp = ip;
  ctx.deps.emit([event]);
  ctx.deps.log(`admin page: ${ip} locked out for ${Math.ceil(lockMs / 1000)} s after ${failures} failed logins`);
}
