/**
 * The admin page (issue 7): a hono app over `AdminDeps`. The box serves it with
 * `Deno.serve(app.fetch)` on the LAN-side management address; tests call `app.request`.
 *
 * Every request passes, in order: security headers (set on whatever comes back), refusal of
 * protocol upgrades (before any routing, so an `Upgrade: h2c` cannot slip past the auth
 * middleware), the session and language, CSRF on every POST, and authentication on every
 * route but /login, /lang, /assets/* and /healthz. Handlers parse their input with zod at
 * the edge and render pure views (webui/views). See webui/README.md for the security model.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { APP_ROOT } from "../firmware/app-root.ts";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AdminDeps } from "./deps.ts";
import type { ScryptCost } from "./auth/password.ts";
import { DEFAULT_RATE_LIMIT, type RateLimitPolicy } from "./auth/rate-limit.ts";
import { DEFAULT_SESSION_LIMITS, readSession, tokensEqual, type Session, type SessionLimits } from "./auth/sessions.ts";
import { messages, parseLang, type Lang } from "./i18n/index.ts";
import { registerAuthRoutes } from "./routes/auth.ts";
import { registerPageRoutes } from "./routes/pages.ts";
import { registerActionRoutes } from "./routes/actions.ts";
import { SettledSeries } from "./queries.ts";
import { messageBody, notFoundBody } from "./views/auth.ts";
import type { Html, ViewContext } from "./views/html.ts";
import { layout } from "./views/layout.ts";

export type AdminAppOptions = {
  /** The client's address as the server adapter saw the connection (never a header). */
  clientIp: (c: Context) => string;
  sessionLimits?: SessionLimits;
  rateLimit?: RateLimitPolicy;
  /** scrypt cost for a changed password (tests pass a cheap one). */
  scryptCost?: ScryptCost;
  /** Where `node_modules` (htmx, pico) is: default the repository / install root. */
  appRoot?: string;
  /** Rows per page in lists (default 50). */
  pageSize?: number;
};

export type AppEnv = {
  Variables: {
    session: Session | undefined;
    lang: Lang;
    /** The pre-login CSRF token (double-submit cookie) when there is no session. */
    loginToken: string | undefined;
  };
};

/** What the route modules share. */
export type AppContext = {
  deps: AdminDeps;
  options: AdminAppOptions;
  pageSize: number;
  /** Client addresses whose login is being checked right now (one at a time each). */
  /** Whether a password is being checked (one at a time on the whole box: routes/auth.ts). */
  passwordChecks: { busy: boolean };
  /** The dashboard's week of hourly buckets, settled hours read once (queries.ts). */
  weekSeries: SettledSeries;
  /** The dashboard's year of daily buckets, the same way. */
  yearSeries: SettledSeries;
  view(c: Context<AppEnv>): ViewContext;
  page(c: Context<AppEnv>, title: string, body: Html, status?: number): Response;
  secure(c: Context<AppEnv>): boolean;
};

export const SESSION_COOKIE = "sk_session";
export const LOGIN_COOKIE = "sk_login";
export const LANG_COOKIE = "lang";

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " +
  "form-action 'self'; base-uri 'none'; object-src 'none'";

/** Paths served without a session. */
const PUBLIC_PATHS = new Set(["/login", "/lang", "/healthz"]);
// Exact paths only: a prefix (any "/assets/…") would skip auth for whatever route is ever
// added under it.
const isPublic = (path: string): boolean => PUBLIC_PATHS.has(path) || Object.hasOwn(ASSETS, path);

const ASSETS: Record<string, { file: (root: string) => string; type: string }> = {
  "/assets/htmx.min.js": { file: (r) => join(r, "node_modules", "htmx.org", "dist", "htmx.min.js"), type: "text/javascript; charset=utf-8" },
  "/assets/pico.min.css": { file: (r) => join(r, "node_modules", "@picocss", "pico", "css", "pico.min.css"), type: "text/css; charset=utf-8" },
  "/assets/app.css": { file: (r) => join(r, "webui", "assets", "app.css"), type: "text/css; charset=utf-8" },
};

