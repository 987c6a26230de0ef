import { defineConfig } from "drizzle-kit";

/** Migrations for each ProfileActor's own SQLite database, bundled into the Worker. */
export default defineConfig({
  dialect: "sqlite",
  driver: "durable-sqlite",
  schema: "./src/actors/schema.ts",
  out: "./src/actors/migrations",
});
