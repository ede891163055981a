/**
 * Cutting open connections to newly blocked addresses.
 *
 * Blocklists are matched only by packets that are not part of an established flow (the
 * forward chain accepts established traffic first: checking ten sets on every packet of every
 * download cost about 10 % of the box's throughput). So when a list gains an address that a
 * LAN host already has a connection with (a C&C session that started before the feed listed
 * it), the enforcer deletes those flows from the conntrack table: their next packet is new
 * again, meets the blocklist and is dropped (and logged).
 */
import { runCommand } from "../host/command.ts";
import { containsPrefix, parsePrefix, type Prefix } from "../../policies/net.ts";

/** One flow's original direction, as `conntrack -L` prints it. */
export type Flow = { proto: string; src: string; dst: string };

/** Addresses whose flows must go: by original destination (outbound lists) or source (inbound lists). */
export type BlockedAddresses = { dst: readonly string[]; src: readonly string[] };

/** Parses `conntrack -L` output: the first src=/dst= pair of a line is the original direction. */
export function parseConntrackList(text: string): Flow[] {
  const flows: Flow[] = [];
  for (const line of text.split("\n")) {
    const proto = /^\s*(\S+)\s/.exec(line)?.[1];
    const src = / src=(\S+)/.exec(line)?.[1];
    const dst = / dst=(\S+)/.exec(line)?.[1];
    if (proto && src && dst) flows.push({ proto, src, dst });
  }
  return flows;
}

/** A membership test over hosts and prefixes, built once per apply. */
function matcher(entries: readonly string[]): (ip: string) => boolean {
  const hosts = new Set<string>();
  const nets: Prefix[] = [];
  for (const e of entries) {
    // Hosts come in canonical text (the compiler's), as conntrack prints them: no parsing.
    if (!e.includes("/")) {
      hosts.add(e);
      continue;
    }
    const r = parsePrefix(e);
    if (r.ok) nets.push(r.value);
  }
  return (ip) => {
    if (hosts.has(ip)) return true;
    if (nets.length === 0) return false;
    const p = parsePrefix(ip);
    return p.ok && nets.some((n) => containsPrefix(n, p.value));
  };
}

/** The addresses to cut (pure): live flows whose original destination or source is listed. */
export function flowsToCut(flows: readonly Flow[], blocked: BlockedAddresses): { dst: string[]; src: string[] } {
  const isDst = matcher(blocked.dst);
  const isSrc = matcher(blocked.src);
  const dst = new Set<string>();
  const src = new Set<string>();
  for (const f of flows) {
    if (isDst(f.dst)) dst.add(f.dst);
    if (isSrc(f.src)) src.add(f.src);
  }
  return { dst: [...dst].sort(), src: [...src].sort() };
}

/** The `conntrack` tool (conntrack-tools), run with an argument array and a fixed environment. */
export class Conntrack {
  readonly #argv: readonly string[];

  constructor(opts: { argv?: readonly string[] } = {}) {
    this.#argv = opts.argv ?? ["conntrack"];
  }

  /**
   * Deletes the live flows to (dst) or from (src) blocked addresses. Returns how many
   * addresses had flows cut. Throws when the tool cannot be run or listing fails.
   */
  async cut(blocked: BlockedAddresses): Promise<number> {
    if (blocked.dst.length === 0 && blocked.src.length === 0) return 0;
    const flows: Flow[] = [];
    for (const family of ["ipv4", "ipv6"]) {
      const r = await this.#run(["-L", "-f", family]);
      if (r.code !== 0) throw new Error(`conntrack -L -f ${family} failed: ${r.stderr.trim()}`);
      flows.push(...parseConntrackList(r.stdout));
    }
    const cut = flowsToCut(flows, blocked);
    // Exit status 1 means "0 flow entries deleted" (gone in the meantime): not an error.
    for (const ip of cut.dst) await this.#run(["-D", "-d", ip]);
    for (const ip of cut.src) await this.#run(["-D", "-s", ip]);
    return cut.dst.length + cut.src.length;
  }

  async #run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const r = await runCommand([...this.#argv, ...args]);
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

}
