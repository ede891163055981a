/**
 * Runs the real firmware under Deno inside a lab's box namespace, with the box's exact
 * permission flags (firmware/deno-permissions.ts) and its own config/data/run directories
 * under the lab's run dir.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { denoPermissionFlags } from "../../firmware/deno-permissions.ts";
import type { Device } from "../../policies/device.ts";
import type { Lab, LabProcess } from "./lab.ts";
import { waitFor } from "./wait-for.ts";

export const REPO_ROOT = resolve(import.meta.dirname ?? ".", "../..");
export const DENO = join(REPO_ROOT, "node_modules", ".bin", "deno");
const MAIN = join(REPO_ROOT, "firmware", "main.ts");
const DENO_CONFIG = join(REPO_ROOT, "deno.json");

export type FirmwareDirs = { configDir: string; dataDir: string; runDir: string; devicePath: string; policyPath: string };

/** The device config the firmware gets in this lab. */
export function labDevice(lab: Lab, dirs: Pick<FirmwareDirs, "dataDir" | "runDir">): Device {
  return {
    mode: lab.mode,
    interfaces: { wan: lab.box.wanIf, lan: lab.box.lanIf, ...(lab.box.bridge ? { bridge: lab.box.bridge } : {}) },
    lanPrefixes: [`${lab.addr.lanPrefix.v4}`, `${lab.addr.lanPrefix.v6}`],
    management: { address4: lab.box.lanAddr4, address6: lab.box.lanAddr6, ports: [80, 443] },
    dnsPort: 5353,
    logGroup: 1,
    logRate: 200,
    snoopGroup: 2,
    syslogPort: 514,
    // The lab's hosts are "new" the moment they appear: no quiet first hour.
    inventoryBaselineMinutes: 0,
    dataDir: dirs.dataDir,
    runDir: dirs.runDir,
  };
}

/** Creates the firmware's directories and device config in the lab's run dir. */
export async function prepareFirmware(lab: Lab, name = "fw"): Promise<FirmwareDirs> {
  const base = join(lab.runDir, name);
  const dirs = {
    configDir: join(base, "etc"),
    dataDir: join(base, "data"),
    runDir: join(base, "run"),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const devicePath = join(dirs.configDir, "device.json");
  await writeFile(devicePath, JSON.stringify(labDevice(lab, dirs), null, 1));
  return { ...dirs, devicePath, policyPath: join(dirs.configDir, "policy.json") };
}

/**
 * argv of one firmware command under Deno with the box's permissions and runtime flags
 * (denoPermissionFlags includes the V8 heap flags the box runs with: memory figures taken
 * in the lab are the box's).
 */
export function firmwareArgv(dirs: FirmwareDirs, command: string[]): string[] {
  return [DENO, "run", "--quiet", "--config", DENO_CONFIG, ...denoPermissionFlags({ ...dirs, appDir: REPO_ROOT }, { syslogPort: 514 }), MAIN,
    ...command, "--device", dirs.devicePath];
}

/** Runs a one-shot firmware command (compile, apply, status) in the box namespace. */
export function runFirmware(lab: Lab, dirs: FirmwareDirs, command: string[], timeoutMs = 60_000) {
  return lab.exec("box", firmwareArgv(dirs, command), { timeoutMs });
}

/** Starts `sekisho run` in the box and waits until it says it is running. */
export async function startFirmware(lab: Lab, dirs: FirmwareDirs, opts: { policy?: boolean; name?: string } = {}): Promise<LabProcess> {
  const argv = firmwareArgv(dirs, ["run", ...(opts.policy === false ? [] : ["--policy", dirs.policyPath])]);
  const proc = lab.spawn("box", opts.name ?? "firmware", argv);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  await waitFor("the firmware to say it is running", async () => {
    if (exited) throw new Error(`the firmware exited during start-up: ${await readFile(proc.logFile, "utf8").catch(() => "")}`);
    return (await readFile(proc.logFile, "utf8").catch(() => "")).includes("sekisho: running");
  }, { timeoutMs: 30_000 });
  return proc;
}
