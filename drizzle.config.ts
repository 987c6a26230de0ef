import { defineConfig } from "drizzle-kit";

/** Warehouse (D1) migrations, applied with `wrangler d1 migrations apply`. */
export default defineConfig({
  dialect: "sqlite",
  schema: ["./src/sink/warehouse-schema.ts", "./src/warehouse/quality-schema.ts"],
  out: "./migrations",
});
