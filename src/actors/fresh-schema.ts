/**
 * The schema of a new profile actor, in one step. A person never seen has an
 * empty SQLite file; drizzle's migrator would build it by running each of the
 * bundled migrations in turn through its query builder, one statement and
 * one bookkeeping row at a time — about a quarter of what starting a new
 * actor costs (docs/performance.md). Here the same statements, and the same
 * `__drizzle_migrations` rows the migrator would have written, run as one
 * script: a file made this way is, to the migrator, one it migrated itself,
 * and later migrations apply to it as to any other.
 */
import migrations from "./migrations/migrations.js";

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
  id SERIAL PRIMARY KEY,
  hash text NOT NULL,
  created_at numeric
)`;

function freshSchemaScript(): string {
  const statements: string[] = [BOOKKEEPING];
  const files = migrations.migrations as Record<string, string>;
  for (const entry of migrations.journal.entries) {
    const text = files[`m${entry.idx.toString().padStart(4, "0")}`];
    if (text === undefined) throw new Error(`missing actor migration ${entry.tag}`);
    for (const stmt of text.split("--> statement-breakpoint")) {
      const trimmed = stmt.trim().replace(/;\s*$/, "");
      if (trimmed) statements.push(trimmed);
    }
  }
  // The migrator records each migration with an empty hash and its journal time.
  const rows = migrations.journal.entries.map((e) => `('', ${Number(e.when)})`).join(", ");
  statements.push(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES ${rows}`);
  return `${statements.join(";\n")};`;
}

/** Built once per isolate. */
export const FRESH_SCHEMA = freshSchemaScript();

/** Whether this actor's file has no schema at all (a person never seen). */
export function isEmptyFile(sql: SqlStorage): boolean {
  return (
    sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").toArray().length ===
    0
  );
}
