/**
 * The devices the office network cannot lose: the box's own interfaces and the router its
 * default route goes through. The admin page refuses to block them (blocking the router's
 * MAC cuts the whole office off the internet). Read from `ip -j` (link, route, neigh); the
 * parsing is pure and refuses nothing loudly: unreadable output protects nothing extra, the
 * page's other checks still apply.
 */
import { runCommand } from "../host/command.ts";

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const records = (text: string): Record<string, unknown>[] => {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null) : [];
  } catch {
    return [];
  }
};
const macOf = (v: unknown): string | undefined => (typeof v === "string" && MAC.test(v.toLowerCase()) ? v.toLowerCase() : undefined);

/** The MACs of `ip -j link`, the gateways of `ip -j route show default`, and those gateways' MACs in `ip -j neigh`. Pure. */
export function infrastructureMacs(link: string, routes: string, neigh: string): Set<string> {
  const out = new Set<string>();
  for (const l of records(link)) {
    const m = macOf(l["address"]);
    if (m !== undefined && m !== "00:00:00:00:00:00") out.add(m);
  }
  const gateways = new Set(records(routes).map((r) => r["gateway"]).filter((g): g is string => typeof g === "string"));
  for (const n of records(neigh)) {
    const m = macOf(n["lladdr"]);
    if (m !== undefined && typeof n["dst"] === "string" && gateways.has(n["dst"])) out.add(m);
  }
  return out;
}

/** Reads them from the system (cached for `maxAgeMs`). */
export function infrastructureReader(maxAgeMs = 30_000, now: () => number = Date.now): () => Promise<Set<string>> {
  let cached: { at: number; macs: Set<string> } | undefined;
  return async () => {
    if (cached && now() - cached.at < maxAgeMs) return cached.macs;
    const [link, routes4, routes6, neigh] = await Promise.all([
      runCommand(["ip", "-j", "link", "show"]), runCommand(["ip", "-j", "-4", "route", "show", "default"]),
      runCommand(["ip", "-j", "-6", "route", "show", "default"]), runCommand(["ip", "-j", "neigh", "show"]),
    ]);
    const routes = JSON.stringify([...records(routes4.stdout), ...records(routes6.stdout)]);
    cached = { at: now(), macs: infrastructureMacs(link.stdout, routes, neigh.stdout) };
    return cached.macs;
  };
}
