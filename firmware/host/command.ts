/**
 * Runs one of the box's system tools (nft, conntrack) with an argument array, never a shell,
 * and collects all of its output (no maxBuffer cap: an nft listing of 100k elements is
 * megabytes). The child gets a fixed environment: its messages stay in English whatever the
 * box's locale, and Deno needs no --allow-env to start it (it would otherwise read and copy
 * ours). Rejects only when the program cannot be started (ENOENT and the like).
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";

export type CommandResult = { stdout: string; stderr: string; exitCode: number | null; signal: string | null };

const COMMAND_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

export function runCommand(argv: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) {
      reject(new Error("empty argv"));
      return;
    }
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: COMMAND_ENV });
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    child.stdout.on("data", (chunk: Uint8Array) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Uint8Array) => stderr.push(chunk));
    child.once("error", reject);
    child.once("close", (exitCode, signal) => {
      resolve({
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        exitCode,
        signal,
      });
    });
  });
}
