import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runTcpScenario, type TcpScenarioReport } from "./tcp-scenario.ts";

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../../..");
const DENO = join(REPO, "node_modules", ".bin", "deno");

function expectScenario(r: TcpScenarioReport): void {
  expect(r.echoed).toBe("one two +100000");
  expect(r.remoteIsLoopback).toBe(true);
  // Closed for idleness: not before the 300 ms, and not long after.
  expect(r.idleClosedWithinMs).not.toBe(null);
  expect(r.idleClosedWithinMs!).toBeGreaterThanOrEqual(250);
  expect(r.idleClosedWithinMs!).toBeLessThan(2000);
  expect(r.refusedBeyondMax).toBe(true);
  expect(r.connectError).toMatch(/refused/i);
  expect(r.closedAfterListenerClose).toBe(true);
}

describe("the DNS filter's TCP (firmware/dns/tcp.ts), real loopback", () => {
  it("under Node (node:net): echo, idle close, connection limit, refused connect, listener close", async () => {
    expectScenario(await runTcpScenario());
  }, 20_000);

  it("under Deno (Deno.listen / Deno.connect): the same", async () => {
    const { stdout } = await run(DENO, ["run", "--quiet", "--config", join(REPO, "deno.json"), "--allow-net=127.0.0.1", join(import.meta.dirname, "tcp-check.ts")], { timeout: 30_000 });
    expectScenario(JSON.parse(stdout.trim()) as TcpScenarioReport);
  }, 40_000);
});
