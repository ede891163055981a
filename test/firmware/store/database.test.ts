import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase } from "../../../firmware/store/database.ts";

describe("openDatabase", () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it("opens a file in WAL mode, and what was committed survives a reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-db-"));
    dirs.push(dir);
    const path = join(dir, "sekisho.db");
    const a = await openDatabase(path);
    expect((await a.client.execute("PRAGMA journal_mode")).rows[0]?.[0]).toBe("wal");
    await a.client.execute("CREATE TABLE t (v INTEGER)");
    await a.client.batch([{ sql: "INSERT INTO t VALUES (?)", args: [1] }, { sql: "INSERT INTO t VALUES (?)", args: [2] }], "write");
    closeDatabase(a);
    const b = await openDatabase(path);
    expect((await b.client.execute("SELECT sum(v) FROM t")).rows[0]?.[0]).toBe(3);
    closeDatabase(b);
  });
});
