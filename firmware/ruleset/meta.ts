/**
 * What the event classifier needs to turn a logged packet back into words: for every log
 * id that appears in an nft log prefix ("sk:<logId>:"), the policy rule it came from, the
 * pilot category and the severity.
 */

/** The five alert categories of IPA's SME pilot (DESIGN.md). */
export type Category = "inbound" | "c2" | "web" | "malware" | "endpoint";
export type Severity = "high" | "medium" | "low";

export type RuleMeta = {
  /** The id in the log prefix: a policy rule id, optionally with ".variant" (".in", ".out", ".banned"). */
  logId: string;
  /** The policy rule (or built-in rule) it belongs to. */
  ruleId: string;
  /** "local": an override made on the box itself (the admin page), not by the provider. */
  source: "policy" | "system" | "local";
  /** Where in the policy the rule is ("blocklists[0]"), for people reading an event. */
  path?: string;
  category: Category;
  severity: Severity;
  action: "drop" | "ban" | "accept";
  direction: "inbound" | "outbound";
  /** The named nft counter that counts this rule's packets. */
  counter: string;
  title: { ja: string; en: string };
};

export type RuleMetaMap = Record<string, RuleMeta>;

export const LOG_PREFIX_TAG = "sk";

/** The log prefix of a log id: "sk:<logId>:". */
export function logPrefix(logId: string): string {
  return `${LOG_PREFIX_TAG}:${logId}:`;
}

/** Reads the log id back out of a prefix as nft/ulogd report it; undefined if it is not ours. */
export function parseLogPrefix(prefix: string): string | undefined {
  const m = /^sk:([a-z](?:-?[a-z0-9]){0,39}(?:\.[a-z0-9]{1,10})?):/.exec(prefix);
  return m?.[1];
}
