/**
 * Reading nft's error output (pure). What nft 1.0.6 says about a JSON batch, measured:
 * - JSON it cannot parse (unknown statement, bad set flag, bad hook, missing key) ends with
 *   "Parsing command array at index N failed." where N is the index in our `nftables`
 *   array; nothing reached the kernel;
 * - evaluation errors ("Could not resolve hostname", "interval overlaps with an existing
 *   one", "No such file or directory" for a missing set) and kernel errors ("Could not
 *   process rule: File exists", for any object kind, once per failing command) carry only
 *   "internal:0:0-0", so the command is unknown.
 */
import type { FailedCommand } from "./errors.ts";
import type { Command } from "./types.ts";

const PARSE_FAILURE = /Parsing command array at index (\d+) failed/;
const INTERNAL_LOCATION = /^internal:0:0-0:\s*/;

/** The command nft blamed, when it named one that exists in our batch. */
export function findFailedCommand(stderr: string, commands: readonly Command[]): FailedCommand | undefined {
  const match = PARSE_FAILURE.exec(stderr);
  if (match?.[1] === undefined) return undefined;
  const index = Number(match[1]);
  const command = commands[index];
  return command === undefined ? undefined : { index, command };
}

/**
 * nft's message on one line for an Error message: location prefixes and caret lines
 * dropped, repeated lines once. The verbatim text stays on the error's `stderr`.
 */
export function summariseNftMessage(stderr: string): string {
  const lines: string[] = [];
  for (const raw of stderr.split("\n")) {
    const line = raw.replace(INTERNAL_LOCATION, "").trim();
    if (line === "" || /^[\s^~]+$/.test(line) || lines.includes(line)) continue;
    lines.push(line);
  }
  const text = lines.join(" / ");
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text || "(no message)";
}

/** "create counter inet t cnt1": which object a command touches, for people. */
export function describeCommand(command: Command): string {
  const [verb, target] = Object.entries(command)[0] ?? ["?", null];
  const [kind, object] = Object.entries((target ?? {}) as Record<string, unknown>)[0] ?? ["?", null];
  if (typeof object !== "object" || object === null) return `${verb} ${kind}`;
  const o = object as Record<string, unknown>;
  const words = [o["family"], o["table"], o["chain"], o["name"]].filter((w) => typeof w === "string");
  if (typeof o["handle"] === "number") words.push(`handle ${o["handle"]}`);
  if (Array.isArray(o["elem"])) words.push(`(${o["elem"].length} elements)`);
  return [verb, kind, ...words].join(" ");
}
