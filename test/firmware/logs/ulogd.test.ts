import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PacketRecord } from "../../../firmware/logs/types.ts";
import {
  BOX_ULOGD_CONFIG,
  buildUlogdConfig,
  findUlogdPluginDir,
  parseNflogGroups,
  startUlogd,
  UlogdNotFoundError,
  UlogdStartError,
  type UlogdExit,
} from "../../../firmware/logs/ulogd.ts";
import { createNetns, execIn, isRoot, type Netns } from "../nftables/netns.ts";
import { waitFor } from "../../lab/wait-for.ts";

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../../..");
const DENO = join(REPO, "node_modules", ".bin", "deno");

describe("buildUlogdConfig", () => {
  it("is what the image installs (image/ulogd/sekisho.conf)", async () => {
    expect(await readFile(join(REPO, "image", "ulogd", "sekisho.conf"), "utf8")).toBe(buildUlogdConfig(BOX_ULOGD_CONFIG));
  });

  it("has one stack per group, no batching delay, the group in dvc, no broken timestamp", () => {
    const text = buildUlogdConfig({ groups: [1, 7], host: "127.0.0.1", port: 5140 });
    expect(text).toContain("stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON\n");
    expect(text).toContain("stack=log7:NFLOG,base7:BASE,ifi7:IFINDEX,ip2str7:IP2STR,mac2str7:HWHDR,json7:JSON\n");
    expect(text.match(/netlink_qthreshold=1\n/g)).toHaveLength(2);
    expect(text).toContain('[json7]\nmode="udp"\nhost="127.0.0.1"\nport="5140"\ndevice="sekisho-nflog-7"\ntimestamp=0\n');
    expect(text).toContain('logfile="stdout"\nloglevel=3\n');
    expect(text).not.toContain("plugin=");
  });

  it("lists the plugins when given their directory, and takes the batching options", () => {
    const text = buildUlogdConfig({ groups: [1], host: "::1", port: 514, pluginDir: "/usr/lib/x/ulogd", qthreshold: 32, qtimeoutCs: 2 });
    expect(text).toContain('plugin="/usr/lib/x/ulogd/ulogd_output_JSON.so"\n');
    expect(text).toContain("netlink_qthreshold=32\nnetlink_qtimeout=2\n");
  });

  it.each([
    ["no groups", { groups: [] }],
    ["a repeated group", { groups: [1, 1] }],
    ["a group out of range", { groups: [65536] }],
    ["a host name", { host: "localhost" }],
    ["a host that injects config", { host: '127.0.0.1"\n[global]' }],
    ["port 0", { port: 0 }],
    ["a relative log file", { logFile: "ulogd.log" }],
    ["a log file with a quote", { logFile: '/tmp/a"b' }],
    ["a plugin dir with a newline", { pluginDir: "/usr/lib\nstack=x" }],
    ["log level 4", { logLevel: 4 }],
    ["a buffer maximum below the size", { netlinkBufferBytes: 1 << 20, netlinkBufferMaxBytes: 1 << 16 }],
  ])("refuses %s", (_name, patch) => {
    expect(() => buildUlogdConfig({ groups: [1], host: "127.0.0.1", port: 514, ...(patch as object) })).toThrow(RangeError);
  });
});

describe("parseNflogGroups", () => {
  it("reads the group column of /proc/net/netfilter/nfnetlink_log", () => {
    // As captured with ulogd bound to groups 7 and 8.
    expect(parseNflogGroups("    7  21271     0 2 65531    100  1\n    8 2447043961     0 2 65531    100  1\n")).toEqual([7, 8]);
    expect(parseNflogGroups("")).toEqual([]);
  });
});

