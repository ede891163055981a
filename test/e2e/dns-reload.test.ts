/**
 * The DNS filter's lists are swapped under load without failing a query (issue 6, "Reload
 * without dropping"): the firmware under Deno in the lab's box, dnsperf in lan1 asking the
 * box (through the ruleset's divert) while the operator's reload (a changed policy file, then
 * SIGHUP) swaps a 200k-name list for another and back, five times. Every query gets an
 * answer, every answer is the one its name should get, and the last swap is in force after.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { prepareFirmware, startFirmware, type FirmwareDirs } from "../lab/firmware.ts";

const baselineRaw = JSON.parse(await readFile(new URL("../../policies/baseline.json", import.meta.url), "utf8"));
const root = process.getuid?.() === 0;

/** Names in both lists (blocked all along), in list A only, in list B only. */
const NAMES = 200_000;
const both = (i: number) => `b${i}-${((i * 2654435761) >>> 0).toString(36)}.listed.test`;
const onlyA = (i: number) => `a${i}.only-a.test`;
const onlyB = (i: number) => `b${i}.only-b.test`;
const ONLY = 1000;

describe.skipIf(!root)("DNS list swap under load", () => {
  let lab: Lab;
  let fw: FirmwareDirs;
  let firmware: LabProcess;
  let serial = 1;

  const policy = (listId: string) => {
    const p = structuredClone(baselineRaw);
    p.id = "lab-dns-reload";
    p.serial = serial++;
    p.dns.upstreams = [lab.addr.dns.v4];
    p.dns.dohAddresses = [lab.addr.c2.v4];
    p.dns.lists = [{ id: listId, category: "malware", format: "domains", match: "subdomain", url: `https://lists.example/${listId}.txt` }];
    return JSON.stringify(p);
  };
  const dig = async (name: string) =>
    (await lab.exec("lan1", ["dig", "+time=2", "+tries=1", `@${lab.box.lanAddr4}`, name], { timeoutMs: 10_000 })).stdout;
  const applied = async () => (await readFile(firmware.logFile, "utf8")).split("\n").filter((l) => / applied \(/.test(l)).length;
  const stats = async () => JSON.parse(await readFile(join(fw.runDir, "dns-stats.json"), "utf8")) as { queries: number; reloads: number };

  beforeAll(async () => {
    lab = await createLab({ mode: "bridge" });
    fw = await prepareFirmware(lab);
    // The kept copies of two URL lists, as the box has them after a download.
    const lists = join(fw.dataDir, "dns-lists");
    await mkdir(lists, { recursive: true });
    const common = Array.from({ length: NAMES }, (_, i) => both(i));
    await writeFile(join(lists, "list-a.txt"), [...common, ...Array.from({ length: ONLY }, (_, i) => onlyA(i))].join("\n") + "\n");
    await writeFile(join(lists, "list-b.txt"), [...common, ...Array.from({ length: ONLY }, (_, i) => onlyB(i))].join("\n") + "\n");
    await writeFile(fw.policyPath, policy("list-a"));
    firmware = await startFirmware(lab, fw);
  });
  afterAll(async () => {
    await firmware?.kill();
    await lab?.destroy();
  });

  it("answers every query during five swaps, each as its name should be, and the last list is in force after", async () => {
    // Before: list A is in force (its own names blocked, B's not).
    expect(await dig(onlyA(1))).toContain(lab.box.lanAddr4);
    expect(await dig(onlyB(1))).toMatch(/status: NXDOMAIN/);

    // The query file: names in both lists (blocked throughout), names of either list alone
    // (blocked or not, depending on the moment), names the upstream knows, names it does not.
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      lines.push(`${both((i * 7919) % NAMES)} A`, `q${i}.upstream.test A`, `${i % 2 ? onlyA(i % ONLY) : onlyB(i % ONLY)} A`, `x${i}.nothing.test A`);
    }
    const queryFile = join(lab.runDir, "reload-queries.txt");
    await writeFile(queryFile, lines.join("\n") + "\n");
    const seconds = 16;
    // -Q: a busy office's rate, well inside what the lab's upstream answers without loss.
    const perf = lab.exec("lan1", ["dnsperf", "-s", lab.box.lanAddr4, "-p", "53", "-d", queryFile, "-l", String(seconds), "-c", "4", "-q", "50",
      "-Q", "3000", "-t", "3", "-v"], { timeoutMs: (seconds + 20) * 1000 });

    // The load is on (the filter's counters move), then the swaps: each waits for the
    // firmware to log the policy applied and for the filter's swap counter to move.
    await waitFor("dnsperf's queries at the filter", async () => (await stats()).queries > 2000, { timeoutMs: 8000, intervalMs: 200 });
    const reloadMs: number[] = [];
    const reloadsBefore = (await stats()).reloads;
    for (const listId of ["list-b", "list-a", "list-b", "list-a", "list-b"]) {
      const before = await applied();
      const swapsBefore = (await stats()).reloads;
      await writeFile(fw.policyPath, policy(listId));
      const t0 = performance.now();
      process.kill(firmware.pid, "SIGHUP");
      // Done when the policy is applied and the filter has swapped (its counter, written every second).
      await waitFor(`the reload to ${listId}`, async () => (await applied()) > before && (await stats()).reloads > swapsBefore,
        { timeoutMs: 8000, intervalMs: 20 });
      reloadMs.push(performance.now() - t0);
    }
    const r = await perf;
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1]);
    const completed = Number(/Queries completed:\s+(\d+)/.exec(out)?.[1]);
    // The swaps happened while dnsperf was still sending (its -l has not run out).
    expect(reloadMs.reduce((a, b) => a + b, 0) / 1000).toBeLessThan(seconds - 2);
    expect(lost).toBe(0);
    expect(completed).toBeGreaterThan(3000 * seconds * 0.8);

    // Every answer as its name should get it (dnsperf -v: "> RCODE NAME TYPE SECONDS").
    const wrong: string[] = [];
    let checked = 0;
    for (const m of out.matchAll(/^> (\S+) (\S+) \S+ [\d.]+$/gm)) {
      const [, rcode, name] = m as unknown as [string, string, string];
      checked++;
      const ok = name.endsWith(".listed.test") || name.endsWith(".upstream.test") ? rcode === "NOERROR"
        : name.endsWith(".nothing.test") ? rcode === "NXDOMAIN"
        : rcode === "NOERROR" || rcode === "NXDOMAIN";
      if (!ok && wrong.length < 10) wrong.push(`${rcode} ${name}`);
    }
    expect(checked).toBe(completed);
    expect(wrong).toEqual([]);

    // After: list B is in force (the last swap), and the filter counted (at least) five swaps.
    expect(await dig(onlyB(2))).toContain(lab.box.lanAddr4);
    expect(await dig(onlyA(2))).toMatch(/status: NXDOMAIN/);
    expect((await stats()).reloads - reloadsBefore).toBeGreaterThanOrEqual(5);
    expect(await readFile(firmware.logFile, "utf8")).not.toMatch(/reload failed/);
  });
});
