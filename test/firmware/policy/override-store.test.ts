import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OverrideStore, overridesPath } from "../../../firmware/policy/override-store.ts";
import { EMPTY_OVERRIDES, type LocalOverrides } from "../../../policies/overrides.ts";

const SOME: LocalOverrides = {
  dns: { allow: ["ok.example"], block: ["bad.example"], categories: { social: false, ads: true } },
  blockedDevices: ["02:00:00:00:00:0a"],
};

describe("OverrideStore (a real file in a temporary data directory)", () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), "sekisho-overrides-"));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts with none when nothing was kept yet", async () => {
    expect(await new OverrideStore({ dataDir }).load()).toEqual({ ok: true, overrides: EMPTY_OVERRIDES, found: false });
  });

  it("keeps overrides in <dataDir>/policy/local.json and reads them back, leaving no temporary file", async () => {
    const store = new OverrideStore({ dataDir });
    expect(store.path).toBe(join(dataDir, "policy", "local.json"));
    await store.save(SOME);
    expect(JSON.parse(readFileSync(overridesPath(dataDir), "utf8"))).toEqual(SOME);
    expect(await new OverrideStore({ dataDir }).load()).toEqual({ ok: true, overrides: SOME, found: true });
    await store.save(EMPTY_OVERRIDES);
    expect(await new OverrideStore({ dataDir }).load()).toEqual({ ok: true, overrides: EMPTY_OVERRIDES, found: true });
    expect(readdirSync(join(dataDir, "policy"))).toEqual(["local.json"]);
  });

  for (const [what, text, problem] of [
    ["not JSON", "{ not json", /is not valid JSON/],
    ["a bad MAC", JSON.stringify({ blockedDevices: ["02:00:00:00:00:0a; reboot"] }), /blockedDevices\.0: must be a MAC address/],
    ["markup as a domain", JSON.stringify({ dns: { allow: ["<img src=x onerror=alert(1)>"] } }), /dns\.allow\.0: must be a domain name/],
    ["a broadcast MAC", JSON.stringify({ blockedDevices: ["ff:ff:ff:ff:ff:ff"] }), /not a broadcast or multicast/],
  ] as const) {
    it(`gives a clear error value for a file with ${what}, changes nothing, and keeps the bad file aside on the next save`, async () => {
      mkdirSync(join(dataDir, "policy"));
      writeFileSync(overridesPath(dataDir), text);
      const store = new OverrideStore({ dataDir });
      const r = await store.load();
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toContain(overridesPath(dataDir));
        expect(r.error).toMatch(problem);
      }
      expect(readFileSync(overridesPath(dataDir), "utf8")).toBe(text);
      await store.save(SOME);
      expect(readFileSync(`${overridesPath(dataDir)}.rejected`, "utf8")).toBe(text);
      expect(await new OverrideStore({ dataDir }).load()).toEqual({ ok: true, overrides: SOME, found: true });
    });
  }

  it("gives an error value, not an exception, when the file cannot be read", async () => {
    mkdirSync(overridesPath(dataDir), { recursive: true }); // a directory where the file should be
    const r = await new OverrideStore({ dataDir }).load();
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.error).toMatch(/cannot be read: .*EISDIR/);
  });

  it("rejects a save it cannot write, and the kept file stays as it was", async () => {
    const store = new OverrideStore({ dataDir });
    await store.save(SOME);
    rmSync(join(dataDir, "policy"), { recursive: true });
    writeFileSync(join(dataDir, "policy"), "a file where the directory should be");
    await expect(store.save(EMPTY_OVERRIDES)).rejects.toThrow();
    expect(readFileSync(join(dataDir, "policy"), "utf8")).toBe("a file where the directory should be");
  });
});
