// What every bench applies: the shipped baseline policy with the bench blocklist in its
// three lists, and a bridge-mode device config matching the lab's box.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDevice, type Device } from "../../policies/device.ts";
import { formatProblems, parsePolicy, type Policy } from "../../policies/schema.ts";
import type { Blocklists, ListId } from "./blocklist.ts";

const BASELINE = join(import.meta.dirname ?? ".", "..", "..", "policies", "baseline.json");

/** The baseline policy with `lists` filled in (parsed by the real schema, as on the box). */
export function buildBenchPolicy(lists: Blocklists, serial: number): Policy {
  const raw = JSON.parse(readFileSync(BASELINE, "utf8"));
  raw.serial = serial;
  for (const list of raw.blocklists as { id: ListId; entries: string[] }[]) {
    const l = lists[list.id];
    if (l === undefined) throw new Error(`baseline list ${list.id} has no bench entries`);
    list.entries = [...l.hosts, ...l.prefixes];
  }
  const r = parsePolicy(raw);
  if (!r.ok) throw new Error(`bench policy is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

/** The box as the lab wires it: bridge mode, wan0/lan0/br0, the lab's LAN and management address. */
export function buildBenchDevice(dataDir: string): Device {
  const r = parseDevice({
    mode: "bridge",
    interfaces: { wan: "wan0", lan: "lan0", bridge: "br0" },
    lanPrefixes: ["192.0.2.0/24", "2001:db8:2::/64"],
    management: { address4: "192.0.2.2", address6: "2001:db8:2::2" },
    dataDir,
    runDir: join(dataDir, "run"),
  });
  if (!r.ok) throw new Error(`bench device is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}
