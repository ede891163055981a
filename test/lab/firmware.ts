/**
 * Runs the real firmware under Deno inside a lab's box namespace, with the box's exact
 * permission flags (firmware/deno-permissions.ts) and its own config/data/run directories
 * under the lab's run dir.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { denoPermissionFlags, FIRMWARE_ENTRY } from "../../firmware/deno-permissions.ts";
import type { Device } from "../../policies/device.ts";
import type { Lab, LabProcess } from "./lab.ts";
import { waitFor } from "./wait-for.ts";

export const REPO_ROOT = resolve(import.meta.dirname ?? ".", "../..");
export const DENO = join(REPO_ROOT, "node_modules", ".bin", "deno");
/** What the box runs: the bundle (image/bundle.ts), kept fresh by ensureFirmwareBundle. */
const MAIN = join(REPO_ROOT, FIRMWARE_ENTRY);
const DENO_CONFIG = join(REPO_ROOT, "deno.json");
/** What the bundle is made of (deno.json too: it resolves the bundle's imports). */
const BUNDLE_SOURCES = ["firmware", "webui", "policies", "image"];

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestMtime(path));
    else if (e.isFile() && /\.(ts|tsx|json)$/.test(e.name)) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

let bundleChecked: Promise<void> | undefined;

/**
 * Makes sure build/ holds a bundle of the current sources (image/bundle.ts, about half a
 * second), so a test, the demo or a bench never runs a stale one. Checked once per process.
 */
export function ensureFirmwareBundle(): Promise<void> {
  bundleChecked ??= (async () => {
    const built = await stat(MAIN).then((s) => s.mtimeMs, () => 0);
    // deno.json and the lockfile too: the bundle holds the npm packages it imports.
    let newest = Math.max((await stat(DENO_CONFIG)).mtimeMs, (await stat(join(REPO_ROOT, "package-lock.json"))).mtimeMs);
    for (const d of BUNDLE_SOURCES) newest = Math.max(newest, await newestMtime(join(REPO_ROOT, d)));
    if (built > newest) return;
    await promisify(execFile)(DENO, ["run", "-A", "--config", DENO_CONFIG, join(REPO_ROOT, "image", "bundle.ts")], { cwd: REPO_ROOT });
  })();
  return bundleChecked;
}

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
export async function runFirmware(lab: Lab, dirs: FirmwareDirs, command: string[], timeoutMs = 60_000) {
  await ensureFirmwareBundle();
  return lab.exec("box", firmwareArgv(dirs, command), { timeoutMs });
}

/** Starts `sekisho run` in the box and waits until it says it is running. */
export async function startFirmware(lab: Lab, dirs: FirmwareDirs, opts: { policy?: boolean; name?: string } = {}): Promise<LabProcess> {
  await ensureFirmwareBundle();
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
