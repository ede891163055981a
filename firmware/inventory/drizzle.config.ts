/**
 * drizzle-kit settings for the inventory's migrations (`firmware/inventory/migrations`,
 * applied at start-up by applyMigrations(db, folder, "inventory")). Regenerate after a schema
 * change with: npx drizzle-kit generate --config firmware/inventory/drizzle.config.ts
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./firmware/inventory/schema.ts",
  out: "./firmware/inventory/migrations",
});
