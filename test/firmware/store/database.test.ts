import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
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

  it("keeps the database and its WAL owner-only (it holds the admin password's hash), also for an older file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-db-"));
    dirs.push(dir);
    const path = join(dir, "sekisho.db");
    const a = await openDatabase(path);
    await a.client.execute("CREATE TABLE t (v INTEGER)");
    await a.client.execute("INSERT INTO t VALUES (1)");
    for (const p of [path, `${path}-wal`]) expect(statSync(p).mode & 0o777, p).toBe(0o600);
    closeDatabase(a);
    chmodSync(path, 0o644); // as an older firmware left it
    const b = await openDatabase(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    closeDatabase(b);
    // A file that is not a database is still refused by SQLite, not truncated.
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "not a database at all, just text ".repeat(100));
    const c = await openDatabase(junk).catch((e: Error) => e);
    if (!(c instanceof Error)) {
      await expect(c.client.execute("SELECT 1 FROM sqlite_master")).rejects.toThrow();
      closeDatabase(c);
    }
    expect(statSync(junk).size).toBe(3300);
  });
});
