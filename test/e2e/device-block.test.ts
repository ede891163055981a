/**
 * Blocking a LAN device (a local override) end to end, in both deployment modes: the
 * compiled ruleset applied by the real Enforcer in a lab's box, real packets from lan1 and
 * lan2. Blocking and unblocking are element diffs of `blocked_devices`; the drop is logged
 * to NFLOG with the rule id, and the firmware's own parser and classifier read it back.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Enforcer } from "../../firmware/enforce/enforcer.ts";
import { classify, lanNetworks } from "../../firmware/events/classify.ts";
import { parseUlogdJson } from "../../firmware/logs/ulogd-json.ts";
import { Nft } from "../../firmware/nftables/driver.ts";
import { BLOCKED_DEVICES_SET, compileRuleset, TABLE } from "../../firmware/ruleset/compile.ts";
import { parseDevice, type Device } from "../../policies/device.ts";
import { parsePolicy, type Policy } from "../../policies/schema.ts";
import { createLab, waitFor, type Lab, type NflogListener } from "../lab/lab.ts";
import { labDevice, prepareFirmware } from "../lab/firmware.ts";

const root = process.getuid?.() === 0;
const baselineRaw = JSON.parse(await readFile(new URL("../../policies/baseline.json", import.meta.url), "utf8"));

/**
 * The baseline with lan1's HTTP port open to the internet, without the DNS filter (none runs
 * here: the test talks to addresses) and without real DoH addresses.
 */
