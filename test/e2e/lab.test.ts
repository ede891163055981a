// The lab itself, before any firmware: it must work (so later failures are the firmware's),
// let everything through (so later drops are the firewall's), stay sealed, and leave the
// host exactly as it found it.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildUrl,
  createLab,
  destroyLab,
  type Lab,
  LAB_RUN_ROOT,
  listLabs,
  type LabMode,
  sweepStaleLabs,
  waitFor,
} from "../lab/lab.ts";

const run = promisify(execFile);
const REPO = join(import.meta.dirname, "..", "..");
const DENO = join(REPO, "node_modules", ".bin", "deno");

/** What the host looks like: its ruleset, bridge sysctls and links, compared byte for byte. */
async function hostFacts(): Promise<{ ruleset: string; sysctls: string; links: string }> {
  const ruleset = (await run("nft", ["list", "ruleset"])).stdout;
  const sysctls = await Promise.all(
    ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"].map((n) =>
      readFile(`/proc/sys/net/bridge/${n}`, "utf8").catch(() => "absent")
    ),
  );
  const links = (await run("ip", ["-o", "link", "show"])).stdout.split("\n").map((l) => l.split(":")[1]?.trim()).join(" ");
  return { ruleset, sysctls: sysctls.join(" "), links };
}

/** Everything of lab `id` that could outlive it. */
async function leftovers(id: string): Promise<string[]> {
  const netns = (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(`${id}-`));
  const etc = existsSync("/etc/netns") ? (await readdir("/etc/netns")).filter((n) => n.startsWith(`${id}-`)) : [];
  const runDir = existsSync(join(LAB_RUN_ROOT, id)) ? [join(LAB_RUN_ROOT, id)] : [];
  return [...netns, ...etc.map((n) => `/etc/netns/${n}`), ...runDir];
}

const hostBefore = await hostFacts();

