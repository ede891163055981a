// A throwaway network namespace for tests that need the real nft: the host's own ruleset
// is never touched. One namespace per test file, unique by pid and a random suffix.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

export type Netns = {
  name: string;
  /** Prefix that runs a program inside the namespace. */
  exec: readonly string[];
  remove(): Promise<void>;
};

/** Creates a namespace with loopback up, so packets can flow inside it. */
export async function createNetns(prefix: string): Promise<Netns> {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await run("ip", ["netns", "add", name]);
  await run("ip", ["-n", name, "link", "set", "lo", "up"]);
  return {
    name,
    exec: ["ip", "netns", "exec", name],
    remove: async () => {
      await run("ip", ["netns", "delete", name]);
    },
  };
}

/** Runs a program inside the namespace and returns its stdout. */
export async function execIn(ns: Netns, argv: readonly string[]): Promise<string> {
  const [file, ...args] = [...ns.exec, ...argv];
  const { stdout } = await run(file!, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