function labPolicy(lab: Lab): Policy {
  const p = structuredClone(baselineRaw);
  p.id = "lab";
  p.inbound.allow = [{ id: "lan1-http", to: lab.addr.lan1.v4, protocol: "tcp", port: lab.addr.lan1Ports.http }];
  p.dns.enabled = false;
  p.dns.dohAddresses = [];
  const r = parsePolicy(p);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

for (const mode of ["bridge", "router"] as const) {
  describe.skipIf(!root)(`blocking a LAN device in ${mode} mode`, () => {
    let lab: Lab;
    let device: Device;
    let nft: Nft;
    let enforcer: Enforcer;
    let nflog: NflogListener;
    const family = mode === "bridge" ? "bridge" : "inet";
    let policy: Policy;
    const compiled = (blockedDevices: string[]) => compileRuleset(policy, device, { blockedDevices });

    /** curl's exit code: 0 = answered, 7 = refused (a reset), 28 = timed out (dropped). */
    const curl = async (ns: "lan1" | "lan2" | "wan", url: string, from?: string): Promise<number> =>
      (await lab.exec(ns, ["curl", "-s", "-o", "/dev/null", "--connect-timeout", "2", "--max-time", "3",
        ...(from ? ["--interface", from] : []), url], { timeoutMs: 10_000 })).code;
    /** lan1's opened port as the internet reaches it: lan1 itself (bridge), the box's WAN address (router, DNAT). */
    const inbound = () => url(mode === "bridge" ? lab.addr.lan1.v4 : lab.box.wanAddr4!, lab.addr.lan1Ports.http);
    const url = (host: string, port: number) => (host.includes(":") ? `http://[${host}]:${port}/` : `http://${host}:${port}/`);
    const blockCounter = async () => (await nft.listCounters(family, TABLE)).get("local_device_block__out")?.packets ?? 0;

    beforeAll(async () => {
      lab = await createLab({ mode });
      policy = labPolicy(lab);
      const dirs = await prepareFirmware(lab);
      const d = parseDevice(labDevice(lab, dirs));
      if (!d.ok) throw new Error(JSON.stringify(d.problems));
      device = d.value;
      nft = new Nft({ argv: ["ip", "netns", "exec", lab.ns.box, "nft"], runDir: dirs.runDir });
      enforcer = new Enforcer({ nft, dataDir: dirs.dataDir });
      nflog = await lab.startNflogListener([device.logGroup]);
      expect(await enforcer.apply(compiled([]))).toMatchObject({ ok: true, kind: "replace" });
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    it("lets both PCs through while nobody is blocked", async () => {
      expect(await curl("lan1", url(lab.addr.web.v4, 80))).toBe(0);
      expect(await curl("lan1", url(lab.addr.web.v6, 80))).toBe(0);
      expect(await curl("lan2", url(lab.addr.web.v4, 80))).toBe(0);
      // The box answers lan1 (a reset from the input chain: nothing listens on :81).
      expect(await curl("lan1", url(lab.box.lanAddr4, 81))).toBe(7);
      expect(await curl("wan", inbound(), lab.addr.attacker.v4)).toBe(0);
    });

    it("blocks lan1 by an element diff: lan1 reaches neither the internet nor the box, lan2 still does", async () => {
      const before = await blockCounter();
      const o = await enforcer.apply(compiled([lab.addr.lan1.mac]));
      expect(o).toMatchObject({ ok: true, kind: "diff", added: 1, deleted: 0 });
      expect(await nft.listSetElements(family, TABLE, BLOCKED_DEVICES_SET)).toEqual([lab.addr.lan1.mac]);

      expect(await curl("lan1", url(lab.addr.web.v4, 80))).toBe(28);
      expect(await curl("lan1", url(lab.addr.web.v6, 80))).toBe(28);
      expect(await curl("lan1", url(lab.box.lanAddr4, 81))).toBe(28);
      // Nor does the internet reach it through the allow rule (bridge: its frames are dropped
      // on the way in; router: its answers are).
      expect(await curl("wan", inbound(), lab.addr.attacker.v4)).toBe(28);
      if (mode === "bridge") expect((await nft.listCounters(family, TABLE)).get("local_device_block__in")?.packets ?? 0).toBeGreaterThan(0);      expect((await lab.exec("lan1", ["ping", "-c", "1", "-W", "1", lab.addr.web.v4])).code).not.toBe(0);
      expect(await curl("lan2", url(lab.addr.web.v4, 80))).toBe(0);
      expect(await curl("lan2", url(lab.addr.web.v6, 80))).toBe(0);
      expect(await blockCounter()).toBeGreaterThan(before);
    });

    it("logs the drop with the rule id; the firmware's parser and classifier read it as lan1's", async () => {
      const lan = lanNetworks(device.lanPrefixes);
      const mine = async () => (await nflog.lines()).flatMap((line) => {
        const r = parseUlogdJson(new TextEncoder().encode(line), Date.now());
        if (!r.ok || r.record.prefix !== "sk:local-device-block.out:") return [];
        const e = classify(r.record, compiled([lab.addr.lan1.mac]).meta, lan);
        return e ? [e] : [];
      });
      await waitFor("a classified local-device-block.out event", async () => (await mine()).length > 0, { timeoutMs: 5000, intervalMs: 100 });
      const events = await mine();
      // The source MAC is lan1's: the inventory ties the event to the device the admin blocked.
      expect(events.some((e) => e.lanIp === lab.addr.lan1.v4 && e.remoteIp === lab.addr.web.v4 && e.lanMac === lab.addr.lan1.mac)).toBe(true);
      for (const e of events) {
        expect(e).toMatchObject({ ruleId: "local-device-block", category: "endpoint", severity: "low", direction: "outbound", action: "drop" });
        if (e.lanMac !== undefined) expect(e.lanMac).toBe(lab.addr.lan1.mac);
      }
    });

    it("unblocks lan1 by an element diff, and lan1 works again", async () => {
      const o = await enforcer.apply(compiled([]));
      expect(o).toMatchObject({ ok: true, kind: "diff", added: 0, deleted: 1 });
      expect(await nft.listSetElements(family, TABLE, BLOCKED_DEVICES_SET)).toEqual([]);
      // Neighbour entries that failed while lan1 was cut off may take a retry to come back.
      await waitFor("lan1 reaches the web server again", async () => (await curl("lan1", url(lab.addr.web.v4, 80))) === 0, { timeoutMs: 10_000, intervalMs: 200 });
      expect(await curl("lan1", url(lab.addr.web.v6, 80))).toBe(0);
      expect(await curl("lan1", url(lab.box.lanAddr4, 81))).toBe(7);
      expect(await curl("wan", inbound(), lab.addr.attacker.v4)).toBe(0);
      expect(await lab.sealLeaks()).toBe(0);
    });
  });
}