describe.each<LabMode>(["bridge", "router"])("lab in %s mode", (mode) => {
  let lab: Lab;
  let createMs = 0;

  beforeAll(async () => {
    const t0 = performance.now();
    lab = await createLab({ mode });
    createMs = performance.now() - t0;
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it("builds in well under 2 s, with every namespace and nothing in the root namespace", async () => {
    console.info(`${mode} lab ${lab.id}: created in ${Math.round(createMs)} ms`, await readFile(join(lab.runDir, "timings.json"), "utf8"));
    expect(createMs).toBeLessThan(2000);
    expect(lab.id).toMatch(/^sk[a-z0-9]{6}$/);
    expect(lab.runDir).toBe(join(LAB_RUN_ROOT, lab.id));
    const netns = (await run("ip", ["netns", "list"])).stdout;
    for (const name of Object.values(lab.ns)) expect(netns).toContain(name);
    expect(Object.keys(lab.ns).sort()).toEqual(
      mode === "bridge" ? ["box", "lan1", "lan2", "rtr", "sw", "wan"] : ["box", "lan1", "lan2", "sw", "wan"],
    );
    expect((await hostFacts()).links).toBe(hostBefore.links);
    // Every namespace asks the lab's resolver, never the host's.
    for (const name of Object.values(lab.ns)) {
      expect(await readFile(`/etc/netns/${name}/resolv.conf`, "utf8")).toContain(`nameserver ${lab.addr.dns.v4}`);
    }
    // The box is left without rules: the firmware under test brings them.
    expect((await lab.exec("box", ["nft", "list", "ruleset"])).stdout).toBe("");
  });

  it("the box has its fixed interfaces and addresses", async () => {
    const links = (await lab.exec("box", ["ip", "-j", "addr", "show"])).stdout;
    const ifs = JSON.parse(links) as Array<{ ifname: string; address: string; addr_info: Array<{ local: string }> }>;
    const byName = new Map(ifs.map((i) => [i.ifname, i]));
    expect(byName.has(lab.box.wanIf) && byName.has(lab.box.lanIf)).toBe(true);
    const lanSide = byName.get(lab.box.bridge ?? lab.box.lanIf);
    expect(lanSide?.address).toBe(lab.box.mac);
    expect(lanSide?.addr_info.map((a) => a.local)).toEqual(expect.arrayContaining([lab.box.lanAddr4, lab.box.lanAddr6]));
    if (mode === "bridge") {
      expect(lab.box.bridge).toBe("br0");
      const sysctl = await lab.exec("box", ["sysctl", "-n", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"]);
      expect(sysctl.stdout.split("\n").slice(0, 2)).toEqual(["1", "1"]);
    } else {
      expect(byName.get(lab.box.wanIf)?.addr_info.map((a) => a.local)).toEqual(
        expect.arrayContaining([lab.box.wanAddr4, lab.box.wanAddr6]),
      );
    }
  });

  it("lan1 reaches the web server over IPv4 and IPv6 (HTTP 200)", async () => {
    for (const host of [lab.addr.web.v4, lab.addr.web.v6]) {
      const r = await lab.exec("lan1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", buildUrl(host)]);
      expect(r.stdout, `lan1 -> ${host}`).toBe("200");
    }
  });

  it("the attacker reaches lan1:22 and :8080 (no firewall yet: later drops are the firmware's)", async () => {
    const { attacker, lan1, lan1Ports } = lab.addr;
    for (const [src, dst] of [[attacker.v4, lan1.v4], [attacker.v6, lan1.v6]] as const) {
      for (const port of [lan1Ports.ssh, lan1Ports.http]) {
        const r = await lab.exec("wan", [
          "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "--interface", src, buildUrl(dst, port),
        ]);
        expect(r.stdout, `${src} -> ${dst}:${port}`).toBe("200");
      }
    }
    // Routed, not NATed: lan1 sees the attacker's own address.
    const log = await readFile(join(lab.runDir, "lan1-listeners.log"), "utf8");
    expect(log).toContain(` ${attacker.v4} "GET`);
  });

  it("DNS through the upstream works from lan1 (explicit server, and resolv.conf)", async () => {
    const { dns, names, web, c2 } = lab.addr;
    const ask = async (argv: string[]) => (await lab.exec("lan1", ["dig", "+short", "+time=2", "+tries=1", ...argv])).stdout.trim();
    expect(await ask([`@${dns.v4}`, names.example])).toBe(web.v4);
    expect(await ask([`@${dns.v6}`, "AAAA", names.upstream])).toBe(web.v6);
    expect(await ask([names.c2])).toBe(c2.v4);
    // Anything else is NXDOMAIN, as a real resolver would say.
    const r = await lab.exec("lan1", ["dig", "+time=2", "+tries=1", `@${dns.v4}`, "nosuch.invalid"]);
    expect(r.stdout).toContain("status: NXDOMAIN");
  });

  it("the C&C server listens on its ports", async () => {
    for (const port of lab.addr.c2Ports) {
      const r = await lab.exec("lan2", ["curl", "-s", "--max-time", "3", buildUrl(lab.addr.c2.v4, port)]);
      expect(r.stdout).toBe("sekisho lab c2\n");
    }
  });

  it("is sealed: the leak counter is 0, and counts a packet aimed outside the documentation ranges", async () => {
    expect(await lab.sealLeaks()).toBe(0);
    // The control: 100.64.0.1 (shared address space) is outside the lab's ranges; the seal
    // drops it where the lab would otherwise leave (router or wan), and counts it.
    const r = await lab.exec("lan1", ["curl", "-s", "--max-time", "0.5", "http://100.64.0.1/"]);
    expect(r.code).not.toBe(0);
    expect(await lab.sealLeaks()).toBeGreaterThan(0);
  });

  it("spawns daemons with logs and pid files, and runs ulogd2 -> JSON for NFLOG groups", async () => {
    const p = lab.spawn("lan2", "echo-test", ["python3", "-c", "import os; print('hello from', os.getpid())"]);
    expect(await p.exited).toBe(0);
    expect(await readFile(p.logFile, "utf8")).toBe(`hello from ${p.pid}\n`);
    expect(await readFile(join(lab.runDir, "echo-test.pid"), "utf8")).toBe(`${p.pid}\n`);

    const nflog = await lab.startNflogListener([7, 8]);
    // Plays the firmware's part for a moment: a log-only rule in the box, removed again.
    const rule = join(lab.runDir, "nflog-test.nft");
    await writeFile(rule, 'table inet labtest {\n chain input {\n  type filter hook input priority 0; policy accept;\n' +
      '  tcp dport 9 log prefix "sk:lab:" group 8\n }\n}\n');
    expect((await lab.exec("box", ["nft", "-f", rule])).code).toBe(0);
    try {
      await lab.exec("lan1", ["curl", "-s", "--max-time", "0.3", buildUrl(lab.box.lanAddr4, 9)]);
      await waitFor("a JSON line with prefix sk:lab:", async () =>
        (await nflog.lines()).some((l) => (JSON.parse(l) as Record<string, unknown>)["oob.prefix"] === "sk:lab:"));
      const line = JSON.parse((await nflog.lines())[0] ?? "{}") as Record<string, unknown>;
      expect(line["src_ip"]).toBe(lab.addr.lan1.v4);
      expect(line["dvc"]).toBe(lab.ns.box);
    } finally {
      await lab.exec("box", ["nft", "delete", "table", "inet", "labtest"]);
    }
    expect((await lab.exec("box", ["nft", "list", "ruleset"])).stdout).toBe("");
  });

  it("destroy leaves nothing of the lab, and the host as it was", async () => {
    const t0 = performance.now();
    await lab.destroy();
    console.info(`${mode} lab ${lab.id}: destroyed in ${Math.round(performance.now() - t0)} ms`);
    await lab.destroy(); // idempotent
    expect(await leftovers(lab.id)).toEqual([]);
    expect(await hostFacts()).toEqual(hostBefore);
  });
});

describe("a lab that fails half-way", () => {
  it("is taken down again, and the error comes through", async () => {
    const id = `sk${process.pid.toString(36).slice(-4)}hf`;
    // A stray namespace under the lab's name makes `ip netns add` fail after the others exist.
    await run("ip", ["netns", "add", `${id}-lan2`]);
    try {
      await expect(createLab({ mode: "bridge", id })).rejects.toThrow(/netns add|File exists|Command failed/);
      expect(await leftovers(id)).toEqual([]);
    } finally {
      await destroyLab(id);
    }
  });
});

describe("labs of dead owners", () => {
  const id = `sk${process.pid.toString(36).slice(-4)}sw`;
  let holder: ReturnType<typeof spawn> | undefined;
  afterAll(async () => {
    holder?.kill("SIGKILL");
    await destroyLab(id);
  });

  it("`cli.ts up` leaves a lab owned by another process; sweep removes it only once that owner is dead", async () => {
    // The owner stands in for a test run or a terminal; SIGKILL leaves its lab behind.
    const h = spawn("sleep", ["600"], { stdio: "ignore" });
    holder = h;
    const ownerPid = h.pid;
    expect(ownerPid).toBeTypeOf("number");
    const t0 = performance.now();
    const up = await run(DENO, ["run", "-A", "test/lab/cli.ts", "up", "--mode", "router", "--id", id, "--owner", String(ownerPid), "--json"], { cwd: REPO });
    console.info(`deno cli.ts up (router): ${Math.round(performance.now() - t0)} ms, exited leaving ${id}`);
    const info = JSON.parse(up.stdout) as { id: string; ownerPid: number; ns: Record<string, string> };
    expect(info).toMatchObject({ id, ownerPid });

    // The lab works after its creator exited (its daemons were detached), and is in use.
    const ns = info.ns["lan1"] ?? "";
    const r = await run("ip", ["netns", "exec", ns, "curl", "-s", "--max-time", "3", buildUrl("198.51.100.80")]);
    expect(r.stdout).toBe("sekisho lab web\n");
    expect((await listLabs()).find((l) => l.id === id)).toMatchObject({ ownerAlive: true, namespaces: expect.any(Array) });
    expect(await sweepStaleLabs()).not.toContain(id);
    // An id in use is refused, and the refusal leaves the existing lab alone.
    await expect(createLab({ mode: "bridge", id })).rejects.toThrow(/exists/);
    expect(await leftovers(id)).not.toEqual([]);

    h.kill("SIGKILL");
    await new Promise((resolve) => h.once("exit", resolve));
    expect((await listLabs()).find((l) => l.id === id)?.ownerAlive).toBe(false);
    expect(await sweepStaleLabs()).toContain(id);
    expect(await leftovers(id)).toEqual([]);
    expect(await hostFacts()).toEqual(hostBefore);
  });
});