describe("findUlogdPluginDir", () => {
  it("finds this machine's plugins", async () => {
    const dir = await findUlogdPluginDir();
    expect(dir).toMatch(/\/ulogd$/);
  });

  it("says when the JSON output (ulogd2-json) or ulogd itself is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sk-ulogd-"));
    try {
      await writeFile(join(dir, "ulogd_inppkt_NFLOG.so"), "");
      await expect(findUlogdPluginDir([join(dir, "none"), dir])).rejects.toThrow(/install ulogd2-json/);
      await expect(findUlogdPluginDir([join(dir, "none")])).rejects.toBeInstanceOf(UlogdNotFoundError);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

// ulogd and the receiver in a throwaway network namespace: real NFLOG, real packets.
describe.skipIf(!isRoot)("ulogd for real (throwaway network namespace)", () => {
  let ns: Netns;
  let dir: string;
  const LAN = "192.0.2.1";
  const WAN = "198.51.100.1";

  beforeAll(async () => {
    ns = await createNetns("sk-logs");
    dir = await mkdtemp(join(tmpdir(), "sk-ulogd-"));
    await execIn(ns, ["ip", "addr", "add", `${LAN}/32`, "dev", "lo"]);
    await execIn(ns, ["ip", "addr", "add", `${WAN}/32`, "dev", "lo"]);
    // Log only what the check sends (never UDP to the receiver, which would log itself).
    const rules = join(dir, "rules.nft");
    await writeFile(
      rules,
      `table inet sklogtest {
  chain output {
    type filter hook output priority 0;
    meta nfproto ipv4 tcp dport 9 log prefix "sk:test.tcp:" group 41
    meta nfproto ipv6 udp dport 7 log prefix "sk:test.udp6:" group 42
  }
}
`,
    );
    await execIn(ns, ["nft", "-f", rules]);
  });

  afterAll(async () => {
    // Any ulogd still in the namespace (a failed test) goes with it.
    const pids = (await run("ip", ["netns", "pids", ns.name]).then((r) => r.stdout, () => "")).split("\n").filter((p) => /^\d+$/.test(p));
    for (const pid of pids) process.kill(Number(pid), "SIGKILL");
    await ns.remove();
    await rm(dir, { recursive: true, force: true });
  });

  const inNs = (argv: string[]) => [...ns.exec, ...argv];
  const table = () => execIn(ns, ["cat", "/proc/net/netfilter/nfnetlink_log"]);

  it("under Deno with the firmware's permissions: packets logged by nft reach the LogReceiver within milliseconds", async () => {
    const checkDir = await mkdtemp(join(dir, "check-"));
    const argv = inNs([
      DENO, "run", "--quiet", "--config", join(REPO, "deno.json"),
      "--unstable-net", "--allow-net", "--allow-run=ulogd,kill", "--allow-env=NODE_V8_COVERAGE",
      `--allow-read=${checkDir}`, `--allow-write=${checkDir}`,
      join(import.meta.dirname, "ulogd-check.ts"),
      JSON.stringify({ dir: checkDir, groups: [41, 42], lanAddress: LAN, wanAddress: WAN }),
    ]);
    const { stdout } = await run(argv[0]!, argv.slice(1), { cwd: REPO, timeout: 60_000 });
    const report = JSON.parse(stdout) as {
      implementation: string;
      packets: PacketRecord[];
      latencyMs: Record<string, number>;
      syslog: { peer: string; hostname: string }[];
      counters: Record<string, number>;
      rejections: Record<string, number>;
      crash: UlogdExit;
      stop: UlogdExit;
      crashAfterStop: UlogdExit | null;
    };
    expect(report.implementation).toBe("deno");
    const tcp = report.packets.find((p) => p.prefix === "sk:test.tcp:");
    const udp = report.packets.find((p) => p.prefix === "sk:test.udp6:");
    expect(tcp).toMatchObject({ group: 41, ipVersion: 4, src: "127.0.0.1", dst: "127.0.0.1", proto: "tcp", dport: 9, tcpFlags: ["SYN"], outIf: "lo" });
    expect(udp).toMatchObject({ group: 42, ipVersion: 6, src: "::1", dst: "::1", proto: "udp", dport: 7 });
    // The packet's own time, not the receive time, and a recent one.
    expect(Math.abs(tcp!.time - Date.now())).toBeLessThan(60_000);
    // Without netlink_qthreshold=1 the kernel held each record about a second.
    expect(Math.max(...Object.values(report.latencyMs))).toBeLessThan(500);
    // One port, three senders: the LAN's syslog is taken; a WAN address's syslog and a
    // LAN host's forged packet record are refused.
    expect(report.syslog).toMatchObject([{ peer: LAN, hostname: "pc1" }]);
    expect(report.counters).toEqual({ received: 5, accepted: 3, rejected: 2, dropped: 0 });
    expect(report.rejections).toEqual({ "source-not-allowed": 2 });
    expect(report.crash).toMatchObject({ signal: "SIGKILL", expected: false });
    expect(report.crash.logTail).toContain("initialization finished");
    expect(report.stop).toMatchObject({ expected: true });
    expect(report.crashAfterStop).toBeNull();
  });

  it("refuses a group another ulogd holds: from the NFLOG table when it can read it, from ulogd's log when not", async () => {
    const config = join(dir, "g50.conf");
    await writeFile(config, buildUlogdConfig({ groups: [50], host: "127.0.0.1", port: 5999 }));
    const first = await startUlogd({ configPath: config, pidFile: join(dir, "g50-a.pid"), groups: [50], command: inNs(["ulogd"]), readNflogTable: table });
    try {
      expect(parseNflogGroups(await table())).toContain(50);
      await expect(
        startUlogd({ configPath: config, pidFile: join(dir, "g50-b.pid"), groups: [50], command: inNs(["ulogd"]), readNflogTable: table }),
      ).rejects.toThrow(/group\(s\) 50 already bound/);
      // As under Deno (no /proc): ulogd itself says it, and carries on without the group.
      const both = join(dir, "g51-50.conf");
      await writeFile(both, buildUlogdConfig({ groups: [51, 50], host: "127.0.0.1", port: 5999 }));
      const err = await startUlogd({ configPath: both, pidFile: join(dir, "g51-50.pid"), groups: [51, 50], command: inNs(["ulogd"]) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UlogdStartError);
      expect((err as Error).message).toMatch(/unable to bind to log group 50/);
      // …and it was stopped, not left holding group 51.
      await waitFor("group 51 released", async () => !parseNflogGroups(await table()).includes(51));
    } finally {
      await first.stop();
    }
    expect(parseNflogGroups(await table())).not.toContain(50);
  });

  it("a config ulogd rejects fails with ulogd's own words", async () => {
    const config = join(dir, "bad.conf");
    await writeFile(config, buildUlogdConfig({ groups: [52], host: "127.0.0.1", port: 5999, pluginDir: join(dir, "no-such-dir") }));
    const err = await startUlogd({ configPath: config, pidFile: join(dir, "bad.pid"), groups: [52], command: inNs(["ulogd"]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UlogdStartError);
    expect((err as UlogdStartError).logTail).toMatch(/no-such-dir/);
  });

  it("a config that does not log to stdout times out, and ulogd is killed", async () => {
    const config = join(dir, "quiet.conf");
    await writeFile(config, buildUlogdConfig({ groups: [53], host: "127.0.0.1", port: 5999, logFile: join(dir, "quiet.log") }));
    const err = await startUlogd({
      configPath: config, pidFile: join(dir, "quiet.pid"), groups: [53], command: inNs(["ulogd"]), readyTimeoutMs: 1000,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/did not finish starting within 1000 ms/);
    await waitFor("group 53 released", async () => !parseNflogGroups(await table()).includes(53));
  });

  it("ulogd not installed is UlogdNotFoundError", async () => {
    const err = await startUlogd({ configPath: "/nonexistent", pidFile: join(dir, "x.pid"), groups: [54], command: ["/nonexistent/ulogd"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UlogdNotFoundError);
  });

  it("a crash is reported once through onExit; stop() is not a crash", async () => {
    const config = join(dir, "g55.conf");
    await writeFile(config, buildUlogdConfig({ groups: [55], host: "127.0.0.1", port: 5999 }));
    const crashes: UlogdExit[] = [];
    const u = await startUlogd({ configPath: config, pidFile: join(dir, "g55.pid"), groups: [55], command: inNs(["ulogd"]), onExit: (e) => crashes.push(e) });
    process.kill(u.pid, "SIGKILL");
    const exit = await u.exited;
    expect(exit).toMatchObject({ signal: "SIGKILL", expected: false });
    await waitFor("the crash report", () => crashes.length === 1);
    const again = await startUlogd({ configPath: config, pidFile: join(dir, "g55.pid"), groups: [55], command: inNs(["ulogd"]), onExit: (e) => crashes.push(e) });
    expect(await again.stop()).toMatchObject({ expected: true });
    expect(await again.stop()).toMatchObject({ expected: true }); // idempotent
    expect(crashes).toHaveLength(1);
  });
});
