/**
 * drizzle-kit configuration of the event store. Run from the repository root:
 *   npx drizzle-kit generate --config firmware/events/drizzle.config.ts
 * It writes SQL migrations into firmware/events/migrations (committed, applied at start-up).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./firmware/events/schema.ts",
  out: "./firmware/events/migrations",
});
