/**
 * The DNS filter on its own worker thread, under Deno (the box's runtime) with the box's
 * permission flags: threaded-check.ts drives ThreadedDnsEngine over real UDP on loopback.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { denoPermissionFlags } from "../../../firmware/deno-permissions.ts";

const repo = resolve(import.meta.dirname, "../../..");

describe("the DNS filter on a worker thread under Deno", () => {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-dns-thread-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves, explains, reloads, takes the MAC table, hands the log back, survives a crash, drains on stop", async () => {
    const flags = denoPermissionFlags({ appDir: repo, configDir: dir, dataDir: dir, runDir: dir }, { syslogPort: 514 });
    const r = await promisify(execFile)(join(repo, "node_modules/.bin/deno"),
      ["run", "--quiet", "--config", join(repo, "deno.json"), ...flags, join(repo, "test/firmware/dns/threaded-check.ts"), dir],
      { timeout: 90_000, maxBuffer: 1 << 20 });
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(report).toEqual({
      names: expect.any(Number),
      blocked: "192.0.2.2",
      explain: ["blocked", "kept-malware"],
      adsBefore: "SERVFAIL",
      adsWithMac: true,
      failedReload: "bad-name",
      afterFailedReload: "192.0.2.2",
      reload: true,
      newly: "192.0.2.2",
      logged: true,
      statsQueries: true,
      crashExplain: "the DNS filter is not answering",
      restarted: true,
      restarts: 1,
      macsAfterRestart: "192.0.2.2",
      statsCumulative: true,
      crashLogged: true,
      creditHeld: true,
      creditNoLoss: true,
      creditRecords: 100,
      lastRecords: 20,
      afterStop: "timeout",
    });
  }, 120_000);
});
