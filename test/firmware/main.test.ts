import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { denoPermissionFlags } from "../../firmware/deno-permissions.ts";
import { Nft } from "../../firmware/nftables/driver.ts";

const repo = resolve(import.meta.dirname, "../..");
const root = process.getuid?.() === 0;

/** The CLI as the box runs it: Deno with the box's permission flags, config in a temp dir. */
describe("the sekisho command line under Deno", () => {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-cli-"));
  const dirs = { configDir: join(dir, "etc"), dataDir: join(dir, "data"), runDir: join(dir, "run") };
  const device = join(dirs.configDir, "device.json");
  const sekisho = async (...args: string[]) => {
    try {
      const r = await promisify(execFile)(join(repo, "node_modules/.bin/deno"),
        ["run", "--quiet", "--config", join(repo, "deno.json"), ...denoPermissionFlags({ ...dirs, appDir: repo }, { syslogPort: 514 }), join(repo, "firmware/main.ts"), ...args],
        { maxBuffer: 64 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  beforeAll(() => {
    execFileSync("mkdir", ["-p", dirs.configDir, dirs.dataDir, dirs.runDir]);
    writeFileSync(device, JSON.stringify({ mode: "router", interfaces: { wan: "wan0", lan: "lan0" }, lanPrefixes: ["192.0.2.0/24"],
      management: { address4: "192.0.2.1" }, dataDir: dirs.dataDir, runDir: dirs.runDir }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!root)("compile prints a batch the real nft accepts (the shipped baseline by default)", async () => {
    const r = await sekisho("compile", "--device", device, "--meta");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { nftables: never[]; meta: Record<string, unknown> };
    expect(out.meta["sys-inbound"]).toBeDefined();
    const ns = `sk-cli-${process.pid}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      await new Nft({ argv: ["ip", "netns", "exec", ns, "nft"], runDir: dirs.runDir }).check(out.nftables);
    } finally {
      execFileSync("ip", ["netns", "del", ns]);
    }
  }, 60_000);

  it("explains usage errors and bad config files, with distinct exit codes", async () => {
    expect((await sekisho()).code).toBe(2);
    expect((await sekisho("frobnicate", "--device", device)).stderr).toMatch(/unknown command: frobnicate/);
    const missing = await sekisho("status", "--device", join(dirs.configDir, "nope.json"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read device config .*nope\.json/);
    writeFileSync(join(dirs.configDir, "bad.json"), JSON.stringify({ mode: "bridge", interfaces: { wan: "a", lan: "a" },
      lanPrefixes: ["192.0.2.0/24"], management: { address4: "192.0.2.1" }, dataDir: "data", runDir: dirs.runDir }));
    const bad = await sekisho("status", "--device", join(dirs.configDir, "bad.json"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/dataDir: must be an absolute path/);
    writeFileSync(join(dirs.configDir, "bad.json"), JSON.stringify({ mode: "bridge", interfaces: { wan: "a", lan: "a" },
      lanPrefixes: ["192.0.2.0/24"], management: { address4: "192.0.2.1" }, dataDir: dirs.dataDir, runDir: dirs.runDir }));
    const bad2 = await sekisho("status", "--device", join(dirs.configDir, "bad.json"));
    expect(bad2.stderr).toMatch(/interfaces\.bridge: bridge mode needs the bridge interface name/);
    expect(bad2.stderr).toMatch(/interfaces\.lan: wan and lan must be different interfaces/);
  }, 60_000);

  it("cannot read outside its permissions", async () => {
    const r = await sekisho("apply", "--device", device, "--policy", "/etc/passwd");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Requires read access/);
  }, 60_000);
});
