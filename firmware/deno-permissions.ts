/**
 * The exact Deno permissions the firmware runs with, in one place: the image's systemd unit,
 * the demo and the end-to-end tests all start it with these flags and no others.
 *
 * - run: `nft` (the ruleset), `ulogd` (NFLOG → the log receiver), `ip` (the neighbour table),
 *   `conntrack` (cutting open flows to newly blocked addresses).
 * - read: the firmware's own install directory (its migrations, and in node_modules the
 *   libsql native binding and the OUI table), the config directory, and its data and run
 *   directories. Modules are loaded by Deno itself and need no read permission.
 * - write: the data directory (the database, the last-known-good ruleset) and the run
 *   directory (tmpfs: nft batch files, ulogd's config, the DHCP snoop file).
 * - net: the log receiver's UDP port (LAN syslog, and ulogd on loopback), the DNS filter
 *   (its port, and the upstream resolvers the policy names), the block page, the syslog
 *   collector. Unscoped, because upstreams change with the policy; the ruleset is the fence.
 * - read /etc/resolv.conf: the resolvers the box was given, when the policy names none.
 * - ffi, sys: libsql's native binding (its loader asks the OS about CPUs and interfaces).
 * - env: NODE_V8_COVERAGE, which Deno's node:child_process reads when it starts a process
 *   (the children get fixed environments of their own), and LIBSQL_JS_DEV (libsql's loader).
 */
export type PermissionPaths = { appDir: string; configDir: string; dataDir: string; runDir: string };
export type PermissionNet = { syslogPort: number; collector?: { address: string; port: number } };

export function denoPermissionFlags(p: PermissionPaths, net: PermissionNet): string[] {
  void net; // the ports are documented above; see the note on --allow-net
  return [
    "--allow-run=nft,ulogd,ip,conntrack",
    `--allow-read=${p.appDir},${p.configDir},${p.dataDir},${p.runDir},/etc/resolv.conf`,
    `--allow-write=${p.dataDir},${p.runDir}`,
    // Unscoped: the DNS filter forwards to whatever upstreams the policy names (they change
    // at run time, Deno scopes hosts at launch). The boundary is the ruleset: the box only
    // accepts DNS, syslog and the admin/block page from the LAN side.
    "--allow-net",
    "--allow-ffi",
    "--allow-sys=cpus,networkInterfaces,hostname,osRelease",
    "--allow-env=NODE_V8_COVERAGE,LIBSQL_JS_DEV",
  ];
}

/** The paths on the box (image/). */
export const BOX_PATHS: PermissionPaths = {
  appDir: "/usr/lib/sekisho", configDir: "/etc/sekisho", dataDir: "/var/lib/sekisho", runDir: "/run/sekisho",
};
