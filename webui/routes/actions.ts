/**
 * The actions (POST): acknowledge / resolve an alert, rename / block / unblock a device, the
 * URL filter's lists and categories. Each parses its form with zod (the contract's schemas),
 * refuses bad input with a clear message and status 4xx before anything changes, and on
 * success redirects to the page (303) with a fixed notice key.
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { MAX_DEVICE_NAME } from "../../firmware/inventory/text.ts";
import { Mac, OverrideChange } from "../../policies/overrides.ts";
import { DnsCategory } from "../../policies/schema.ts";
import type { AppContext, AppEnv } from "../app.ts";
import { messageBody } from "../views/auth.ts";
import { alertDetailBody } from "../views/alerts.ts";
import { renderDevicePage, renderDnsPage } from "./pages.ts";

const field = (body: Record<string, unknown>, name: string): string | undefined =>
  typeof body[name] === "string" ? (body[name] as string) : undefined;

export function registerActionRoutes(app: Hono<AppEnv>, ctx: AppContext): void {
  const { deps } = ctx;

  for (const action of ["acknowledge", "resolve"] as const) {
    app.post(`/alerts/:id/${action}`, async (c) => {
      const v = ctx.view(c);
      const id = c.req.param("id");
      if (id.length > 100) return ctx.page(c, v.t.alerts.title, messageBody(v.t.alerts.notFound), 404);
      const r = action === "acknowledge" ? await deps.alerts.acknowledge(id) : await deps.alerts.resolve(id);
      if (r.ok) return c.redirect(`/alerts/${encodeURIComponent(id)}?done=${action === "acknowledge" ? "acknowledged" : "resolved"}`, 303);
      if (r.error.code === "not-found") return ctx.page(c, v.t.alerts.title, messageBody(v.t.alerts.notFound), 404);
      const alert = await deps.alerts.getAlert(id);
      if (alert === undefined) return ctx.page(c, v.t.alerts.title, messageBody(v.t.alerts.notFound), 404);
      return ctx.page(c, v.t.alerts.title, alertDetailBody(v, alert, { error: v.t.alerts.transitionRefused }), 409);
    });
  }

  app.post("/devices/:mac/rename", async (c) => {
    const v = ctx.view(c);
    const t = v.t.devices;
    const mac = Mac.safeParse(c.req.param("mac"));
    if (!mac.success) return ctx.page(c, t.title, messageBody(t.badMac), 400);
    const body = await c.req.parseBody();
    const name = field(body, "name");
    const refuse = async (error: string, status = 400): Promise<Response> =>
      (await renderDevicePage(ctx, c, mac.data, { error, nameInput: (name ?? "").slice(0, 300) }, status)) ??
        ctx.page(c, t.title, messageBody(t.notFound), 404);
    if (name === undefined) return refuse(t.badName);
    if (Array.from(name.normalize("NFC").trim()).length > MAX_DEVICE_NAME) return refuse(t.nameTooLong(MAX_DEVICE_NAME));
    const known = (await deps.devices.list()).some((d) => d.mac === mac.data);
    if (!known) return ctx.page(c, t.title, messageBody(t.notFound), 404);
    const r = await deps.devices.rename(mac.data, name);
    if (!r.ok) return refuse(t.badName);
    return c.redirect(`/devices/${encodeURIComponent(mac.data)}?done=renamed`, 303);
  });

  for (const kind of ["block-device", "unblock-device"] as const) {
    app.post(`/devices/:mac/${kind === "block-device" ? "block" : "unblock"}`, async (c) => {
      const v = ctx.view(c);
      const t = v.t.devices;
      const mac = Mac.safeParse(c.req.param("mac"));
      if (!mac.success) return ctx.page(c, t.title, messageBody(t.badMac), 400);
      const refuse = async (error: string, status: number): Promise<Response> =>
        (await renderDevicePage(ctx, c, mac.data, { error }, status)) ?? ctx.page(c, t.title, messageBody(error), status);
      if (kind === "block-device") {
        const own = deps.macOf(ctx.options.clientIp(c));
        if (own !== undefined && own.toLowerCase() === mac.data) return refuse(t.selfBlock, 409);
        if (await deps.isInfrastructure(mac.data)) return refuse(t.infraBlock, 409);
      }
      const r = await deps.policy.change({ kind, mac: mac.data });
      if (!r.ok) {
        deps.log(`admin page: ${kind} ${mac.data} failed: ${r.error}`);
        return refuse(t.changeFailed, 502);
      }
      return c.redirect(`/devices/${encodeURIComponent(mac.data)}?done=${kind === "block-device" ? "blocked" : "unblocked"}`, 303);
    });
  }

  for (const action of ["allow", "block", "reset"] as const) {
    app.post(`/dns/${action}`, async (c) => {
      const v = ctx.view(c);
      const body = await c.req.parseBody();
      const domain = field(body, "domain") ?? "";
      const change = OverrideChange.safeParse({ kind: `${action}-domain`, domain });
      if (!change.success) return renderDnsPage(ctx, c, { error: v.t.dns.badDomain, domainInput: domain.slice(0, 300) }, 400);
      return applyDnsChange(ctx, c, change.data);
    });
  }

  const CategoryForm = z.object({ category: DnsCategory, blocked: z.enum(["true", "false", "reset"]) });
  app.post("/dns/category", async (c) => {
    const v = ctx.view(c);
    const form = CategoryForm.safeParse(await c.req.parseBody());
    if (!form.success) return renderDnsPage(ctx, c, { error: v.t.dns.refusedCategory }, 400);
    if (!deps.policy.switchableCategories().includes(form.data.category)) return renderDnsPage(ctx, c, { error: v.t.dns.refusedCategory }, 403);
    const change: OverrideChange = form.data.blocked === "reset"
      ? { kind: "reset-category", category: form.data.category }
      : { kind: "set-category", category: form.data.category, blocked: form.data.blocked === "true" };
    return applyDnsChange(ctx, c, change);
  });
}

async function applyDnsChange(ctx: AppContext, c: Context<AppEnv>, change: OverrideChange): Promise<Response> {
  const r = await ctx.deps.policy.change(change);
  if (!r.ok) {
    ctx.deps.log(`admin page: ${change.kind} failed: ${r.error}`);
    return renderDnsPage(ctx, c, { error: ctx.view(c).t.dns.changeFailed }, 502);
  }
  return c.redirect("/dns?done=saved", 303);
}
