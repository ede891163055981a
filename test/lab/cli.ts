// The lab from a shell: `deno run -A test/lab/cli.ts up|down|list|sweep` (as root).
//
// Ownership: a lab belongs to a process (pid + start time in <runDir>/lab.json); `sweep`
// removes the labs whose owner is gone. `up` exits at once and leaves the lab running, so
// it cannot own it itself: by default the owner is the leader of the session `up` ran in
// (the terminal's shell, the CI job's shell), so the lab lives as long as that session and
// `sweep` cleans up after a closed terminal or a killed job. `--owner PID` ties the lab to
// another process instead (a test harness, a demo), and `--owner self` to `up` itself
// (which makes the lab stale as soon as `up` returns: only useful to test `sweep`).
import { parseArgs } from "node:util";
import {
  buildUrl,
  createLab,
  destroyLab,
  type Lab,
  LAB_ID_PATTERN,
  LAB_RUN_ROOT,
  labExists,
  listLabs,
  sweepStaleLabs,
} from "./lab.ts";
import { readSessionId, readParentPid, readStartTime } from "./processes.ts";

const USAGE = `usage (as root):
  cli.ts up [--mode bridge|router] [--id ID] [--owner PID|self] [--json]
                     build a lab, print how to use it, exit leaving it up
  cli.ts down ID...  take labs down (stops their processes, deletes their namespaces)
  cli.ts list        labs under ${LAB_RUN_ROOT}, with owner state
  cli.ts sweep       take down every lab whose owner process is gone`;

class UsageError extends Error {
  override name = "UsageError";
}

/** The session leader of this process, else its parent: see "Ownership" above. */
async function defaultOwner(): Promise<number> {
  const sid = await readSessionId(process.pid);
  if (sid !== null && sid !== process.pid && (await readStartTime(sid)) !== null) return sid;
  const ppid = await readParentPid(process.pid);
  if (ppid === null) throw new Error("cannot find a process to own the lab: pass --owner PID");
  return ppid;
}

function describe(lab: Lab, ms: number, ownerPid: number): string {
  const a = lab.addr;
  const row = (what: string, v4: string, v6: string, note = "") => `  ${what.padEnd(12)} ${v4.padEnd(15)} ${v6.padEnd(18)} ${note}`;
  const x = (ns: string, cmd: string) => `  ip netns exec ${ns} ${cmd}`;
  return [
    `lab ${lab.id} (${lab.mode} mode) up in ${(ms / 1000).toFixed(2)} s; owner pid ${ownerPid}`,
    `run dir    ${lab.runDir}`,
    `namespaces ${Object.entries(lab.ns).map(([k, v]) => `${k}=${v}`).join(" ")}`,
    "addresses",
    row("web", a.web.v4, a.web.v6, "http :80"),
    row("dns", a.dns.v4, a.dns.v6, `upstream: ${Object.values(a.names).join(" ")}`),
    row("attacker", a.attacker.v4, a.attacker.v6, `wan ${a.wanIf}`),
    row("c2", a.c2.v4, a.c2.v6, `http :${a.c2Ports.join(" :")}`),
    ...(a.wanGateway ? [row("wan gateway", a.wanGateway.v4, a.wanGateway.v6, "the box's default route")] : []),
    row("box lan", lab.box.lanAddr4, lab.box.lanAddr6, `${lab.box.bridge ?? lab.box.lanIf} ${lab.box.mac}`),
    ...(lab.box.wanAddr4 ? [row("box wan", lab.box.wanAddr4, lab.box.wanAddr6 ?? "", lab.box.wanIf)] : []),
    row("lan gateway", a.lanGateway.v4, a.lanGateway.v6),
    row("lan1", a.lan1.v4, a.lan1.v6, `${a.lan1.mac} listeners :${a.lan1Ports.ssh} :${a.lan1Ports.http}`),
    row("lan2", a.lan2.v4, a.lan2.v6, a.lan2.mac),
    "try",
    x(lab.ns.lan1, `curl -s ${buildUrl(a.web.v4)}`),
    x(lab.ns.lan1, `dig +short @${a.dns.v4} ${a.names.example}`),
    x(lab.ns.wan, `curl -s --interface ${a.attacker.v4} ${buildUrl(a.lan1.v4, a.lan1Ports.ssh)}`),
    x(lab.ns.wan, `nmap -n -Pn -sS -p 1-100 -S ${a.attacker.v4} -e ${a.wanIf} ${a.lan1.v4}`),
    x(lab.ns.box, "nft list ruleset"),
    `down       node_modules/.bin/deno run -A test/lab/cli.ts down ${lab.id}`,
  ].join("\n");
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: "string", default: "bridge" },
      id: { type: "string" },
      owner: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const mode = values.mode;
  if (mode !== "bridge" && mode !== "router") throw new UsageError(`--mode must be bridge or router, not ${mode}`);
  if (values.id !== undefined && !LAB_ID_PATTERN.test(values.id)) throw new UsageError(`--id must match ${LAB_ID_PATTERN}`);
  let ownerPid: number;
  if (values.owner === undefined) ownerPid = await defaultOwner();
  else if (values.owner === "self") ownerPid = process.pid;
  else if (/^\d+$/.test(values.owner)) ownerPid = Number(values.owner);
  else throw new UsageError("--owner takes a pid or 'self'");
  const started = performance.now();
  const lab = await createLab({ mode, ownerPid, ...(values.id === undefined ? {} : { id: values.id }) });
  const ms = performance.now() - started;
  if (values.json) {
    const { id, runDir, ns, addr, box } = lab;
    console.log(JSON.stringify({ id, mode: lab.mode, runDir, ns, addr, box, ownerPid, createdInMs: Math.round(ms) }));
  } else {
    console.log(describe(lab, ms, ownerPid));
  }
}

async function down(ids: string[]): Promise<void> {
  if (ids.length === 0) throw new UsageError("down: which lab? (cli.ts list)");
  for (const id of ids) {
    if (!LAB_ID_PATTERN.test(id)) throw new UsageError(`not a lab id: ${id}`);
    const known = labExists(id);
    await destroyLab(id);
    console.log(known ? `down: ${id}` : `down: ${id} (had no run directory; removed any namespaces of it)`);
  }
}

async function list(): Promise<void> {
  const labs = await listLabs();
  if (labs.length === 0) return console.log(`no labs under ${LAB_RUN_ROOT}`);
  for (const l of labs) {
    const r = l.record;
    const owner = r === null
      ? "no lab.json"
      : `owner ${r.owner.pid} (${r.owner.command ?? "?"}) ${l.ownerAlive ? "running" : "GONE: sweep removes it"}`;
    console.log(
      `${l.id.padEnd(10)} ${(r?.mode ?? "?").padEnd(6)} ${l.namespaces.length} namespaces, ${l.processes} processes, ${owner}`,
    );
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "up":
      await up(rest);
      return 0;
    case "down":
      await down(rest);
      return 0;
    case "list":
      await list();
      return 0;
    case "sweep": {
      const removed = await sweepStaleLabs();
      console.log(removed.length === 0 ? "sweep: nothing stale" : `sweep: removed ${removed.join(" ")}`);
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${cmd}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exitCode = 1;
  }
}
