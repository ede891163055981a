/**
 * drizzle-kit configuration of the admin page's tables. Run from the repository root:
 *   npx drizzle-kit generate --config webui/drizzle.config.ts
 * It writes SQL migrations into webui/migrations (committed, applied at start-up by
 * `applyWebuiMigrations`).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./webui/schema.ts",
  out: "./webui/migrations",
});
