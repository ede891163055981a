/**
 * What the command line prints for the DNS filter (pure; main.ts does the I/O):
 *   sekisho dns query NAME [--client IP]   the decision and the rule behind it, no packet sent
 *   sekisho dns stats                      the counters
 */
import type { NameExplanation } from "./filter.ts";
import type { DnsCounters } from "./query-log.ts";

/** `dns query`: one line per fact; the name is shown as normalised (punycode for IDN). */
export function formatNameExplanation(e: NameExplanation, client?: string): string {
  if (!e.ok) return `not a domain name (${e.problem}): ${JSON.stringify(e.input)}`;
  const lines = [`name:     ${e.name}`];
  const r = e.reason;
  const by = r ? `${r.source.kind === "list" ? `list ${r.source.id}` : r.source.id === "policy" ? "the policy's own list" : r.source.id === "local" ? "a local override" : r.source.id === "doh" ? "the policy's DoH names" : "a built-in name"}${r.source.category ? `, category ${r.source.category}` : ""}` : "";
  switch (e.decision) {
    case "blocked":
      lines.push(`decision: blocked by ${by}`);
      break;
    case "allowed":
      lines.push(`decision: allowed by ${by} (forwarded to the upstream resolvers)`);
      break;
    case "doh-refused":
      lines.push("decision: refused: a DNS-over-HTTPS service (the filter could be bypassed through it)");
      break;
    case "builtin":
      lines.push("decision: answered by the box itself (a built-in name)");
      break;
    default:
      lines.push("decision: no rule: forwarded to the upstream resolvers");
  }
  if (r) {
    const scope = r.scope === "exact" ? "this name only" : r.scope === "below" ? "every name below it, not the name itself" : "this name and every name below it";
    lines.push(`rule:     ${r.rule} (${scope})`);
  }
  lines.push(`answers:  A ${e.answerA}; AAAA ${e.answerAAAA}`);
  const who = client ? `client ${client}` : "a client in no group";
  lines.push(`${who}: ${e.group ? `group ${e.group}, ` : ""}categories blocked: ${e.categories.length > 0 ? e.categories.join(", ") : "none"}`);
  lines.push("(the name only: a CNAME that an upstream returns is checked when it is returned)");
  return lines.join("\n");
}

/** `dns stats`: the counters, aligned. */
export function formatDnsStats(s: DnsCounters & { cacheEntries: number; cacheHitRatio: number; logPending: number }): string {
  const rows: [string, string | number][] = [
    ["queries", s.queries],
    ["blocked", s.blocked],
    ["forwarded", s.forwarded],
    ["cache hits", s.cacheHits],
    ["cache hit ratio", `${(s.cacheHitRatio * 100).toFixed(1)} %`],
    ["cache entries", s.cacheEntries],
    ["upstream failures", s.upstreamFailures],
    ["SERVFAIL answers", s.servfail],
    ["TCP retries", s.tcpRetries],
    ["malformed queries", s.malformed],
    ["dropped datagrams", s.dropped],
    ["upstream datagrams ignored", s.upstreamIgnored],
    ["log records waiting", s.logPending],
    ["log records overwritten", s.logOverwritten],
    ["filter reloads", s.reloads],
  ];
  return rows.map(([k, v]) => `${k.padEnd(27)} ${v}`).join("\n");
}
