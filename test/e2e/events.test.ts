/**
 * From packets to plain-language alerts, end to end: the firmware under Deno in a
 * bridge-mode lab with its real ulogd2, log receiver, event store, alert engine and
 * inventory; real packets from nmap, curl and a syslog sender.
 */
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, waitFor, type Lab, type LabProcess } from "../lab/lab.ts";
import { prepareFirmware, runFirmware, startFirmware, type FirmwareDirs } from "../lab/firmware.ts";

const baselineRaw = JSON.parse(await readFile(new URL("../../policies/baseline.json", import.meta.url), "utf8"));
const root = process.getuid?.() === 0;

type Incident = { id: number; kind: string; category: string; logId: string; remoteIp?: string; lanIp?: string; count: number; portCount: number; ports: number[] };
type Event = { logId: string; category: string; severity: string; lanIp?: string; lanMac?: string; remoteIp?: string; message?: string };
type Alert = {
  id: string; kind: string; severity: string; state: string; count: number; firstSeen: number;
  device: { ip?: string; mac?: string }; evidence: Record<string, unknown>; text: { title: string };
};

describe.skipIf(!root)("events, incidents, alerts and devices (bridge mode)", () => {
  let lab: Lab;
  let fw: FirmwareDirs;
  let firmware: LabProcess;

  const cli = async <T>(...args: string[]): Promise<T> => {
    const r = await runFirmware(lab, fw, [...args, "--json"]);
    if (r.code !== 0) throw new Error(`sekisho ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const events = () => cli<{ incidents: Incident[]; events: Event[] }>("events", "--limit", "5000");
  const alerts = () => cli<Alert[]>("alerts", "--limit", "500");
  const service = async () => (await cli<{ service: any }>("status")).service;
  const curl = (ns: "wan" | "lan1" | "lan2", url: string, from?: string) =>
    lab.exec(ns, ["curl", "-s", "-o", "/dev/null", "--connect-timeout", "1", "--max-time", "2", ...(from ? ["--interface", from] : []), url], { timeoutMs: 10_000 });

  beforeAll(async () => {
    lab = await createLab({ mode: "bridge" });
    fw = await prepareFirmware(lab);
    const p = structuredClone(baselineRaw);
    p.id = "lab";
    p.blocklists[0].entries = [lab.addr.c2.v4, lab.addr.c2.v6];
    await writeFile(fw.policyPath, JSON.stringify(p));
    firmware = await startFirmware(lab, fw);
  });
  afterAll(async () => {
    await firmware?.kill();
    await lab?.destroy();
  });

  it("turns a LAN host's C&C connection into one high alert within 5 s, and repeats into the same alert", async () => {
    const t0 = Date.now();
    await curl("lan1", `http://${lab.addr.c2.v4}:${lab.addr.c2Ports[0]}/`);
    let alert: Alert | undefined;
    await waitFor("a high C&C alert for lan1", async () => {
      alert = (await alerts()).find((a) => a.severity === "high" && a.device.ip === lab.addr.lan1.v4);
      return alert !== undefined;
    }, { timeoutMs: 8000, intervalMs: 200 });
    // Detected within 5 s of the packet (the first event time is the packet's log time).
    expect(alert!.firstSeen - t0).toBeLessThan(5000);
    expect(alert!.device.mac).toBe(lab.addr.lan1.mac);
    expect(alert!.state).toBe("open");
    expect(JSON.stringify(alert!.evidence)).toContain("c2-feed");
    expect(alert!.text.title.length).toBeGreaterThan(0);
    const firstCount = alert!.count;

    await curl("lan1", `http://${lab.addr.c2.v4}:${lab.addr.c2Ports[1]}/`);
    await waitFor("the same alert to count the repeat", async () => {
      const mine = (await alerts()).filter((a) => a.severity === "high" && a.device.ip === lab.addr.lan1.v4);
      return mine.length === 1 && mine[0]!.id === alert!.id && mine[0]!.count > firstCount;
    }, { timeoutMs: 8000, intervalMs: 200 });
    const ja = await runFirmware(lab, fw, ["alerts"]);
    expect(ja.stdout).toMatch(/high\s+open/);
  });

  it("collapses an nmap scan from the internet into exactly one inbound incident, with a low alert", async () => {
    const attacker = lab.addr.attacker.v4;
    const nmap = await lab.exec("wan", ["nmap", "-n", "-Pn", "-sS", "-T4", "--max-retries", "0", "-p", "1-100",
      "-S", attacker, "-e", lab.addr.wanIf, lab.addr.lan1.v4], { timeoutMs: 60_000 });
    expect(nmap.code).toBe(0);
    let scans: Incident[] = [];
    await waitFor("the scan incident", async () => {
      scans = (await events()).incidents.filter((i) => i.remoteIp === attacker && i.category === "inbound");
      return scans.length > 0 && scans[0]!.count > 1;
    }, { timeoutMs: 8000, intervalMs: 250 });
    await waitFor("the writer to settle", async () => (await service()).events.pending === 0, { timeoutMs: 5000 });
    scans = (await events()).incidents.filter((i) => i.remoteIp === attacker && i.category === "inbound");
    expect(scans).toHaveLength(1);
    expect(scans[0]!.count).toBeGreaterThan(5);
    expect(scans[0]!.portCount).toBeGreaterThan(1);
    await waitFor("a low scan alert for the attacker", async () =>
      (await alerts()).some((a) => a.kind === "port-scan" && a.severity === "low" && JSON.stringify(a.evidence).includes(attacker)),
    { timeoutMs: 5000, intervalMs: 250 });
    expect((await alerts()).filter((a) => a.kind === "port-scan" && JSON.stringify(a.evidence).includes(attacker))).toHaveLength(1);
  });

  it("files a syslog line from a LAN device as an endpoint event", async () => {
    const line = `<11>Nov 23 10:00:00 nas01 smartd[42]: Device /dev/sda failing (lab ${Date.now()})`;
    await lab.exec("lan2", ["python3", "-c",
      "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(sys.argv[1].encode(), (sys.argv[2], 514))",
      line, lab.box.lanAddr4]);
    await waitFor("the endpoint event", async () =>
      (await events()).events.some((e) => e.category === "endpoint" && e.lanIp === lab.addr.lan2.v4 && (e.message ?? "").includes("failing")),
    { timeoutMs: 5000, intervalMs: 250 });
  });

  it("lists a new host on lan2 with its MAC and vendor, and records a new-device event", async () => {
    // A device with a MAC from IANA's documentation block (00:00:5e:00:53:xx, RFC 7042):
    // its OUI is in the registry, so the vendor is known.
    const mac = "00:00:5e:00:53:01";
    const ip = "192.0.2.12";
    await lab.exec("lan2", ["ip", "link", "set", "eth0", "address", mac]);
    await lab.exec("lan2", ["ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
    // Any packet to the box makes both sides resolve each other (ARP): a TCP connection
    // attempt to a closed port is answered with a reset at once.
    await lab.exec("lan2", ["curl", "-s", "--interface", ip, "--max-time", "2", `http://${lab.box.lanAddr4}:9/`]);
    let device: { mac: string; vendor: string | null; addresses: { ip: string }[] } | undefined;
    await waitFor("the new device in the inventory", async () => {
      device = (await cli<typeof device[]>("devices")).find((d) => d?.mac === mac);
      return device !== undefined && device.addresses.some((a) => a.ip === ip);
    }, { timeoutMs: 15_000, intervalMs: 300 });
    expect(device!.vendor).toMatch(/IANA|ICANN/i);
    await waitFor("a new-device event", async () =>
      (await events()).events.some((e) => e.logId === "new-device" && e.lanMac === mac),
    { timeoutMs: 10_000, intervalMs: 300 });
  });

  it("survives a flood of valid and garbage datagrams, bounded, and accounts for every one", async () => {
    // 20k datagrams/s for 10 s from lan1: a mix of syslog lines, garbage and oversize.
    const sender = `
import socket, time, os, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
dst = (sys.argv[1], 514)
kinds = [b"<13>Nov 23 10:00:00 pc1 app: flood %d", b"\\x00\\xff garbage %d", b"{not json %d", b"<999>bad pri %d"]
rate, secs = 20000, 10
t0 = time.monotonic(); n = 0
total = rate * secs
while n < total:
    target = min(total, int((time.monotonic() - t0) * rate))
    while n < target:
        s.sendto(kinds[n % 4] % n, dst); n += 1
    time.sleep(0.001)
print(n)`;
    const before = await service();
    const r = await lab.exec("lan1", ["python3", "-c", sender, lab.box.lanAddr4], { timeoutMs: 60_000 });
    expect(Number(r.stdout.trim())).toBe(200_000);
    await waitFor("the writer to drain", async () => {
      const s = await service();
      return s.events.pending === 0 && s.receiver.received > before.receiver.received;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    const s = await service();
    // The firmware is still up and answering.
    expect((await cli<{ table: boolean }>("status")).table).toBe(true);
    // Nothing vanished: every datagram taken off the socket was accepted, rejected or dropped.
    expect(s.receiver.received).toBe(s.receiver.accepted + s.receiver.rejected + s.receiver.dropped);
    const got = s.receiver.received - before.receiver.received;
    const rejected = s.receiver.rejected - before.receiver.rejected;
    expect(got).toBeGreaterThan(50_000);
    expect(rejected).toBeGreaterThan(got / 3); // three kinds in four are garbage
    // Memory stayed bounded (the receiver's queue is fixed-size).
    const rss = Number((await lab.exec("box", ["ps", "-o", "rss=", "-p", String(firmware.pid)])).stdout.trim());
    expect(rss).toBeLessThan(400_000); // KiB
  }, 90_000);

  it("loses nothing that was accepted when stopped with SIGTERM during a stream", async () => {
    const tag = `term${Date.now()}`;
    const sender = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    s.sendto(b"<13>Nov 23 10:00:00 pc1 app: %s %d" % (sys.argv[2].encode(), i), (sys.argv[1], 514))
    if i % 100 == 0: time.sleep(0.01)`;
    const stream = lab.exec("lan2", ["python3", "-c", sender, lab.box.lanAddr4, tag], { timeoutMs: 30_000 });
    await waitFor("the stream to be flowing", async () => (await events()).events.some((e) => (e.message ?? "").includes(tag)), { timeoutMs: 5000, intervalMs: 100 });
    await firmware.kill("SIGTERM");
    expect(await firmware.exited).toBe(0);
    await stream;
    const final = JSON.parse(await readFile(`${fw.runDir}/status.json`, "utf8"));
    expect(final.events.pending).toBe(0);
    expect(final.events.writeErrors).toBe(0);
    // Every record the receiver accepted was taken by the writer, and everything it
    // classified was committed before the exit.
    expect(final.events.received).toBe(final.receiver.accepted);
    expect(final.events.written).toBe(final.events.classified + final.events.submitted);
    firmware = await startFirmware(lab, fw, { name: "firmware-2" });
  }, 60_000);
});
