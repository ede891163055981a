/**
 * Sekisho firmware: the composition root and the command line.
 *
 *   sekisho run     [--device FILE] [--policy FILE]   boot path + policy, stays up (SIGTERM stops, SIGHUP reloads)
 *   sekisho compile [--device FILE] [--policy FILE]   prints the nft JSON batch (nothing is applied)
 *   sekisho apply   [--device FILE]  --policy FILE    applies a policy once
 *   sekisho status  [--device FILE] [--json]          table present, policy id/serial, counters
 *
 * On the box it runs under Deno with exactly these permissions (README, "Running the firmware"):
 *   deno run --allow-run=nft --allow-read=/etc/sekisho,/var/lib/sekisho,/run/sekisho \
 *            --allow-write=/var/lib/sekisho,/run/sekisho firmware/main.ts run
 */
import { writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { parseArgs } from "node:util";
import baseline from "../policies/baseline.json" with { type: "json" };
import { parseDevice, type Device } from "../policies/device.ts";
import { formatProblems, parsePolicy, parsePolicyText, type Policy } from "../policies/schema.ts";
import { Enforcer, type ApplyOutcome } from "./enforce/enforcer.ts";
import { Nft } from "./nftables/driver.ts";
import { buildReplaceBatch, compileRuleset, TABLE } from "./ruleset/compile.ts";

const DEFAULT_DEVICE = "/etc/sekisho/device.json";
const WATCHDOG_MS = 5_000;

class UsageError extends Error {}
/** An expected failure with a message for the operator; exit code 1, no stack trace. */
class CliFailure extends Error {}

async function loadDevice(path: string): Promise<Device> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliFailure(`cannot read device config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CliFailure(`device config ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const r = parseDevice(raw);
  if (!r.ok) throw new CliFailure(`device config ${path} is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliFailure(`cannot read policy ${path}: ${(e as Error).message}`);
  }
  const r = parsePolicyText(text);
  if (!r.ok) throw new CliFailure(`policy ${path} is invalid, nothing was changed:\n${formatProblems(r.problems)}`);
  return r.value;
}

/** The policy shipped with the firmware: what a box enforces before it has heard from its provider. */
function baselinePolicy(): Policy {
  const r = parsePolicy(baseline);
  if (!r.ok) throw new Error(`shipped baseline policy is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

function describe(o: ApplyOutcome): string {
  if (!o.ok) {
    return [o.error, o.nftMessage ? `nft said: ${o.nftMessage.trim()}` : "", o.failedCommand ? `failing command: ${JSON.stringify(o.failedCommand).slice(0, 400)}` : ""]
      .filter(Boolean).join("\n");
  }
  return `policy ${o.policy.id} serial ${o.policy.serial} applied (${o.kind}, +${o.added} -${o.deleted} elements, ${o.ms} ms)`;
}

function services(device: Device) {
  const nft = new Nft({ runDir: device.runDir });
  const enforcer = new Enforcer({ nft, dataDir: device.dataDir });
  return { nft, enforcer };
}

/** Synchronous, so a line written just before exit is never lost. */
function log(msg: string): void {
  writeSync(2, `sekisho: ${msg}\n`);
}

async function cmdCompile(device: Device, policy: Policy, withMeta: boolean): Promise<void> {
  const compiled = compileRuleset(policy, device);
  const out = withMeta ? { nftables: buildReplaceBatch(compiled), meta: compiled.meta } : { nftables: buildReplaceBatch(compiled) };
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

async function cmdApply(device: Device, policy: Policy): Promise<number> {
  const { enforcer } = services(device);
  const o = await enforcer.apply(compileRuleset(policy, device));
  (o.ok ? process.stdout : process.stderr).write(`${describe(o)}\n`);
  return o.ok ? 0 : 1;
}

async function cmdStatus(device: Device, json: boolean): Promise<number> {
  const { nft, enforcer } = services(device);
  const present = await nft.tableExists("inet", TABLE);
  const lkg = await enforcer.readLastKnownGood().catch(() => undefined);
  const counters = present ? await nft.listCounters("inet", TABLE) : new Map<string, { packets: number; bytes: number }>();
  const status = {
    table: present,
    mode: device.mode,
    policy: lkg ? { ...lkg.policy, appliedAt: lkg.savedAt } : null,
    counters: Object.fromEntries([...counters].sort(([a], [b]) => a.localeCompare(b))),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 1)}\n`);
  } else {
    const lines = [
      `table inet ${TABLE}: ${present ? "present" : "MISSING"}`,
      `mode: ${device.mode}`,
      `policy: ${lkg ? `${lkg.policy.id} serial ${lkg.policy.serial} (applied ${lkg.savedAt})` : "none"}`,
      "counters (packets):",
      ...Object.entries(status.counters).map(([k, v]) => `  ${k.padEnd(28)} ${v.packets}`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  return present ? 0 : 1;
}

/**
 * The long-running service. Boot: the LKG first (the box never runs open), the shipped
 * baseline when there is none; then the configured policy. SIGHUP re-reads the policy,
 * SIGTERM/SIGINT stop cleanly.
 */
async function cmdRun(device: Device, policyPath: string | undefined): Promise<number> {
  const { nft, enforcer } = services(device);
  const boot = await enforcer.applyLastKnownGood();
  if (boot.ok) log(`boot: last-known-good ${describe(boot)}`);
  else {
    log(`boot: ${boot.error}; applying the shipped baseline`);
    const b = await enforcer.apply(compileRuleset(baselinePolicy(), device));
    log(`boot: ${describe(b)}`);
    if (!b.ok) return 1;
  }
  const applyPolicy = async (): Promise<void> => {
    if (!policyPath) return;
    try {
      const policy = await loadPolicy(policyPath);
      log(describe(await enforcer.apply(compileRuleset(policy, device))));
    } catch (e) {
      if (!(e instanceof CliFailure)) throw e;
      log(e.message);
    }
  };
  await applyPolicy();
  log("running");

  return await new Promise<number>((resolve) => {
    let busy = Promise.resolve();
    const reload = () => {
      busy = busy.then(applyPolicy).catch((e: unknown) => log(`reload failed: ${(e as Error).message}`));
    };
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      process.off("SIGHUP", reload);
      clearInterval(watchdog);
      // Let a reload in progress finish: the kernel and the LKG always agree.
      void busy.then(() => resolve(0));
    };
    // Watchdog: if something removed the table (an `nft flush ruleset` by hand, another
    // tool), put the last-known-good back. It also keeps the event loop alive: signal
    // listeners alone do not, under Deno.
    const watchdog = setInterval(() => {
      busy = busy.then(async () => {
        if (await nft.tableExists("inet", TABLE)) return;
        log(`watchdog: table inet ${TABLE} is gone; restoring the last-known-good`);
        log(describe(await enforcer.applyLastKnownGood()));
      }).catch((e: unknown) => log(`watchdog failed: ${(e as Error).message}`));
    }, WATCHDOG_MS);
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    process.on("SIGHUP", reload);
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      device: { type: "string", default: DEFAULT_DEVICE },
      policy: { type: "string" },
      json: { type: "boolean", default: false },
      meta: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const cmd = positionals[0];
  if (values.help || !cmd) throw new UsageError("");
  const device = await loadDevice(values.device);
  switch (cmd) {
    case "compile":
      await cmdCompile(device, values.policy ? await loadPolicy(values.policy) : baselinePolicy(), values.meta);
      return 0;
    case "apply":
      if (!values.policy) throw new UsageError("apply needs --policy FILE");
      return await cmdApply(device, await loadPolicy(values.policy));
    case "status":
      return await cmdStatus(device, values.json);
    case "run":
      return await cmdRun(device, values.policy);
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

const USAGE = `usage: sekisho <run|compile|apply|status> [--device FILE] [--policy FILE] [--json] [--meta]`;

if (import.meta.main) {
  // exitCode, not exit(): the process ends once stdout (megabytes for `compile`) is flushed.
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${e.message ? `${e.message}\n` : ""}${USAGE}\n`);
        process.exitCode = 2;
      } else if (e instanceof CliFailure || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`sekisho: ${(e as Error).message}\n`);
        process.exitCode = e instanceof CliFailure ? 1 : 2;
      } else {
        process.stderr.write(`sekisho: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
        process.exitCode = 70;
      }
    },
  );
}
