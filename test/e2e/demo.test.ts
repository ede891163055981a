/**
 * `npm run demo`, end to end: the script builds its lab, runs the firmware, passes every
 * live check it prints, serves the admin page on the host's loopback with the label's
 * password, and takes everything down on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { labExists, waitFor } from "../lab/lab.ts";
import { DENO, REPO_ROOT } from "../lab/firmware.ts";

const root = process.getuid?.() === 0;

/** A free TCP port on loopback (closed again at once; the demo binds it next). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(!root)("npm run demo", () => {
  it("shows the box working, serves the admin page on the host with the label's password, and cleans up on Ctrl-C", async () => {
    const port = await freePort();
    const demo = spawn(DENO, ["run", "-A", "--config", "deno.json", "test/lab/demo.ts", "--admin-port", String(port)], {
      cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    demo.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    demo.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => demo.on("exit", (code) => resolve(code)));
    try {
      await waitFor("the demo to finish its live checks", async () => out.includes("Stop with Ctrl-C"), { timeoutMs: 90_000, intervalMs: 200 });
      expect(out).not.toContain("✘");
      expect(out.match(/✔/g)?.length ?? 0).toBeGreaterThanOrEqual(9);
      const labId = /lab (\S+) \((?:bridge|router) mode\)/.exec(out)?.[1];
      expect(labId).toBeTruthy();
      const password = /password: (\S+)/.exec(out)?.[1];
      expect(password).toMatch(/^[2-9a-z]{4}(-[2-9a-z]{4}){3}$/);

      // The admin page through the forward: a login form, and the password logs in.
      const base = `http://127.0.0.1:${port}`;
      let login: Response | undefined;
      await waitFor("the admin page on the host", async () => {
        login = await fetch(`${base}/login`).catch(() => undefined);
        return login?.status === 200;
      }, { timeoutMs: 10_000 });
      const cookie = login!.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
      const token = /name="_csrf" value="([^"]+)"/.exec(await login!.text())?.[1];
      expect(token).toBeTruthy();
      const r = await fetch(`${base}/login`, {
        method: "POST", redirect: "manual",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: token!, password: password! }),
      });
      expect(r.status).toBe(303);
      expect(r.headers.getSetCookie().join(";")).toMatch(/sk_session=/);

      demo.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("nothing of the lab is left");
      expect(labExists(labId!)).toBe(false);
      // The forward is gone with it.
      await expect(fetch(`${base}/login`)).rejects.toThrow();
    } finally {
      if (demo.exitCode === null) {
        demo.kill("SIGINT");
        await exited;
      }
    }
  }, 150_000);
});
