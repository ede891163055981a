// `npm run demo`: the box in a lab, with the real firmware running in it, a short live
// demonstration (a scan from the lab's attacker is banned, a C&C connection is blocked),
// then the commands to try by hand. Ctrl-C (or SIGTERM) stops the firmware and takes the
// lab down. Run as root, under Deno: deno run -A test/lab/demo.ts [--mode bridge|router]
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { parseArgs } from "node:util";
import { createLab, waitFor, type Lab, type LabMode } from "./lab.ts";
import { firmwareArgv, prepareFirmware, REPO_ROOT, runFirmware, startFirmware, type FirmwareDirs } from "./firmware.ts";
import { readLabel } from "../../firmware/admin/label.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { mode: { type: "string", default: "bridge" }, "admin-port": { type: "string", default: "8080" } },
});
const adminPort = Number(values["admin-port"]);
if ((values.mode !== "bridge" && values.mode !== "router") || !Number.isInteger(adminPort) || adminPort < 1 || adminPort > 65535) {
  console.error("usage: demo.ts [--mode bridge|router] [--admin-port N]");
  process.exit(2);
}
const mode = values.mode as LabMode;

const say = (s: string) => console.log(s);
const ok = (good: boolean, text: string) => say(`  ${good ? "✔" : "✘"} ${text}`);

async function demoPolicy(lab: Lab): Promise<string> {
  const p = JSON.parse(await readFile(`${REPO_ROOT}/policies/baseline.json`, "utf8"));
  p.id = "demo";
  p.serial = 1;
  p.blocklists[0].entries = [lab.addr.c2.v4, lab.addr.c2.v6];
  p.inbound.allow = [{ id: "lan1-http", to: lab.addr.lan1.v4, protocol: "tcp", port: lab.addr.lan1Ports.http }];
  p.dns.block = ["evil.example.test"];
  p.dns.upstreams = [lab.addr.dns.v4];
  return JSON.stringify(p, null, 1);
}

async function curlCode(lab: Lab, ns: "wan" | "lan1", url: string, from?: string): Promise<number> {
  const r = await lab.exec(ns, ["curl", "-s", "-o", "/dev/null", "--connect-timeout", "2", "--max-time", "3", ...(from ? ["--interface", from] : []), url]);
  return r.code;
}

async function demonstrate(lab: Lab, fw: FirmwareDirs): Promise<void> {
  const a = lab.addr;
  const target = mode === "bridge" ? a.lan1.v4 : lab.box.wanAddr4!;
  say("\nWhat the box does, live:");
  ok(await curlCode(lab, "lan1", `http://${a.web.v4}/`) === 0, `lan1 (${a.lan1.v4}) browses the internet: http://${a.web.v4}/`);
  ok(await curlCode(lab, "wan", `http://${target}:${a.lan1Ports.ssh}/`, a.attacker.v4) === 28,
    `the attacker (${a.attacker.v4}) cannot connect to lan1's port ${a.lan1Ports.ssh}: dropped (default deny)`);
  ok(await curlCode(lab, "wan", `http://${target}:${a.lan1Ports.http}/`, a.web.v4) === 0,
    `port ${a.lan1Ports.http} is open to the internet by the policy's allow rule "lan1-http"`);
  ok(await curlCode(lab, "lan1", `http://${a.c2.v4}:${a.c2Ports[0]}/`) === 28,
    `lan1 cannot reach the C&C server ${a.c2.v4}: blocked and logged as "sk:c2-feed.out:"`);
  const t0 = performance.now();
  const nmap = lab.spawn("wan", "demo-nmap", ["nmap", "-n", "-Pn", "-sS", "-p", "1-1000", "-S", a.attacker.v4, "-e", a.wanIf, target]);
  let banned = false;
  try {
    await waitFor("the ban", async () => (await lab.exec("box", ["nft", "-j", "list", "set", "inet", "sekisho", "banned_v4"])).stdout.includes(`"${a.attacker.v4}"`), { timeoutMs: 15_000, intervalMs: 50 });
    banned = true;
  } catch { /* reported below */ } finally {
    await nmap.kill();
  }
  ok(banned, `nmap -sS from the attacker: ${banned ? `banned after ${((performance.now() - t0) / 1000).toFixed(2)} s` : "NOT banned"} (nft set inet sekisho banned_v4)`);
  ok(await curlCode(lab, "wan", `http://${target}:${a.lan1Ports.http}/`, a.attacker.v4) === 28,
    "the banned scanner can no longer reach even the open port (for 10 minutes)");
  const blocked = (await lab.exec("lan1", ["dig", "+short", "+time=2", "evil.example.test"])).stdout.trim();
  ok(blocked === lab.box.lanAddr4, `lan1 looks up evil.example.test: ${blocked || "no answer"} (the box: its DNS filter blocked it)`);
  const page = (await lab.exec("lan1", ["curl", "-s", "--max-time", "3", "http://evil.example.test/"])).stdout;
  ok(page.includes("このサイトはブロックされました"), "lan1 opens http://evil.example.test/: the block page 「このサイトはブロックされました」");
  const allowed = (await lab.exec("lan1", ["dig", "+short", "+time=2", `@${a.attacker.v4}`, "upstream.test"])).stdout.trim();
  ok(allowed === a.web.v4, `an allowed name resolves through the filter (even asked of another "resolver"): upstream.test → ${allowed}`);
  const st = await runFirmware(lab, fw, ["status"]);
  say(`\nsekisho status:\n${st.stdout.split("\n").filter((l) => !/ 0$/.test(l)).map((l) => `  ${l}`).join("\n")}`);
}

