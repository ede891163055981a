/**
 * Real peers for the DNS tests: dnsmasq as the upstream resolver on a loopback address of
 * its own, and dig as the client. Processes are started with argument arrays and stopped
 * by their own pid.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { promisify } from "node:util";

export type Dnsmasq = { address: string; port: number; proc: ChildProcess; stop: () => Promise<void> };

/** Waits for a condition, polling, with a deadline (never a bare sleep). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A raw UDP exchange: true when something answers at address:port within the time. */
export function udpAnswers(address: string, port: number, message: Uint8Array, timeoutMs = 300): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(":") ? "udp6" : "udp4");
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on("message", (m) => {
      clearTimeout(t);
      s.close();
      resolve(new Uint8Array(m));
    });
    s.on("error", () => undefined);
    s.send(message, port, address);
  });
}

/**
 * dnsmasq answering from its own records only (no upstream, no /etc/hosts, no config file),
 * on `address:port`. `records` are extra dnsmasq options (--address, --host-record, …).
 */
export async function startDnsmasq(address: string, port: number, records: string[]): Promise<Dnsmasq> {
  const args = [
    "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
    `--listen-address=${address}`, `--port=${port}`, "--pid-file=", "--local-ttl=300", "--cache-size=0",
    "--log-facility=-", ...records,
  ];
  const proc = spawn("dnsmasq", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const probe = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 112, 114, 111, 98, 0, 0, 1, 0, 1]);
  try {
    await waitFor(`dnsmasq on ${address}:${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`);
      return (await udpAnswers(address, port, probe, 100)) !== undefined;
    });
  } catch (e) {
    proc.kill("SIGTERM");
    throw e;
  }
  const stop = async () => {
    if (proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await waitFor("dnsmasq to exit", () => proc.exitCode !== null || proc.signalCode !== null, 5000);
  };
  return { address, port, proc, stop };
}

export type DigResult = { status: string; flags: string[]; answers: { name: string; ttl: number; type: string; data: string }[]; authority: string[]; raw: string };

/** Runs dig against server:port and parses its default output. */
export async function dig(server: string, port: number, name: string, type: string, extra: string[] = []): Promise<DigResult> {
  const { stdout } = await promisify(execFile)("dig", [`@${server}`, "-p", String(port), name, type, "+time=2", "+tries=1", ...extra], { timeout: 15_000 });
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? "NONE";
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? "").trim().split(/\s+/);
  const section = (title: string) => {
    const i = stdout.indexOf(`;; ${title} SECTION:`);
    if (i < 0) return [];
    const rest = stdout.slice(i).split("\n").slice(1);
    const end = rest.findIndex((l) => l.trim() === "");
    return rest.slice(0, end < 0 ? undefined : end);
  };
  const answers = section("ANSWER").map((l) => {
    const [n, ttl, , t, ...data] = l.split(/\s+/);
    return { name: n ?? "", ttl: Number(ttl), type: t ?? "", data: data.join(" ") };
  });
  return { status, flags, answers, authority: section("AUTHORITY"), raw: stdout };
}
