/**
 * The kernel's neighbour table (ARP for IPv4, NDP for IPv6) as `ip -j neigh show` prints it:
 * which MAC answered for which address on which interface, and how fresh that is. Pure:
 * text in, typed entries out.
 */
import { z } from "zod";
import { parseIpv4, parseIpv6, formatIpv6 } from "../../policies/net.ts";
import { parseMac } from "./mac.ts";

/**
 * NUD states (include/uapi/linux/neighbour.h). Only REACHABLE, DELAY and PROBE say the
 * neighbour answered within the last reachable time (about 30 s): a STALE entry can linger
 * for hours after a device left.
 */
export type NeighbourState =
  | "INCOMPLETE"
  | "REACHABLE"
  | "STALE"
  | "DELAY"
  | "PROBE"
  | "FAILED"
  | "NOARP"
  | "PERMANENT"
  | "NONE";

export type NeighbourEntry = {
  /** Canonical address text (dotted quad, RFC 5952). */
  ip: string;
  family: 4 | 6;
  /** Canonical MAC; absent while resolving (INCOMPLETE) or after failing (FAILED). */
  mac?: string;
  dev: string;
  /** The first state ip lists (an entry has exactly one NUD state). */
  state: NeighbourState;
  /** IPv6 neighbours that said they are routers. */
  router: boolean;
};

const STATES: readonly NeighbourState[] = ["INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT", "NONE"];

/** One object of ip's JSON array. Keys ip adds later (flags, stats) are ignored, not refused. */
const RawEntry = z.looseObject({
  dst: z.string(),
  dev: z.string().optional(),
  lladdr: z.string().optional(),
  state: z.array(z.string()).optional(),
  router: z.unknown().optional(),
});
const RawTable = z.array(z.unknown());

export type NeighbourTableResult =
  | { ok: true; value: NeighbourEntry[]; skipped: number }
  | { ok: false; error: string };

/**
 * Parses `ip -j neigh show` output. The whole text must be a JSON array; an element that is
 * not a usable entry (no interface, an address or MAC that does not parse) is skipped and
 * counted, so one odd entry does not hide the others.
 */
export function parseNeighbourTable(text: string): NeighbourTableResult {
  let json: unknown;
  try {
    // ip prints nothing at all for an empty table in some versions.
    json = text.trim() === "" ? [] : JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `ip -j neigh printed something that is not JSON: ${(err as Error).message}` };
  }
  const table = RawTable.safeParse(json);
  if (!table.success) return { ok: false, error: "ip -j neigh printed JSON that is not an array" };
  const value: NeighbourEntry[] = [];
  let skipped = 0;
  for (const item of table.data) {
    const raw = RawEntry.safeParse(item);
    const entry = raw.success ? toEntry(raw.data) : undefined;
    if (entry === undefined) skipped++;
    else value.push(entry);
  }
  return { ok: true, value, skipped };
}

function toEntry(raw: z.infer<typeof RawEntry>): NeighbourEntry | undefined {
  if (raw.dev === undefined) return undefined;
  let ip: string;
  let family: 4 | 6;
  if (parseIpv4(raw.dst) !== undefined) {
    ip = raw.dst;
    family = 4;
  } else {
    const v6 = parseIpv6(raw.dst);
    if (v6 === undefined) return undefined;
    ip = formatIpv6(v6);
    family = 6;
  }
  const stateText = raw.state?.[0] ?? "NONE";
  const state = STATES.find((s) => s === stateText);
  if (state === undefined) return undefined;
  const entry: NeighbourEntry = { ip, family, dev: raw.dev, state, router: raw.router !== undefined };
  if (raw.lladdr !== undefined) {
    const mac = parseMac(raw.lladdr);
    if (mac === undefined) return undefined;
    entry.mac = mac;
  }
  return entry;
}

/** Whether an entry says the neighbour answered recently (see NeighbourState). */
export function isFreshNeighbour(state: NeighbourState): boolean {
  return state === "REACHABLE" || state === "DELAY" || state === "PROBE";
}
