/**
 * The box's label: what the factory prints on the sticker (the admin page's address and the
 * per-device admin password; the provisioning QR code joins it later). The firmware writes
 * it once, at the first start, into the data directory with owner-only permissions, where
 * the label printer station takes it; the password itself never reaches a log.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../enforce/enforcer.ts";

export const Label = z.object({
  /** Where staff open the admin page from the LAN. */
  adminUrl: z.string(),
  adminPassword: z.string(),
  createdAt: z.string(),
});
export type Label = z.infer<typeof Label>;

export function labelPath(dataDir: string): string {
  return join(dataDir, "label", "label.json");
}

/** Writes the label (0600, atomically). Returns its path. */
export async function writeLabel(dataDir: string, label: Label): Promise<string> {
  const path = labelPath(dataDir);
  await mkdir(join(dataDir, "label"), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(label, null, 1)}\n`); // staged with mode 0600
  return path;
}

/** The label as written, or undefined when there is none or it cannot be read. */
export async function readLabel(dataDir: string): Promise<Label | undefined> {
  const text = await readFile(labelPath(dataDir), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = Label.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
