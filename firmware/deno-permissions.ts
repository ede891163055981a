/**
 * The exact Deno permissions the firmware runs with, in one place: the image's systemd unit,
 * the demo and the end-to-end tests all start it with these flags and no others.
 *
 * - run: only `nft` (the nftables driver).
 * - read: the config directory (device.json, policy) and the firmware's own data and run
 *   directories. Modules are loaded by Deno itself and need no read permission.
 * - write: the data directory (last-known-good ruleset) and the run directory (tmpfs: nft
 *   batch files).
 * - env: only NODE_V8_COVERAGE, which Deno's node:child_process reads when it starts a
 *   process (the driver passes nft a fixed environment, so nothing else is read).
 */
export type PermissionPaths = { configDir: string; dataDir: string; runDir: string };

export function denoPermissionFlags(p: PermissionPaths): string[] {
  return [
    "--allow-run=nft",
    `--allow-read=${p.configDir},${p.dataDir},${p.runDir}`,
    `--allow-write=${p.dataDir},${p.runDir}`,
    "--allow-env=NODE_V8_COVERAGE",
  ];
}

/** The paths on the box (image/). */
export const BOX_PATHS: PermissionPaths = { configDir: "/etc/sekisho", dataDir: "/var/lib/sekisho", runDir: "/run/sekisho" };
