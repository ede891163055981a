/**
 * The local overrides as a file: `<dataDir>/policy/local.json`, the `LocalOverrides` value
 * as JSON, replaced atomically (write, fsync, rename) so a crash leaves the old file or the
 * new one, never half of one.
 */
import { readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { parseOverrides, EMPTY_OVERRIDES, type LocalOverrides } from "../../policies/overrides.ts";
import { writeFileAtomic } from "../enforce/enforcer.ts";

/** Where the overrides are kept. */
export function overridesPath(dataDir: string): string {
  return join(dataDir, "policy", "local.json");
}

export type LoadOutcome =
  | { ok: true; overrides: LocalOverrides; found: boolean }
  | { ok: false; error: string };

export class OverrideStore {
  readonly path: string;
  /** The file on disk could not be used at the last load: keep it aside before replacing it. */
  #rejected = false;

  constructor(opts: { dataDir: string }) {
    this.path = overridesPath(opts.dataDir);
  }

  /**
   * Reads the kept overrides. No file yet: none (`found: false`). A file that cannot be read,
   * is not JSON or does not parse: an error value naming the file and the problem; the
   * caller starts with none and logs it. The file itself is left as it is until the next
   * `save`, which moves it to `local.json.rejected` first, so a person can still recover it.
   */
  async load(): Promise<LoadOutcome> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        this.#rejected = false;
        return { ok: true, overrides: EMPTY_OVERRIDES, found: false };
      }
      return this.#reject(`cannot be read: ${(e as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return this.#reject(`is not valid JSON: ${(e as Error).message}`);
    }
    const r = parseOverrides(raw);
    if (!r.ok) return this.#reject(`is not a valid set of local overrides: ${r.error}`);
    this.#rejected = false;
    return { ok: true, overrides: r.value, found: true };
  }

  /** Keeps `overrides` (atomically). Rejects with the I/O error when the file cannot be written. */
  async save(overrides: LocalOverrides): Promise<void> {
    if (this.#rejected) {
      await rename(this.path, `${this.path}.rejected`).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
      this.#rejected = false;
    }
    await writeFileAtomic(this.path, `${JSON.stringify(overrides, null, 2)}\n`);
  }

  #reject(problem: string): LoadOutcome {
    this.#rejected = true;
    return { ok: false, error: `local overrides ${this.path} ${problem}` };
  }
}
