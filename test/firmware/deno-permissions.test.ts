import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boxServiceUnit, DENO_RUNTIME_FLAGS, denoPermissionFlags, BOX_PATHS } from "../../firmware/deno-permissions.ts";

const REPO = join(import.meta.dirname, "..", "..");

describe("the flags the firmware runs with", () => {
  it("the image's systemd unit is the one the flags make (regenerate it: image/README.md)", () => {
    expect(readFileSync(join(REPO, "image", "sekisho.service"), "utf8")).toBe(boxServiceUnit());
  });

  it("every start gets the V8 heap flags before the permissions, and the unit starts the firmware with exactly them", () => {
    const flags = denoPermissionFlags(BOX_PATHS, { syslogPort: 514 });
    expect(flags.slice(0, DENO_RUNTIME_FLAGS.length)).toEqual([...DENO_RUNTIME_FLAGS]);
    const execStart = /^ExecStart=(.*)$/m.exec(boxServiceUnit())?.[1]?.split(" ") ?? [];
    expect(execStart.slice(5, 5 + flags.length)).toEqual(flags);
    expect(execStart.slice(-2)).toEqual([`${BOX_PATHS.appDir}/build/main.js`, "run"]);
  });
});