/**
 * The admin page on the host: socat listens on the host's loopback only and carries each
 * connection into lan1's namespace, so the browser on the host is, to the box, an office PC
 * on the LAN (the admin page is LAN-only). Nothing leaves loopback and the lab.
 */
function forwardAdminPage(lab: Lab, port: number): ChildProcess {
  const p = spawn("socat", [
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
    // socat splits an address at ":"; the inner command's colons are escaped for it.
    `EXEC:ip netns exec ${lab.ns.lan1} socat STDIO TCP\\:${lab.box.lanAddr4}\\:80`,
  ], { stdio: ["ignore", "ignore", "inherit"] });
  p.on("exit", (code) => { if (!stopping && code !== null && code !== 0) console.error(`admin page forward (socat) exited with ${code}: is port ${port} in use? Try --admin-port`); });
  return p;
}

const lab = await createLab({ mode });
let stopping = false;
let forward: ChildProcess | undefined;
const teardown = async (why: string) => {
  if (stopping) return;
  stopping = true;
  say(`\n${why}: stopping the firmware and taking lab ${lab.id} down…`);
  forward?.kill();
  await lab.destroy();
  say("done: nothing of the lab is left.");
  process.exit(0);
};
process.on("SIGINT", () => void teardown("Ctrl-C"));
process.on("SIGTERM", () => void teardown("SIGTERM"));

try {
  const fw = await prepareFirmware(lab);
  await writeFile(fw.policyPath, await demoPolicy(lab));
  const firmware = await startFirmware(lab, fw);
  const ns = lab.ns;
  say(`Sekisho demo: lab ${lab.id} (${mode} mode), firmware pid ${firmware.pid} under Deno in ${ns.box}`);
  say(`  firmware log: ${firmware.logFile}`);
  say(`  policy:       ${fw.policyPath} (edit it, then: kill -HUP ${firmware.pid})`);
  await demonstrate(lab, fw);
  forward = forwardAdminPage(lab, adminPort);
  const label = await readLabel(fw.dataDir);
  say(`
The admin page (管理画面), from this machine's browser:
  http://127.0.0.1:${adminPort}/        (carried into lan1: the box sees an office PC)
  password: ${label?.adminPassword ?? "(no label written: see the firmware log)"}   (the box's label, ${fw.dataDir}/label/label.json)
  From a LAN host it is http://sekisho.home.arpa/ or http://${lab.box.lanAddr4}/`);
  const a = lab.addr;
  const target = mode === "bridge" ? a.lan1.v4 : lab.box.wanAddr4!;
  say(`
Try it yourself (as root, in another terminal):
  ip netns exec ${ns.lan1} curl http://${a.web.v4}/                      # the LAN reaches the internet
  ip netns exec ${ns.wan} nmap -n -Pn -sS -p 1-200 -S ${a.attacker.v4} -e ${a.wanIf} ${target}   # a scan: filtered, then banned
  ip netns exec ${ns.box} nft list set inet sekisho banned_v4           # the ban set
  ip netns exec ${ns.box} nft flush set inet sekisho banned_v4          # lift the bans
  ip netns exec ${ns.lan1} curl -m 3 http://${a.c2.v4}:${a.c2Ports[0]}/   # C&C: blocked
  ip netns exec ${ns.lan1} dig evil.example.test                        # blocked by the DNS filter
  ip netns exec ${ns.lan1} curl http://evil.example.test/               # the block page (Japanese)
  ip netns exec ${ns.lan1} dig @203.0.113.66 upstream.test              # any resolver: diverted to the filter
  ip netns exec ${ns.box} ${firmwareArgv(fw, ["alerts"]).join(" ")}
  ip netns exec ${ns.box} ${firmwareArgv(fw, ["events"]).join(" ")}
  ip netns exec ${ns.box} ${firmwareArgv(fw, ["status"]).join(" ")}
  ip netns exec ${ns.box} nft list ruleset                              # what the compiler produced
Stop with Ctrl-C: the firmware stops and the lab is removed.`);
  setInterval(() => {}, 1 << 30); // stay up until a signal (listeners alone do not keep Deno alive)
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  await lab.destroy();
  process.exit(1);
}
