/**
 * What the DNS filter's query log gives the event store: one event per blocked query (the
 * pilot's ③ web category; ② c2 and ④ malware when the list says so). Pure.
 */
import type { BoxEvent, Category, Severity } from "../events/types.ts";
import type { DnsQueryRecord } from "./query-log.ts";

const BLOCKED = new Set(["blocked", "blocked-cname", "doh"]);

function classOf(category: string | undefined): { category: Category; severity: Severity } {
  if (category === "c2") return { category: "c2", severity: "high" };
  if (category === "malware") return { category: "malware", severity: "medium" };
  if (category === "phishing" || category === "scam") return { category: "web", severity: "medium" };
  return { category: "web", severity: "low" };
}

/** Events for the blocked queries among `records` (forwarded and cached ones are only counted). */
export function dnsQueryEvents(records: readonly DnsQueryRecord[], macOf?: (ip: string) => string | undefined): BoxEvent[] {
  const out: BoxEvent[] = [];
  for (const r of records) {
    if (!BLOCKED.has(r.outcome)) continue;
    const cls = r.outcome === "doh" ? { category: "web" as const, severity: "low" as const } : classOf(r.category);
    const mac = macOf?.(r.client);
    out.push({
      time: r.time,
      ...cls,
      kind: "blocklist",
      logId: r.outcome === "doh" ? "dns-doh-name" : "dns-block",
      ruleId: r.source ?? "dns",
      direction: "outbound",
      action: "drop",
      lanIp: r.client,
      ...(mac ? { lanMac: mac } : {}),
      proto: r.protocol,
      port: 53,
      domain: r.outcome === "blocked-cname" && r.cname ? `${r.name} → ${r.cname}` : r.name,
    });
  }
  return out;
}
