/**
 * drizzle-kit configuration of the policy history. Run from the repository root:
 *   npx drizzle-kit generate --config firmware/policy/drizzle.config.ts
 * It writes SQL migrations into firmware/policy/migrations (committed, applied at start-up
 * by `applyPolicyMigrations`).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./firmware/policy/schema.ts",
  out: "./firmware/policy/migrations",
});
