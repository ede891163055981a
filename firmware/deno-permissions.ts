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
 *
 * Beside the permissions, the runtime flags of DENO_RUNTIME_FLAGS (V8's heap sizing, no code
 * cache): they are part of how the box runs the firmware, so everything that starts it gets
 * them here too.
 */
export type PermissionPaths = { appDir: string; configDir: string; dataDir: string; runDir: string };
export type PermissionNet = { syslogPort: number; collector?: { address: string; port: number } };

/**
 * V8's heap sizing for the firmware's three isolates (the main thread, the DNS filter's and
 * the log receiver's workers; V8 flags are per process, so all three get them). Measured with
 * `sekisho run`, 1 M blocked names and 2k queries/s of the dns-qps mix (issue 6; the harness
 * of test/bench/dns-memory.ts):
 *
 * - --max-semi-space-size=2 (MB): V8's young generation grows to 16 MB per semi-space by
 *   default, and it did: 20 MB of new space on the main thread at rest and 26-30 MB on each
 *   of the main thread and the DNS worker under 2k queries/s, nearly all of it empty. With
 *   2 MB the firmware's peak under that load fell from 228 to about 184 MB, and the
 *   saturated query rate did not move (23.4k against 23.3k q/s).
 * - Not taken: --max-semi-space-size=1 with --optimize-for-size gave the same peak under
 *   2k q/s (179-185 MB) and a much lower one at saturation (230 against 373-447 MB), but it
 *   cost a fifth of the DNS filter's saturated rate and the ingest path fell from 64k to
 *   53.8k events/s (28.4 against 21.5 µs of CPU per event) in the same session.
 * - --no-short-builtin-calls: with it on (V8's default on machines with 4 GB of memory or
 *   more), every isolate maps its own 2 MB copy of V8's builtins next to its code: three
 *   copies, about 6 MB of the deno binary's pages counted in RSS. Off (what V8 does by itself
 *   below 4 GB): 3-7 MB less file-backed RSS (session 12, 55-58 against 62 MB with 1 M names),
 *   the saturated query rate within the run's noise.
 */
export const DENO_V8_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--no-short-builtin-calls"];

/**
 * The runtime flags (not permissions) the firmware runs with, everywhere. --no-code-cache:
 * Deno's V8 code cache is a SQLite file in DENO_DIR that the process maps (about 3 MB of
 * RSS) so that it need not compile modules it has seen before; the firmware starts once and
 * runs for weeks, so what it saves is a one-off (start-up 1.1-1.7 s either way, session 12).
 */
export const DENO_RUNTIME_FLAGS: readonly string[] = ["--no-code-cache", `--v8-flags=${DENO_V8_FLAGS.join(",")}`];

/**
 * The flags for `deno run` before the firmware's entry point: the permissions above and the
 * runtime flags (DENO_RUNTIME_FLAGS), so the image, the demo and the tests cannot drift apart.
 */
export function denoPermissionFlags(p: PermissionPaths, net: PermissionNet): string[] {
  void net; // the ports are documented above; see the note on --allow-net
  return [
    ...DENO_RUNTIME_FLAGS,
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

/**
 * What `deno run` starts, relative to the application directory: the bundle of
 * image/bundle.ts (`npm run build`), not the TypeScript sources. Every isolate keeps the text
 * of the modules it loaded, and the bundle's text is a fraction of Deno's output for the
 * sources (image/README.md, "Bundle").
 */
export const FIRMWARE_ENTRY = "build/main.js";

/** The paths on the box (image/). */
export const BOX_PATHS: PermissionPaths = {
  appDir: "/usr/lib/sekisho", configDir: "/etc/sekisho", dataDir: "/var/lib/sekisho", runDir: "/run/sekisho",
};

/**
 * The systemd unit that runs the firmware on the box: `deno run` with exactly the flags above
 * (image/sekisho.service is this text; regenerate it when they change, image/README.md).
 */
export function boxServiceUnit(paths: PermissionPaths = BOX_PATHS, net: PermissionNet = { syslogPort: 514 }): string {
  const argv = [
    `${paths.appDir}/node_modules/.bin/deno`, "run", "--quiet", "--config", `${paths.appDir}/deno.json`,
    ...denoPermissionFlags(paths, net), `${paths.appDir}/${FIRMWARE_ENTRY}`, "run",
  ];
  return [
    "# Generated from firmware/deno-permissions.ts (boxServiceUnit); do not edit by hand.",
    "[Unit]",
    "Description=Sekisho firmware (firewall, DNS filter, events, admin page)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${argv.join(" ")}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30",
    "Restart=always",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
