/**
 * The box's own configuration: how it is wired (bridge or router), its interfaces, its LAN,
 * its management address and where it keeps data. Written by the image / first boot, not by
 * the provider; parsed once at start-up.
 */
import { z } from "zod";
import { parseIpv4, parseIpv6 } from "./net.ts";
import { Cidr, describeIssues, type ParseResult } from "./schema.ts";

const IfName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, "must be a Linux interface name (1-15 characters)");
const Ipv4 = z.string().refine((s) => parseIpv4(s) !== undefined, "must be an IPv4 address");
const Ipv6 = z.string().refine((s) => parseIpv6(s) !== undefined, "must be an IPv6 address");
const AbsPath = z.string().regex(/^\/[^\0]*$/, "must be an absolute path");
const Port = z.number().int().min(1).max(65535);

export const Device = z
  .object({
    mode: z.enum(["bridge", "router"]),
    interfaces: z.object({
      wan: IfName,
      lan: IfName,
      /** Bridge mode: the bridge over wan and lan that carries the box's own address. */
      bridge: IfName.optional(),
    }),
    /** The office LAN's prefixes (IPv4 and IPv6). */
    lanPrefixes: z.array(Cidr).min(1).max(16),
    management: z.object({
      address4: Ipv4,
      address6: Ipv6.optional(),
      /** TCP ports of the admin page on the LAN side. */
      ports: z.array(Port).min(1).max(4).default([80, 443]),
    }),
    /** Port the DNS filter listens on; LAN DNS is redirected there (later issue). */
    dnsPort: Port.default(5353),
    /** NFLOG group the ruleset logs to (ulogd2 reads it). */
    logGroup: z.number().int().min(0).max(65535).default(1),
    /** Log lines per second per rule before a flood is only counted, not logged. */
    logRate: z.number().int().min(1).max(100_000).default(200),
    /** NFLOG group for DHCP/ARP snooping (raw packets to a pcap file, for the inventory). */
    snoopGroup: z.number().int().min(0).max(65535).default(2),
    /**
     * UDP port of the log receiver: LAN devices send syslog there (category ⑤ endpoint), and
     * ulogd2 sends its JSON to it on loopback.
     */
    syslogPort: z.number().int().min(1).max(65535).default(514),
    /** Where alerts are forwarded as RFC 5424 syslog, if anywhere. */
    syslogCollector: z.object({
      address: z.string().refine((s) => parseIpv4(s) !== undefined || parseIpv6(s) !== undefined, "must be an IP address"),
      port: z.number().int().min(1).max(65535),
    }).optional(),
    /** The inventory's first-hour window in which devices are learnt without new-device events. */
    inventoryBaselineMinutes: z.number().int().min(0).max(10_080).default(60),
    dataDir: AbsPath,
    runDir: AbsPath,
  })
  .superRefine((d, ctx) => {
    if (d.mode === "bridge" && !d.interfaces.bridge) {
      ctx.addIssue({ code: "custom", path: ["interfaces", "bridge"], message: "bridge mode needs the bridge interface name" });
    }
    if (d.snoopGroup === d.logGroup) {
      ctx.addIssue({ code: "custom", path: ["snoopGroup"], message: "the snoop group must differ from the log group" });
    }
    if (d.interfaces.wan === d.interfaces.lan) {
      ctx.addIssue({ code: "custom", path: ["interfaces", "lan"], message: "wan and lan must be different interfaces" });
    }
  });

export type Device = z.infer<typeof Device>;

export function parseDevice(input: unknown): ParseResult<Device> {
  const r = Device.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, problems: describeIssues(r.error) };
}
