/**
 * A real browser on a LAN host of the lab: Debian's chromium, driven by playwright-core,
 * started inside the host's network namespace (a wrapper runs `ip netns exec NS chromium`;
 * playwright talks to it over the inherited pipe, so no port is opened anywhere). The
 * browser reaches the box exactly as an office PC does: through the bridge, the nft rules
 * and the DNS filter.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
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
    // Without these features chromium looks up content-autofill.googleapis.com and
    // optimizationguide-pa.googleapis.com on every page load: hundreds of queries that fill
    // the box's query log (and the URL-filter page's screenshots) with its own noise.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--lang=ja-JP",
      "--disable-features=AutofillServerCommunication,OptimizationHints,OptimizationHintsFetching,OptimizationGuideModelDownloading"],
    timeout: 30_000,
  });
}

/** One thing the browser complained about: a console error or an uncaught exception. */
export type PageProblem = { kind: "console" | "pageerror"; url: string; text: string };

/**
 * Collects every console error and uncaught page exception of `page` into `sink`, with the
 * URL the page was on. `ignore(problem)` lets a test excuse one it caused on purpose (the
 * 404 page's "Failed to load resource").
 */
export function recordPageProblems(page: Page, sink: PageProblem[], ignore: (p: PageProblem) => boolean = () => false): void {
  const add = (p: PageProblem): void => {
    if (!ignore(p)) sink.push(p);
  };
  page.on("console", (m) => {
    if (m.type() === "error") add({ kind: "console", url: page.url(), text: `${m.text()} (${m.location().url})` });
  });
  page.on("pageerror", (e) => add({ kind: "pageerror", url: page.url(), text: `${e.name}: ${e.message}` }));
}

/** A full-page PNG of what `page` shows, as `<dir>/<name>.png`; returns the path. */
export async function savePageScreenshot(page: Page, dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: "disabled" });
  return path;
}
