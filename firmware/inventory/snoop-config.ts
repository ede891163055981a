/**
 * What the rest of the box must set up for DHCP and ARP snooping, as data: the ulogd2 stack
 * that writes the snooping NFLOG group to a pcap file (merged into the image's ulogd.conf by
 * whoever writes it), and the nft rules that copy DHCP and ARP to that group (the ruleset
 * compiler's to emit; README.md gives the exact rule). Pure.
 */

export type SnoopStackOptions = {
  /** ulogd2's plugin directory (Debian: /usr/lib/<arch>/ulogd). */
  pluginDir: string;
  /** The snooping NFLOG group (not the main log group: one NFLOG instance binds one group). */
  group: number;
  /** The pcap file (on tmpfs, in the firmware's run directory). */
  file: string;
};

/** The plugins the stack needs (ulogd_output_PCAP.so comes with Debian's `ulogd2-pcap`). */
export function snoopUlogdPlugins(pluginDir: string): string[] {
  return ["ulogd_inppkt_NFLOG.so", "ulogd_raw2packet_BASE.so", "ulogd_output_PCAP.so"].map((p) => `${pluginDir}/${p}`);
}

/**
 * The stack line and sections for ulogd.conf. BASE must sit between NFLOG and PCAP: PCAP
 * takes the IP length from it (ulogd refuses the stack without it). `sync=1`: every packet is
 * flushed at once (else stdio buffers 4 KiB, minutes of DHCP). `netlink_qthreshold=1`: the
 * kernel hands each packet over at once instead of batching for up to a second.
 */
export function buildSnoopUlogdStack(opts: SnoopStackOptions): { plugins: string[]; stack: string; sections: string } {
  if (!Number.isInteger(opts.group) || opts.group < 0 || opts.group > 65535) throw new RangeError(`NFLOG group ${opts.group}`);
  if (/["\n]/.test(opts.file)) throw new RangeError(`pcap path ${JSON.stringify(opts.file)} cannot be written in ulogd.conf`);
  const g = opts.group;
  return {
    plugins: snoopUlogdPlugins(opts.pluginDir),
    stack: `stack=snoop${g}:NFLOG,snoopbase${g}:BASE,snooppcap${g}:PCAP`,
    sections: [
      `[snoop${g}]`,
      `group=${g}`,
      "netlink_qthreshold=1",
      "",
      `[snooppcap${g}]`,
      `file="${opts.file}"`,
      "sync=1",
      "",
    ].join("\n"),
  };
}

/** A whole ulogd.conf with only the snooping stack (a separate ulogd instance, and the tests). */
export function buildSnoopUlogdConf(opts: SnoopStackOptions & { logFile: string }): string {
  if (/["\n]/.test(opts.logFile)) throw new RangeError(`log path ${JSON.stringify(opts.logFile)} cannot be written in ulogd.conf`);
  const s = buildSnoopUlogdStack(opts);
  return ["[global]", `logfile="${opts.logFile}"`, "loglevel=3", ...s.plugins.map((p) => `plugin="${p}"`), s.stack, "", s.sections].join("\n");
}
