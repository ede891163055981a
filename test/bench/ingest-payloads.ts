// What the `ingest` bench sends: real ulogd2 JSON records (the logs engineer's fixtures in
// test/firmware/logs/fixtures/, captured from ulogd 2.0.8) rewritten as the box's ulogd
// config sends them (no "timestamp", the group in "dvc") with the log prefixes of the
// compiled baseline ruleset and varied addresses, ports and MACs: an office under attack
// (the mix of test/firmware/events/fixtures.ts mixedRecords, packets only), so incidents
// and rollups see realistic variety. Seeded: every run sends the same datagrams.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ULOGD_DEVICE_PREFIX } from "../../firmware/logs/ulogd-json.ts";
import { logPrefix } from "../../firmware/ruleset/meta.ts";
import { parsePolicy, formatProblems, type Policy } from "../../policies/schema.ts";
import type { Device } from "../../policies/device.ts";
import { buildBenchDevice } from "./fixture.ts";

const FIXTURES = join(import.meta.dirname ?? ".", "..", "firmware", "logs", "fixtures");
const BASELINE = join(import.meta.dirname ?? ".", "..", "..", "policies", "baseline.json");

/** The shipped baseline policy as it is (its own small blocklists). */
export function buildIngestPolicy(): Policy {
  const r = parsePolicy(JSON.parse(readFileSync(BASELINE, "utf8")));
  if (!r.ok) throw new Error(`baseline policy is invalid:\n${formatProblems(r.problems)}`);
  return r.value;
}

/** The lab's box (bridge mode, LAN 192.0.2.0/24 + 2001:db8:2::/64). */
export function buildIngestDevice(dataDir: string): Device {
  return buildBenchDevice(dataDir);
}

type Record_ = Record<string, unknown>;

/** JSON as ulogd's JSON plugin (jansson) prints it: ", " and ": " between items. */
function ulogdJson(rec: Record_): string {
  return `{${Object.entries(rec).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ")}}`;
}

function fixtureLines(file: string): Record_[] {
  return readFileSync(join(FIXTURES, file), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record_);
}

/** The real records used as templates, picked by what they are (fails loudly if the fixtures change). */
function templates(): { tcp4: Record_; tcp6: Record_; udp4: Record_; icmp4: Record_ } {
  const all = [...fixtureLines("ulogd-bridge.jsonl"), ...fixtureLines("ulogd-host.jsonl")];
  const pick = (what: string, ok: (r: Record_) => boolean): Record_ => {
    const r = all.find(ok);
    if (r === undefined) throw new Error(`no ${what} record in ${FIXTURES}`);
    return r;
  };
  return {
    // The bridge-mode captures: forwarded through br0, the port in oob.mark.
    tcp4: pick("IPv4 TCP SYN (bridge)", (r) => r["oob.in"] === "br0" && r["oob.family"] === 2 && r["ip.protocol"] === 6),
    tcp6: pick("IPv6 TCP SYN (bridge)", (r) => r["oob.in"] === "br0" && r["oob.family"] === 10 && r["ip.protocol"] === 6),
    udp4: pick("IPv4 UDP (bridge)", (r) => r["oob.in"] === "br0" && r["oob.family"] === 2 && r["ip.protocol"] === 17),
    icmp4: pick("IPv4 ICMP echo", (r) => r["ip.protocol"] === 1 && r["icmp.type"] === 8),
  };
}

/**
 * `count` ulogd JSON datagrams (one per line, no newline inside). `nowSec`: the packets'
 * time (the store's retention keeps 30 days, so they must be recent).
 */
export function buildIngestPayloads(count: number, nowSec: number, seed = 1): string[] {
  const t = templates();
  let x = seed >>> 0 || 1;
  const rnd = (): number => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  const routerMac = "f2:47:5b:c7:c0:2c";
  const boxMac = "9a:11:10:95:91:82";
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = rnd() % 100;
    const host = 10 + (rnd() % 20);
    const lan = `192.0.2.${host}`;
    const lanMac = `02:00:00:00:00:${host.toString(16).padStart(2, "0")}`;
    const remote = `203.0.113.${rnd() % 50}`;
    const sport = 1024 + (rnd() % 64000);
    // inbound from the WAN side (mark 1), outbound from the LAN side (mark 2)
    const inbound = (logId: string, template: Record_, src: string, dst: string, dport: number | undefined) => ({
      ...template, "oob.prefix": logPrefix(logId), "oob.mark": 1, src_ip: src, dest_ip: dst,
      ...(dport === undefined ? {} : { src_port: sport, dest_port: dport }),
      "mac.saddr.str": routerMac, "mac.daddr.str": boxMac, "mac.str": `${boxMac}:${routerMac}:08:00`,
    });
    const outbound = (logId: string, template: Record_, dst: string, dport: number) => ({
      ...template, "oob.prefix": logPrefix(logId), "oob.mark": 2, src_ip: lan, dest_ip: dst, src_port: sport, dest_port: dport,
      "mac.saddr.str": lanMac, "mac.daddr.str": routerMac, "mac.str": `${routerMac}:${lanMac}:08:00`,
    });
    let rec: Record_;
    if (r < 40) rec = inbound("port-scan.banned", t.tcp4, remote, lan, 1 + (rnd() % 65535));
    else if (r < 55) rec = inbound("sys-inbound", t.tcp4, remote, lan, [22, 23, 80, 443, 445, 3389, 8080][rnd() % 7]!);
    else if (r < 58) rec = { ...inbound("sys-inbound", t.icmp4, remote, lan, undefined), "oob.in": "br0", "oob.out": "br0" };
    else if (r < 60) {
      rec = inbound("sys-inbound", t.tcp6, `2001:db8:100::${(rnd() % 50).toString(16)}`, `2001:db8:2::${host.toString(16)}`, [22, 445, 3389][rnd() % 3]!);
      rec["mac.str"] = `${boxMac}:${routerMac}:86:dd`;
    } else if (r < 65) rec = inbound("port-scan", t.tcp4, remote, lan, 1 + (rnd() % 1024));
    else if (r < 75) rec = inbound("bf-ssh", t.tcp4, remote, lan, 22);
    else if (r < 82) rec = outbound("c2-feed.out", t.udp4, "203.0.113.99", 4444);
    else if (r < 90) rec = outbound("out-smtp", t.tcp4, `198.51.100.${rnd() % 200}`, 25);
    else {
      rec = inbound("sys-tcp-flags", t.tcp4, remote, lan, 80);
      rec["tcp.fin"] = 1;
    }
    // As the box's ulogd config sends it: no zone-less "timestamp", the group in "dvc".
    delete rec.timestamp;
    rec.dvc = `${ULOGD_DEVICE_PREFIX}1`;
    rec["oob.time.sec"] = nowSec - 60 + Math.floor(i / 100);
    rec["oob.time.usec"] = rnd() % 1_000_000;
    if (typeof rec["ip.id"] === "number") rec["ip.id"] = rnd() % 65536;
    out.push(ulogdJson(rec));
  }
  return out;
}
