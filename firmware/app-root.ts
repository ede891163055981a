/**
 * Where the firmware's files are, whether it runs from its sources (`firmware/*.ts`, as the
 * tests under Node and `deno check` see it) or from the bundle the box runs (`build/*.js`,
 * made by image/bundle.ts). In the bundle every module's `import.meta` is the bundle file's,
 * so files that ship beside the code (migrations, the admin page's assets, the worker
 * entries) are found from the application root, which is the parent of both `firmware/` and
 * `build/`.
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The application root: the repository, or /usr/lib/sekisho on the box. */
export const APP_ROOT = resolve(import.meta.dirname ?? ".", "..");

/** True when this code runs from the bundle (build/*.js), false from the TypeScript sources. */
export const BUNDLED = import.meta.url.endsWith(".js");

/** A path under the application root. */
export function appPath(...parts: string[]): string {
  return join(APP_ROOT, ...parts);
}

/**
 * The URL of a worker's entry module: `firmware/<path>.ts` from the sources, and
 * `build/<path>.js` (the bundle keeps the sources' layout under firmware/) from the bundle.
 */
export function workerEntryUrl(pathUnderFirmware: string): string {
  const file = BUNDLED ? appPath("build", `${pathUnderFirmware}.js`) : appPath("firmware", `${pathUnderFirmware}.ts`);
  return pathToFileURL(file).href;
}