/** The admin page as a hono app. Constructing it does no I/O; assets are read once, on first use. */
export function createAdminApp(deps: AdminDeps, options: AdminAppOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const appRoot = options.appRoot ?? APP_ROOT;
  const assetCache = new Map<string, Promise<Uint8Array>>();
  const limits = options.sessionLimits ?? DEFAULT_SESSION_LIMITS;

  const view = (c: Context<AppEnv>): ViewContext => {
    const lang = c.get("lang") ?? "ja";
    const session = c.get("session");
    return {
      t: messages(lang), lang, csrf: session?.csrf ?? c.get("loginToken") ?? "", path: c.req.path,
      now: deps.clock(), loggedIn: session !== undefined,
    };
  };
  const ctx: AppContext = {
    deps,
    options: { ...options, rateLimit: options.rateLimit ?? DEFAULT_RATE_LIMIT },
    pageSize: options.pageSize ?? 50,
    passwordChecks: { busy: false },
    weekSeries: new SettledSeries(),
    yearSeries: new SettledSeries(),
    view,
    page: (c, title, body, status = 200) => c.html(layout(view(c), title, body), status as 200),
    secure: (c) => new URL(c.req.url).protocol === "https:",
  };

  // 1. Security headers on every response, whatever produced it.
  app.use("*", async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set("Content-Security-Policy", CSP);
    h.set("X-Content-Type-Options", "nosniff");
    h.set("Referrer-Policy", "no-referrer");
    h.set("X-Frame-Options", "DENY");
    // Browsers honour COOP only from a trustworthy origin (https, localhost); over the LAN's
    // plain http Chromium ignores it and logs a console error on every page.
    if (ctx.secure(c)) h.set("Cross-Origin-Opener-Policy", "same-origin");
    h.set("Cross-Origin-Resource-Policy", "same-origin");
    h.set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (!c.req.path.startsWith("/assets/") || c.res.status !== 200) h.set("Cache-Control", "no-store");
  });

  // 2. No protocol upgrades (h2c, WebSocket): refused before routing and before auth.
  app.use("*", async (c, next) => {
    if (c.req.header("upgrade") !== undefined || c.req.header("http2-settings") !== undefined) {
      return c.text(messages("ja").badRequest.upgrade, 400, { Connection: "close" });
    }
    await next();
  });

  // 3. Language and session.
  app.use("*", async (c, next) => {
    c.set("lang", parseLang(getCookie(c, LANG_COOKIE)));
    c.set("session", isPublic(c.req.path) && c.req.path.startsWith("/assets/")
      ? undefined
      : await readSession(deps.database, getCookie(c, SESSION_COOKIE), deps.clock(), limits, !c.req.path.startsWith("/fragments/")));
    const loginToken = getCookie(c, LOGIN_COOKIE);
    c.set("loginToken", loginToken !== undefined && /^[A-Za-z0-9_-]{43}$/.test(loginToken) ? loginToken : undefined);
    await next();
  });

  // 4. CSRF on every state-changing request: a same-origin check, then the token.
  app.use("*", bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text("request body too large", 413) }));
  app.use("*", async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD") return next();
    if (method !== "POST") return c.text("method not allowed", 405, { Allow: "GET, HEAD, POST" });
    const refuse = (): Response => ctx.page(c, view(c).t.csrf.title, messageBody(view(c).t.csrf.body), 403);
    // A foreign Origin is refused. "null" is what browsers send for our own forms under
    // Referrer-Policy: no-referrer, so it proves nothing either way: the token decides.
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== "null") {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        return refuse();
      }
      if (host !== c.req.header("host") && host !== new URL(c.req.url).host) return refuse();
    }
    // Only our own pages post here: "same-site" is refused too, since home.arpa is not a
    // public suffix and any LAN host named x.home.arpa is the same site as the box.
    const fetchSite = c.req.header("sec-fetch-site");
    if (fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none") return refuse();
    // Two cookies of one name: a neighbour on the same site planted one (Domain=home.arpa);
    // which of them the browser sent first is not ours to guess.
    const names = (c.req.header("cookie") ?? "").split(";").map((p) => p.split("=")[0]!.trim()).filter((n) => n !== "");
    if (new Set(names).size !== names.length) return refuse();
    const body = await c.req.parseBody();
    const sent = typeof body._csrf === "string" ? body._csrf : c.req.header("x-csrf-token");
    const session = c.get("session");
    const expected = session !== undefined ? session.csrf : c.get("loginToken");
    if (!tokensEqual(sent, expected)) return refuse();
    await next();
  });

  // 5. Authentication on everything that is not public.
  app.use("*", async (c, next) => {
    if (isPublic(c.req.path) || c.get("session") !== undefined) return next();
    const expired = getCookie(c, SESSION_COOKIE) !== undefined;
    const target = expired ? "/login?m=expired" : "/login";
    if (c.req.header("hx-request") !== undefined) return c.body(null, 401, { "HX-Redirect": target });
    return c.redirect(target, c.req.method === "GET" ? 302 : 303);
  });

  app.get("/healthz", (c) => c.text("ok"));
  app.get("/assets/:name", async (c) => {
    const asset = ASSETS[c.req.path];
    if (asset === undefined) return c.text("not found", 404);
    let data = assetCache.get(c.req.path);
    if (data === undefined) {
      data = readFile(asset.file(appRoot)).then((b) => new Uint8Array(b));
      assetCache.set(c.req.path, data);
      data.catch(() => assetCache.delete(c.req.path));
    }
    const bytes = await data;
    return c.body(bytes.slice().buffer, 200, { "Content-Type": asset.type, "Cache-Control": "public, max-age=3600" });
  });

  registerAuthRoutes(app, ctx);
  registerPageRoutes(app, ctx);
  registerActionRoutes(app, ctx);

  app.notFound((c) => {
    const v = view(c);
    return ctx.page(c, v.t.notFound.title, notFoundBody(v, c.req.path), 404);
  });
  app.onError((err, c) => {
    // A database error's message ends with its query's parameters (a session's CSRF token,
    // a password hash): they are cut off. The path is quoted: it may hold newlines.
    const what = JSON.stringify(`${err.name}: ${err.message.split(/\n?params:/)[0]!.slice(0, 300)}`);
    deps.log(`admin page: ${c.req.method} ${JSON.stringify(c.req.path.slice(0, 200))} failed: ${what}`);
    const v = view(c);
    return ctx.page(c, v.t.common.actionFailed, messageBody(v.t.common.actionFailed), 500);
  });
  return app;
}

/** Sets a cookie the way every cookie of this app is set: HttpOnly, SameSite=Strict, Path=/, Secure on https. */
export function setAppCookie(c: Context<AppEnv>, ctx: AppContext, name: string, value: string, maxAgeSeconds?: number): void {
  setCookie(c, name, value, {
    httpOnly: true, sameSite: "Strict", path: "/", secure: ctx.secure(c),
    ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}),
  });
}

export function clearAppCookie(c: Context<AppEnv>, ctx: AppContext, name: string): void {
  deleteCookie(c, name, { path: "/", secure: ctx.secure(c), httpOnly: true, sameSite: "Strict" });
}

