/**
 * URL filtering on the box, end to end: the firmware under Deno in a lab runs its DNS filter,
 * the ruleset diverts all LAN DNS to it, and real clients (dig, curl) see blocks, the block
 * page and the fallbacks; the lab's dnsmasq in `wan` is the upstream resolver.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { prepareFirmware, runFirmware, startFirmware, type FirmwareDirs } from "../lab/firmware.ts";

const baselineRaw = JSON.parse(await readFile(new URL("../../policies/baseline.json", import.meta.url), "utf8"));
const root = process.getuid?.() === 0;

for (const mode of ["bridge", "router"] as const) {
  describe.skipIf(!root)(`DNS filter in ${mode} mode`, () => {
    let lab: Lab;
    let fw: FirmwareDirs;
    let firmware: LabProcess;

    const dig = async (args: string[], ns: "lan1" | "lan2" = "lan1") =>
      (await lab.exec(ns, ["dig", "+time=2", "+tries=1", ...args], { timeoutMs: 10_000 })).stdout;
    const short = async (name: string, server = lab.addr.dns.v4, extra: string[] = []) =>
      (await dig(["+short", `@${server}`, ...extra, name])).trim();

    beforeAll(async () => {
      lab = await createLab({ mode });
      fw = await prepareFirmware(lab);
      const p = structuredClone(baselineRaw);
      p.id = "lab-dns";
      p.dns.block = ["evil.example.test"];
      // The lab's "DoH resolver": the C&C host's HTTP port 443 stands in for one.
      p.dns.dohAddresses = [lab.addr.c2.v4];
      p.dns.dohNames = ["doh.example.test"];
      p.dns.upstreams = [lab.addr.dns.v4];
      // A more specific allow beats the block of its parent name.
      p.dns.allow = ["good.evil.example.test"];
      p.dns.block.push(lab.addr.names.cnameTarget);
      // An inline list whose category only lan1's group blocks.
      p.dns.lists = [{ id: "ads-sample", category: "ads", format: "domains", match: "subdomain", entries: ["ads.example.test"] }];
      p.dns.groups = [{ id: "lan1-strict", clients: [`${lab.addr.lan1.v4}/32`], blockCategories: [...p.dns.blockCategories, "ads"] }];
      // A list the box downloads (the provider's URL, here the lab's web server), and one
      // whose URL fails: the filter starts without it and says so, never unfiltered.
      await writeFile(join(lab.runDir, "www", "web", "phish.txt"), "# lab feed\n0.0.0.0 phish.example.test\n0.0.0.0 login-bank.example.test\n");
      p.dns.lists.push(
        { id: "phish-feed", category: "phishing", format: "hosts", match: "subdomain", url: `http://${lab.addr.web.v4}/phish.txt` },
        { id: "gone-feed", category: "malware", format: "domains", match: "subdomain", url: `http://${lab.addr.web.v4}/missing.txt` },
        // A list server that never answers: its download must hold up nothing (start-up,
        // policy reloads, the restart below).
        { id: "hung-feed", category: "malware", format: "domains", match: "subdomain", url: `http://${lab.addr.web.v4}/hang/list.txt` },
      );
      await writeFile(fw.policyPath, JSON.stringify(p));
      firmware = await startFirmware(lab, fw);
    });
    afterAll(async () => {
      await firmware?.kill();
      await lab?.destroy();
    });

    it("downloads the policy's URL lists at start, keeps them, and reports the one that failed", async () => {
      await waitFor("the downloaded list to block its names", async () => (await short("www.phish.example.test")) === lab.box.lanAddr4, { timeoutMs: 15_000 });
      expect(await short("login-bank.example.test")).toBe(lab.box.lanAddr4);
      expect(await readFile(join(fw.dataDir, "dns-lists", "phish-feed.txt"), "utf8")).toContain("phish.example.test");
      expect(await readFile(firmware.logFile, "utf8")).toMatch(/dns: list gone-feed missing: HTTP 404/);
      // The block page says why, from the running filter (on its own thread under Deno).
      const page = (await lab.exec("lan1", ["curl", "-s", "-H", "Host: www.phish.example.test", `http://${lab.box.lanAddr4}/`])).stdout;
      expect(page).toContain("フィッシング(詐欺)");
      expect(page).toContain("<code>phish-feed</code>");
    });

    it("answers a blocked name with the box's address, and forwards the rest to the upstream", async () => {
      expect(await short("evil.example.test")).toBe(lab.box.lanAddr4);
      expect(await short("www.evil.example.test")).toBe(lab.box.lanAddr4);
      expect(await short("upstream.test")).toBe(lab.addr.web.v4);
      expect(await short("evil.example.test", lab.addr.dns.v4, ["AAAA"])).toBe(lab.box.lanAddr6);
    });

    it("lets a more specific allow through, and blocks a category for lan1's group only", async () => {
      expect(await short("good.evil.example.test")).toBe(lab.addr.web.v4);
      expect(await short("ads.example.test")).toBe(lab.box.lanAddr4);
      expect((await dig(["+short", `@${lab.addr.dns.v4}`, "ads.example.test"], "lan2")).trim()).toBe(lab.addr.web.v4);
    });

    it("blocks a name whose upstream answer goes through a CNAME to a blocked name, for A and AAAA alike", async () => {
      // Without the filter the upstream answers it (through the CNAME) with the web server.
      const direct = await lab.exec("wan", ["dig", "+short", `@${lab.addr.dns.v4}`, lab.addr.names.cloaked]);
      expect(direct.stdout).toContain(lab.addr.web.v4);
      expect(await short(lab.addr.names.cloaked)).toBe(lab.box.lanAddr4);
      expect(await short(lab.addr.names.cloaked, lab.addr.dns.v4, ["AAAA"])).toBe(lab.box.lanAddr6);
    });

    it("diverts DNS aimed at any other resolver (UDP and TCP, IPv4 and IPv6) to the filter", async () => {
      // 203.0.113.66 runs no resolver at all: only the divert can answer.
      expect(await short("evil.example.test", lab.addr.attacker.v4)).toBe(lab.box.lanAddr4);
      expect(await short("upstream.test", lab.addr.attacker.v4)).toBe(lab.addr.web.v4);
      expect(await short("evil.example.test", lab.addr.attacker.v4, ["+tcp"])).toBe(lab.box.lanAddr4);
      expect(await short("evil.example.test", lab.addr.dns.v6)).toBe(lab.box.lanAddr4);
    });

    it("refuses the DoH canary, DoH names and Apple's relay; answers sekisho.home.arpa", async () => {
      for (const name of ["use-application-dns.net", "mask.icloud.com", "doh.example.test"]) {
        expect(await dig([`@${lab.addr.dns.v4}`, name]), name).toMatch(/status: NXDOMAIN/);
      }
      expect(await short("sekisho.home.arpa")).toBe(lab.box.lanAddr4);
    });

    it("shows the Japanese block page, with the site name escaped", async () => {
      const page = (await lab.exec("lan1", ["curl", "-s", "-H", "Host: evil.example.test", `http://${lab.box.lanAddr4}/`])).stdout;
      expect(page).toContain("このサイトはブロックされました");
      expect(page).toContain("evil.example.test");
      const hostile = (await lab.exec("lan1", ["curl", "-s", "-H", "Host: <img src=x onerror=alert(1)>.test", `http://${lab.box.lanAddr4}/`])).stdout;
      expect(hostile).not.toContain("<img");
      expect(hostile).toContain("&#60;img");
    });

    it("drops DoT and refuses HTTPS to a listed DoH resolver at once", async () => {
      const dot = await lab.exec("lan1", ["curl", "-s", "--connect-timeout", "2", `telnet://${lab.addr.dns.v4}:853`], { timeoutMs: 10_000 });
      expect(dot.code).toBe(28); // dropped
      // The "DoH resolver" is up (the internet reaches it) ...
      const up = await lab.exec("wan", ["curl", "-s", "-o", "/dev/null", "--interface", lab.addr.web.v4, `http://${lab.addr.c2.v4}:443/`]);
      expect(up.code).toBe(0);
      // ... but from the LAN the connection is reset at once, not left to time out.
      const t0 = performance.now();
      const doh = await lab.exec("lan1", ["curl", "-s", "--connect-timeout", "3", `http://${lab.addr.c2.v4}:443/`]);
      expect(doh.code).toBe(7); // connection refused (reset)
      expect(performance.now() - t0).toBeLessThan(1500);
    });

    it("explains a decision without sending a packet, and shows the running filter's counters", async () => {
      const q = await runFirmware(lab, fw, ["dns", "query", "www.evil.example.test", "--client", lab.addr.lan1.v4, "--policy", fw.policyPath]);
      expect(q.stderr).toBe("");
      expect(q.stdout).toMatch(/decision: blocked by the policy's own list/);
      expect(q.stdout).toMatch(/rule: +evil\.example\.test \(this name and every name below it\)/);
      const ok = await runFirmware(lab, fw, ["dns", "query", "upstream.test", "--policy", fw.policyPath]);
      expect(ok.stdout).toMatch(/decision: no rule: forwarded/);
      await waitFor("the stats file", async () => (await runFirmware(lab, fw, ["dns", "stats"])).code === 0, { timeoutMs: 5000 });
      const st = await runFirmware(lab, fw, ["dns", "stats"]);
      const blocked = Number(/blocked\s+(\d+)/.exec(st.stdout)?.[1]);
      expect(blocked).toBeGreaterThan(0);
    });

    it("keeps filtering with the applied policy after a restart without a policy file", async () => {
      await firmware.kill("SIGTERM");
      expect(await firmware.exited).toBe(0);
      firmware = await startFirmware(lab, fw, { policy: false, name: "firmware-restarted" });
      expect(await short("evil.example.test")).toBe(lab.box.lanAddr4);
      const q = await runFirmware(lab, fw, ["dns", "query", "evil.example.test"]);
      expect(q.stdout).toMatch(/decision: blocked/);
    });

    it("records a blocked query as a web event", async () => {
      await short("evil.example.test");
      await waitFor("the dns-block event", async () => {
        const r = await runFirmware(lab, fw, ["events", "--json", "--limit", "200"]);
        const events = (JSON.parse(r.stdout) as { events: { logId: string; category: string; lanIp?: string; domain?: string }[] }).events;
        return events.some((e) => e.logId === "dns-block" && e.category === "web" && e.lanIp === lab.addr.lan1.v4 && e.domain === "evil.example.test");
      }, { timeoutMs: 6000, intervalMs: 300 });
    });
  });
}
