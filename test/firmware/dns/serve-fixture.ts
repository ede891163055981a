/**
 * The DNS filter as a process of its own, for the tests and the throughput measurement that
 * run it under Deno (as the box does) and under Node (through tsx):
 *
 *   serve-fixture.ts --listen 127.0.0.1:5300 --upstream 127.0.0.2:53 [--list FILE --format domains]
 *                    [--sample-lists] [--socket auto|deno|node]
 *
 * Prints one JSON line when it listens ({port, implementation, names, compileMs}), and one
 * with its counters and RSS on SIGTERM/SIGINT, then exits. Not the box's composition root
 * (firmware/main.ts is): this only wires the filter the way main.ts will.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { bindDatagramSocket } from "../../../firmware/logs/socket.ts";
import { compileDnsFilter } from "../../../firmware/dns/filter.ts";
import { storedListText } from "../../../firmware/dns/list-store.ts";
import type { ListText } from "../../../firmware/dns/lists.ts";
import { DnsServer } from "../../../firmware/dns/server.ts";
import { DnsPolicy } from "../../../policies/schema.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    listen: { type: "string", default: "127.0.0.1:5300" },
    upstream: { type: "string", multiple: true, default: [] },
    list: { type: "string" },
    format: { type: "string", default: "domains" },
    "sample-lists": { type: "boolean", default: false },
    socket: { type: "string", default: "auto" },
    /** Print memory figures to stderr every second. */
    "mem-trace": { type: "boolean", default: false },
  },
});

const hostPort = (s: string) => {
  const i = s.lastIndexOf(":");
  return { address: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
};

const lists: unknown[] = [];
const listTexts = new Map<string, ListText>();
if (values.list) {
  lists.push({ id: "bench", category: "malware", format: values.format, match: "subdomain", url: "https://lists.example/bench" });
  // As the box does: straight from the kept file, never the whole list as one string.
  listTexts.set("bench", storedListText(values.list));
}
if (values["sample-lists"]) {
  const dir = join(import.meta.dirname ?? ".", "../../../policies/lists");
  lists.push({ id: "sample-malware", category: "malware", format: "hosts", match: "exact", url: "https://lists.example/m" });
  listTexts.set("sample-malware", readFileSync(join(dir, "malware.hosts"), "utf8"));
}
const policy = DnsPolicy.parse({
  enabled: true, response: "blockpage", blockCategories: ["malware"], allow: [], block: [], dohNames: ["doh.example"], dohAddresses: [],
  upstreams: [], lists,
});
const t0 = performance.now();
const compiled = compileDnsFilter({ policy, listTexts, box: { management4: "192.0.2.1", blockPage4: "192.0.2.2" } });
const compileMs = performance.now() - t0;
if (!compiled.ok) {
  process.stderr.write(`compile failed: ${JSON.stringify(compiled.error).slice(0, 2000)}\n`);
  process.exit(1);
}
listTexts.clear();
// What the box does after a reload when V8's gc is exposed (--v8-flags=--expose-gc): the
// list text and the build's staging arrays go now, not at some later collection.
(globalThis as { gc?: () => void }).gc?.();

const impl = values.socket as "auto" | "deno" | "node";
const server = new DnsServer({
  listen: hostPort(values.listen),
  upstreams: values.upstream.map(hostPort),
  filter: compiled.filter,
  recvBufferBytes: 4 << 20,
  bindDatagram: (o) => bindDatagramSocket({ ...o, implementation: impl }),
});
await server.start();
// Keep the log from holding the run's names: drain it like the event store would.
const drain = setInterval(() => server.drainLog(), 200);
if (values["mem-trace"]) {
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(`mem rss ${(m.rss / 1e6).toFixed(0)} heapUsed ${(m.heapUsed / 1e6).toFixed(0)} heapTotal ${(m.heapTotal / 1e6).toFixed(0)} external ${(m.external / 1e6).toFixed(0)} ab ${((m.arrayBuffers ?? 0) / 1e6).toFixed(0)}\n`);
  }, 1000);
}
process.stdout.write(`${JSON.stringify({ ready: true, ...server.address(), implementation: server.socketImplementation, names: compiled.filter.names, bytes: compiled.filter.bytes, compileMs: Math.round(compileMs) })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(drain);
  const stats = server.stats();
  const mem = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1e5) / 10;
  await server.stop();
  process.stdout.write(`${JSON.stringify({ stopped: true, stats, rssMb: mb(mem.rss), heapUsedMb: mb(mem.heapUsed), heapTotalMb: mb(mem.heapTotal), externalMb: mb(mem.external) })}\n`);
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
