/**
 * The box's one database file (libsql / SQLite) in the data directory, opened in WAL mode.
 * Each capability owns its drizzle schema and its drizzle-kit migrations folder
 * (`firmware/<capability>/migrations`), tracked in its own migrations table, so capabilities
 * evolve their tables independently; all of them are applied at start-up.
 */
import { chmod, open } from "node:fs/promises";
import { createClient, type Client } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";

export type Database = { client: Client; db: LibSQLDatabase; path: string };

/** Opens (creating if needed) the database at `path` (a file path, or ":memory:"). */
export async function openDatabase(path: string): Promise<Database> {
  if (path !== ":memory:") await restrictToOwner(path);
  const client = createClient({ url: path === ":memory:" ? ":memory:" : `file:${path}` });
  // WAL: readers (admin page, reports) never block the batched writer; NORMAL sync is
  // durable across a process crash (the WAL is in the page cache / on disk), which is the
  // failure the box must survive; a power cut may lose the last transactions.
  await client.execute("PRAGMA journal_mode = WAL");
  await client.execute("PRAGMA synchronous = NORMAL");
  await client.execute("PRAGMA busy_timeout = 5000");
  await client.execute("PRAGMA foreign_keys = ON");
  return { client, db: drizzle(client), path };
}

/**
 * The database holds the admin password's hash and the sessions' CSRF tokens: owner-only.
 * The file is created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database file's mode), and files an older version created are narrowed.
 */
async function restrictToOwner(path: string): Promise<void> {
  await (await open(path, "a", 0o600)).close();
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    await chmod(p, 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }
}

/** Applies one capability's drizzle-kit migrations (idempotent). */
export async function applyMigrations(database: Database, folder: string, capability: string): Promise<void> {
  await migrate(database.db, { migrationsFolder: folder, migrationsTable: `__migrations_${capability}` });
}

export function closeDatabase(database: Database): void {
  database.client.close();
}
