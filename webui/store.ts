/** The admin page's migrations, next to this file (resolved from the module, so it works installed anywhere). */
import { appPath } from "../firmware/app-root.ts";
import { applyMigrations, type Database } from "../firmware/store/database.ts";

export const WEBUI_MIGRATIONS_FOLDER = appPath("webui", "migrations");

/** Creates or upgrades the admin page's tables (idempotent; tracked in `__migrations_webui`). */
export async function applyWebuiMigrations(database: Database): Promise<void> {
  await applyMigrations(database, WEBUI_MIGRATIONS_FOLDER, "webui");
}
