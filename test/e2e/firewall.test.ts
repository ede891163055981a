/**
 * The backbone end to end: the firmware under Deno (with the box's exact permissions) in
 * the box namespace of a lab, real nft, real packets (curl, nmap), real ulogd2 — in both
 * deployment modes.
 */
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIpv4 } from "../../policies/net.ts";
import { createLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { prepareFirmware, runFirmware, startFirmware, type FirmwareDirs } from "../lab/firmware.ts";

const baselineRaw = JSON.parse(await readFile(new URL("../../policies/baseline.json", import.meta.url), "utf8"));
const root = process.getuid?.() === 0;

/** The baseline with the lab's C&C server listed and lan1's HTTP port opened to the internet. */
function labPolicy(lab: Lab, serial: number, c2Extra: string[] = []): Record<string, any> {
  const p = structuredClone(baselineRaw);
  p.id = "lab";
  p.serial = serial;
  p.blocklists[0].entries = [lab.addr.c2.v4, lab.addr.c2.v6, ...c2Extra];
  p.inbound.allow = [{ id: "lan1-http", to: lab.addr.lan1.v4, protocol: "tcp", port: lab.addr.lan1Ports.http }];
  return p;
}

type Status = { table: boolean; policy: { id: string; serial: number } | null; counters: Record<string, { packets: number }> };

for (const mode of ["bridge", "router"] as const) {
  describe.skipIf(!root)(`firewall in ${mode} mode`, () => {
    let lab: Lab;
    let fw: FirmwareDirs;
    let firmware: LabProcess;

    const status = async (): Promise<Status> => {
      const r = await runFirmware(lab, fw, ["status", "--json"]);
      if (r.code !== 0 && r.code !== 1) throw new Error(`status failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as Status;
    };
    const counter = async (name: string) => (await status()).counters[name]?.packets ?? 0;
    /** curl's exit code: 0 = answered, 28 = timed out (dropped), 7 = refused. */
    const curl = async (ns: "wan" | "lan1" | "lan2", url: string, from?: string): Promise<number> => {
      const r = await lab.exec(ns, ["curl", "-s", "-o", "/dev/null", "--connect-timeout", "2", "--max-time", "3",
        ...(from ? ["--interface", from] : []), url], { timeoutMs: 10_000 });
      return r.code;
    };
    const url = (host: string, port: number) => (host.includes(":") ? `http://[${host}]:${port}/` : `http://${host}:${port}/`);
    /** Where the internet connects to reach lan1's port: lan1 itself (bridge), the box's WAN address (router). */
    const inboundTarget = () => (mode === "bridge" ? lab.addr.lan1.v4 : lab.box.wanAddr4!);
    const inboundDropCounter = mode === "bridge" ? "sys_inbound" : "sys_box_inbound";

    beforeAll(async () => {
      lab = await createLab({ mode });
      fw = await prepareFirmware(lab);
      await writeFile(fw.policyPath, JSON.stringify(labPolicy(lab, 1)));
      firmware = await startFirmware(lab, fw);
    });
    afterAll(async () => {
      await firmware?.kill();
      await lab?.destroy();
    });

    it("applies the policy at start-up", async () => {
      const s = await status();
      expect(s.table).toBe(true);
      expect(s.policy).toMatchObject({ id: "lab", serial: 1 });
      expect(await readFile(firmware.logFile, "utf8")).toMatch(/boot: no last-known-good ruleset yet; applying the shipped baseline/);
    });

    it("lets the LAN reach the internet", async () => {
      const before = await counter("sys_lan_out");
      expect(await curl("lan1", url(lab.addr.web.v4, 80))).toBe(0);
      expect(await curl("lan2", url(lab.addr.web.v6, 80))).toBe(0);
      expect(await counter("sys_lan_out")).toBeGreaterThan(before);
    });

    it("drops unsolicited connections from the internet, and an allow rule opens exactly its port", async () => {
      // The service is up: lan2 reaches it on the LAN (in bridge mode lan1↔lan2 never crosses the box).
      expect(await curl("lan2", url(lab.addr.lan1.v4, lab.addr.lan1Ports.ssh))).toBe(0);
      const before = await counter(inboundDropCounter);
      expect(await curl("wan", url(inboundTarget(), lab.addr.lan1Ports.ssh), lab.addr.attacker.v4)).toBe(28);
      expect(await counter(inboundDropCounter)).toBeGreaterThan(before);

      const allowed = await counter("lan1_http");
      expect(await curl("wan", url(inboundTarget(), lab.addr.lan1Ports.http), lab.addr.attacker.v4)).toBe(0);
      expect(await counter("lan1_http")).toBe(allowed + 1);
    });

    it("drops unsolicited IPv6 from the internet too (routed, not translated, in router mode)", async () => {
      const before = await counter("sys_inbound");
      expect(await curl("wan", url(lab.addr.lan1.v6, lab.addr.lan1Ports.ssh), lab.addr.attacker.v6)).toBe(28);
      expect(await counter("sys_inbound")).toBeGreaterThan(before);
    });

    it("blocks a LAN host talking to a C&C address both ways; the NFLOG record with the rule id reaches the firmware", async () => {
      // The C&C server is up: the internet itself reaches it.
      expect(await curl("wan", url(lab.addr.c2.v4, lab.addr.c2Ports[0]!), lab.addr.web.v4)).toBe(0);
      const before = await counter("c2_feed__out");
      expect(await curl("lan1", url(lab.addr.c2.v4, lab.addr.c2Ports[0]!))).toBe(28);
      expect(await curl("lan1", url(lab.addr.c2.v6, lab.addr.c2Ports[0]!))).toBe(28);
      expect(await counter("c2_feed__out")).toBeGreaterThan(before);
      // ulogd2 (started by the firmware) → the log receiver → the event store.
      await waitFor("a stored event of rule c2-feed.out from lan1", async () => {
        const r = await runFirmware(lab, fw, ["events", "--json", "--limit", "200"]);
        const events = (JSON.parse(r.stdout) as { events: { logId: string; lanIp?: string; remoteIp?: string }[] }).events;
        return events.some((e) => e.logId === "c2-feed.out" && e.lanIp === lab.addr.lan1.v4 && e.remoteIp === lab.addr.c2.v4);
      }, { timeoutMs: 5000, intervalMs: 250 });
    });

    it("refuses a broken or hostile policy with a clear error and changes nothing", async () => {
      const listing = async () => (await lab.exec("box", ["nft", "-t", "-j", "list", "ruleset"])).stdout
        .replace(/"packets": \d+, "bytes": \d+/g, "");
      const before = await listing();
      const cases: [string, string, RegExp][] = [
        ["syntax", '{"schemaVersion": 1, "id": "x",', /not valid JSON/],
        ["schema", JSON.stringify({ ...labPolicy(lab, 2), portScan: { ...baselineRaw.portScan, banSeconds: -1 } }), /portScan\.banSeconds/],
        ["injection", JSON.stringify({ ...labPolicy(lab, 2), blocklists: [{ ...baselineRaw.blocklists[0], id: 'x"; flush ruleset; "' }] }), /blocklists\[0\]\.id/],
        ["address", JSON.stringify(labPolicy(lab, 2, ["203.0.113.0/33"])), /blocklists\[0\]\.entries\[2\]: prefix length/],
      ];
      for (const [name, text, message] of cases) {
        const path = `${fw.configDir}/broken-${name}.json`;
        await writeFile(path, text);
        const r = await runFirmware(lab, fw, ["apply", "--policy", path]);
        expect(r.code, name).toBe(1);
        expect(r.stderr, name).toMatch(/invalid, nothing was changed/);
        expect(r.stderr, name).toMatch(message);
      }
      expect(await listing()).toBe(before);
      expect((await status()).policy).toMatchObject({ id: "lab", serial: 1 });
    });

    it("bans an nmap scanner within seconds; its later connections are dropped, even to an allowed port", async () => {
      const target = inboundTarget();
      const nmap = lab.spawn("wan", "nmap", ["nmap", "-n", "-Pn", "-sS", "-p", "1-200", "-S", lab.addr.attacker.v4, "-e", lab.addr.wanIf, target]);
      const t0 = performance.now();
      try {
        await waitFor("the scanner in banned_v4", async () => {
          const r = await lab.exec("box", ["nft", "-j", "list", "set", "inet", "sekisho", "banned_v4"]);
          return r.stdout.includes(`"${lab.addr.attacker.v4}"`);
        }, { timeoutMs: 10_000, intervalMs: 50 });
      } finally {
        await nmap.kill();
      }
      expect(performance.now() - t0).toBeLessThan(10_000);
      const before = await counter("port_scan__banned");
      expect(await curl("wan", url(target, lab.addr.lan1Ports.http), lab.addr.attacker.v4)).toBe(28);
      expect(await counter("port_scan__banned")).toBeGreaterThan(before);
      expect(await counter("port_scan")).toBeGreaterThan(0);
      // Another internet host is not affected by the ban.
      expect(await curl("wan", url(target, lab.addr.lan1Ports.http), lab.addr.web.v4)).toBe(0);
    });

    // The diff path does not depend on the mode: once is enough.
    if (mode === "bridge") it("changes a 10k blocklist by element diff: same table, exact contents", async () => {
      const hosts = (n: number, from: number) => Array.from({ length: n }, (_, i) => formatIpv4(0x64400000 + from + i));
      const handle = async () => JSON.parse((await lab.exec("box", ["nft", "-t", "-j", "list", "tables"])).stdout).nftables
        .find((o: any) => o.table?.family === "inet" && o.table?.name === "sekisho").table.handle as number;
      await writeFile(fw.policyPath, JSON.stringify(labPolicy(lab, 3, hosts(10_000, 0))));
      let r = await runFirmware(lab, fw, ["apply", "--policy", fw.policyPath]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/serial 3 applied \((replace|diff)/);
      const h = await handle();
      const next = [...hosts(9_900, 100), ...hosts(100, 20_000)];
      await writeFile(fw.policyPath, JSON.stringify(labPolicy(lab, 4, next)));
      r = await runFirmware(lab, fw, ["apply", "--policy", fw.policyPath]);
      expect(r.stdout).toMatch(/serial 4 applied \(diff, \+100 -100 elements/);
      expect(await handle()).toBe(h);
      const listed = JSON.parse((await lab.exec("box", ["nft", "-j", "list", "set", "inet", "sekisho", "bl_c2_feed_v4"])).stdout)
        .nftables.find((o: any) => o.set).set.elem as string[];
      expect(new Set(listed)).toEqual(new Set([lab.addr.c2.v4, ...next]));
      expect(listed.length).toBe(10_001);
    });

    if (mode === "bridge") it("cuts a connection that was open before its address was listed", async () => {
      const c2 = lab.addr.c2.v4;
      const serial = (await status()).policy!.serial;
      // Unlist the C&C, let lan1 open a connection to it and hold it idle.
      const unlisted = labPolicy(lab, serial + 1);
      unlisted.blocklists[0].entries = [];
      await writeFile(fw.policyPath, JSON.stringify(unlisted));
      expect((await runFirmware(lab, fw, ["apply", "--policy", fw.policyPath])).code).toBe(0);
      const trigger = `${lab.runDir}/go-${Date.now()}`;
      const client = lab.spawn("lan1", "held-connection", ["python3", "-u", "-c", `
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("connected", flush=True)
while not os.path.exists(sys.argv[3]): time.sleep(0.02)
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
s.settimeout(3)
try:
    print("answered", len(s.recv(100)), flush=True)
except OSError as e:
    print("no answer:", type(e).__name__, flush=True)`, c2, String(lab.addr.c2Ports[0]), trigger]);
      const out = () => readFile(client.logFile, "utf8").catch(() => "");
      await waitFor("the held connection", async () => (await out()).includes("connected"), { timeoutMs: 8000 })
        .catch(async (e: Error) => { throw new Error(`${e.message}; client said: ${await out()}`); });
      // Now the feed lists it: the enforcer applies the diff and cuts the live flow.
      await writeFile(fw.policyPath, JSON.stringify(labPolicy(lab, serial + 2)));
      const r = await runFirmware(lab, fw, ["apply", "--policy", fw.policyPath]);
      expect(r.stdout).toMatch(/\(diff, \+2 -0 elements.*cut the open connections of 1 newly blocked addresses/);
      await writeFile(trigger, "");
      await waitFor("the client to give up", async () => /answered|no answer/.test(await out()), { timeoutMs: 8000 });
      expect(await out()).toMatch(/no answer: (timeout|TimeoutError)/);
      await client.kill();
    });

    it("stops cleanly on SIGTERM and restores the last-known-good on the boot path", async () => {
      const serial = (await status()).policy!.serial;
      await firmware.kill("SIGTERM");
      expect(await firmware.exited).toBe(0);
      expect(await readFile(firmware.logFile, "utf8")).toMatch(/SIGTERM: stopping/);
      // A reboot: the kernel comes up with no ruleset at all.
      await lab.exec("box", ["nft", "flush", "ruleset"]);
      expect((await status()).table).toBe(false);
      firmware = await startFirmware(lab, fw, { policy: false, name: "firmware-boot" });
      expect(await readFile(firmware.logFile, "utf8")).toMatch(new RegExp(`boot: last-known-good policy lab serial ${serial} applied`));
      expect((await status()).table).toBe(true);
      // The restored ruleset enforces: the C&C is still blocked.
      expect(await curl("lan1", url(lab.addr.c2.v4, lab.addr.c2Ports[0]!))).toBe(28);
      expect(await curl("lan1", url(lab.addr.web.v4, 80))).toBe(0);
    });

    it("puts the ruleset back when something flushes it behind the firmware's back", async () => {
      await lab.exec("box", ["nft", "flush", "ruleset"]);
      await waitFor("the watchdog to restore the table", async () => (await status()).table, { timeoutMs: 15_000, intervalMs: 200 });
      expect(await readFile(firmware.logFile, "utf8")).toMatch(/watchdog: table inet sekisho is gone/);
      expect(await curl("lan1", url(lab.addr.c2.v4, lab.addr.c2Ports[0]!))).toBe(28);
    });

    it("keeps the lab sealed", async () => {
      expect(await lab.sealLeaks()).toBe(0);
    });
  });
}
