// Run by ulogd.test.ts under Deno inside a throwaway network namespace (ip netns exec), with
// the permissions the firmware needs for its log path. It does what `sekisho run` will do —
// bind the log receiver, start ulogd with buildUlogdConfig's config — then sends real
// packets that the namespace's nft rules log, and prints one JSON report on stdout.
//
// usage: ulogd-check.ts '{"dir": "...", "groups": [g1, g2], "lanAddress": "...", "wanAddress": "..."}'
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { bindLogReceiver } from "../../../firmware/logs/receiver.ts";
import { bindDatagramSocket } from "../../../firmware/logs/socket.ts";
import type { LogRecord, PacketRecord } from "../../../firmware/logs/types.ts";
import { buildUlogdConfig, startUlogd, type UlogdExit } from "../../../firmware/logs/ulogd.ts";

type Args = { dir: string; groups: [number, number]; lanAddress: string; wanAddress: string };
const args = JSON.parse(process.argv[2]!) as Args;
const enc = new TextEncoder();
const report: Record<string, unknown> = {};

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// 1. The receiver first: ulogd's UDP output loses records sent before anyone listens.
const receiver = await bindLogReceiver({
  address: "0.0.0.0",
  port: 0,
  syslogSources: ["127.0.0.0/8", `${args.lanAddress}/32`],
});
const port = receiver.local().port;
report.implementation = receiver.implementation;

// 2. ulogd with the firmware's config.
const configPath = join(args.dir, "ulogd.conf");
await writeFile(configPath, buildUlogdConfig({ groups: args.groups, host: "127.0.0.1", port }));
let crash: UlogdExit | undefined;
const logLines: string[] = [];
const started = performance.now();
const ulogd = await startUlogd({
  configPath,
  pidFile: join(args.dir, "ulogd.pid"),
  groups: args.groups,
  onExit: (e) => {
    crash = e;
  },
  onLog: (line) => logLines.push(line),
});
report.readyMs = Math.round(performance.now() - started);

// 3. Real packets the namespace's rules log: a TCP SYN to 127.0.0.1:9 (group 1, refused)
// and a UDP datagram to [::1]:7 (group 2).
const records: LogRecord[] = [];
const sentAt = performance.now();
await new Promise<void>((resolve) => {
  const socket = connect(9, "127.0.0.1");
  socket.on("error", () => resolve()); // refused: nothing listens, the SYN was logged
  socket.on("connect", () => {
    socket.destroy();
    resolve();
  });
});
const udp = await bindDatagramSocket({ address: "::1", port: 0 });
await udp.send(enc.encode("ping"), 7, "::1");
const arrival: Record<string, number> = {};
await until("both packet records", () => {
  for (const r of receiver.takeBatch()) {
    records.push(r);
    if (r.kind === "packet") arrival[r.prefix] ??= Math.round(performance.now() - sentAt);
  }
  return arrival["sk:test.tcp:"] !== undefined && arrival["sk:test.udp6:"] !== undefined ? true : undefined;
});
report.packets = records.filter((r): r is PacketRecord => r.kind === "packet");
report.latencyMs = arrival;

// 4. The same port takes syslog, from allowed sources only; packet records from loopback only.
const before = receiver.counters();
const lan = await bindDatagramSocket({ address: args.lanAddress, port: 0 });
const wan = await bindDatagramSocket({ address: args.wanAddress, port: 0 });
await lan.send(enc.encode("<38>Feb  5 17:32:18 pc1 sshd[1]: Failed password"), port, args.lanAddress);
await wan.send(enc.encode("<38>Feb  5 17:32:18 evil x: y"), port, args.lanAddress);
await lan.send(enc.encode(JSON.stringify({ "oob.family": 2, src_ip: "203.0.113.99", dest_ip: "192.0.2.10", "ip.protocol": 6, "oob.prefix": "sk:c2-feed.out:" })), port, args.lanAddress);
await until("three more datagrams", () => (receiver.counters().received >= before.received + 3 ? true : undefined));
report.syslog = receiver.takeBatch();
report.counters = receiver.counters();
report.rejections = receiver.rejections();

// 5. A crash is noticed: kill ulogd behind its back (with kill(1): the test harness may run
// kill, the firmware's permissions would not let it).
spawn("kill", ["-KILL", String(ulogd.pid)], { stdio: "ignore", env: {} });
report.crash = await until("the crash report", () => crash);

// 6. Started again and stopped: an expected exit, not reported as a crash.
crash = undefined;
const again = await startUlogd({ configPath, pidFile: join(args.dir, "ulogd.pid"), groups: args.groups, onExit: (e) => {
  crash = e;
} });
report.stop = await again.stop();
report.crashAfterStop = crash ?? null;
report.logSample = logLines.slice(0, 3);

await Promise.all([receiver.close(), udp.close(), lan.close(), wan.close()]);
console.log(JSON.stringify(report));
