/**
 * drizzle-kit configuration of the alert store. Run from the repository root:
 *   npx drizzle-kit generate --config firmware/alerts/drizzle.config.ts
 * It writes SQL migrations into firmware/alerts/migrations (committed, applied at start-up
 * by `applyAlertMigrations`).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./firmware/alerts/schema.ts",
  out: "./firmware/alerts/migrations",
});
