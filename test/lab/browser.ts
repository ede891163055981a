/**
 * A real browser on a LAN host of the lab: Debian's chromium, driven by playwright-core,
 * started inside the host's network namespace (a wrapper runs `ip netns exec NS chromium`;
 * playwright talks to it over the inherited pipe, so no port is opened anywhere). The
 * browser reaches the box exactly as an office PC does: through the bridge, the nft rules
 * and the DNS filter.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import type { Lab, LabNsKey } from "./lab.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** Launches chromium in `ns` (default lan1). The caller closes it. */
export async function launchLabBrowser(lab: Lab, ns: LabNsKey = "lan1"): Promise<Browser> {
  const wrapper = join(lab.runDir, `chromium-${ns}.sh`);
  // argv, not a shell string: "$@" passes playwright's arguments through unchanged.
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.ns[ns]} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o755);
  return chromium.launch({
    executablePath: wrapper,
    // root in a VM: chromium's sandbox needs user namespaces it may not get.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--lang=ja-JP"],
    timeout: 30_000,
  });
}
