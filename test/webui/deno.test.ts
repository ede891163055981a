/** The admin page under Deno, the box's runtime, with the box's own permission flags, over real HTTP on loopback. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { denoPermissionFlags } from "../../firmware/deno-permissions.ts";

const repo = resolve(import.meta.dirname, "../..");

describe("the admin page under Deno", () => {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-webui-deno-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves with Deno.serve(app.fetch): login, assets, a session, the dashboard; refuses an upgrade", async () => {
    const flags = denoPermissionFlags({ appDir: repo, configDir: dir, dataDir: dir, runDir: dir }, { syslogPort: 514 });
    const r = await promisify(execFile)(join(repo, "node_modules/.bin/deno"),
      ["run", "--quiet", "--config", join(repo, "deno.json"), ...flags, join(repo, "test/webui/deno-serve-check.ts"), dir],
      { timeout: 60_000, maxBuffer: 1 << 20 });
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(report).toEqual({
      login: { status: 200, csp: true, japanese: true },
      asset: { status: 200, bytes: expect.any(Number) },
      loggedIn: { status: 303, session: true },
      dashboard: { status: 200, protectedShown: true },
      upgrade: 400,
    });
    expect(report.asset.bytes).toBeGreaterThan(10_000);
  });
});
