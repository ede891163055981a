/**
 * What changed between two provider policies, for the ポリシー page's history: the rule ids
 * added, removed and changed. Pure.
 */
import type { Policy } from "../../policies/schema.ts";

export type PolicyDiff = { added: string[]; removed: string[]; changed: string[] };

/** JSON with object keys sorted, so two equal values always give the same text. */
function canonicalJson(value: unknown): string {
  const text: string | undefined = JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
  // JSON.stringify(undefined) is undefined: an absent optional setting is still a value here.
  return text ?? "undefined";
}

/** Lists of addresses and names are sets: reordering them changes nothing the box does. */
const sortedEntries = <T extends { entries?: string[] | undefined }>(r: T): T =>
  r.entries === undefined ? r : { ...r, entries: [...r.entries].sort() };

/**
 * Every rule of a policy by id, with its content as canonical text (and its section, so an
 * id that moved from one section to another counts as changed), and the policy's settings
 * outside any rule by their path ("dns.blockCategories").
 */
function policyEntries(p: Policy): Map<string, string> {
  const out = new Map<string, string>();
  const rule = (section: string, r: { id: string }) => out.set(r.id, canonicalJson({ section, rule: r }));
  p.inbound.allow.forEach((r) => rule("inbound.allow", r));
  rule("portScan", p.portScan);
  p.bruteForce.forEach((r) => rule("bruteForce", r));
  p.blocklists.forEach((r) => rule("blocklists", sortedEntries(r)));
  p.outbound.block.forEach((r) => rule("outbound.block", r));
  p.dns.lists.forEach((r) => rule("dns.lists", sortedEntries(r)));
  p.dns.groups.forEach((r) => rule("dns.groups", r));
  const { lists: _lists, groups: _groups, ...settings } = p.dns;
  for (const [key, value] of Object.entries(settings)) out.set(`dns.${key}`, canonicalJson(value));
  return out;
}

/**
 * The rule ids added, removed and changed (same id, different content) from `before` to
 * `after`, each sorted. Rules are the inbound allows, the port-scan rule, the brute-force
 * rules, the blocklists, the outbound blocks, the DNS lists and the DNS client groups.
 * `changed` also names the DNS settings outside any rule that changed, by their path
 * ("dns.blockCategories", "dns.upstreams"): rule ids never contain ".", so the two cannot
 * be confused, and a policy that only switches a category still shows what it did.
 * Reordering the entries of a list is not a change.
 */
export function diffPolicies(before: Policy, after: Policy): PolicyDiff {
  const a = policyEntries(before);
  const b = policyEntries(after);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [id, text] of b) {
    const old = a.get(id);
    if (old === undefined) added.push(id);
    else if (old !== text) changed.push(id);
  }
  for (const id of a.keys()) if (!b.has(id)) removed.push(id);
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

/** A first policy (nothing before it): every rule is added. */
export function diffFromNothing(after: Policy): PolicyDiff {
  return { added: [...policyEntries(after).keys()].filter((id) => !id.includes(".")).sort(), removed: [], changed: [] };
}
