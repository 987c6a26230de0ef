/**
 * A new actor's schema, made in one script (src/actors/fresh-schema.ts),
 * is exactly what drizzle's migrator makes on an empty file: the same tables
 * and indexes with the same SQL, and the same migration bookkeeping, so the
 * migrator treats it as its own and applies later migrations to it.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import { expect, it } from "vitest";
import migrations from "../../src/actors/migrations/migrations.js";
import { sendBatch, uid } from "./helpers";

function schemaOf(sql: SqlStorage) {
  return (
    sql
      .exec<{ type: string; name: string; sql: string | null }>(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name",
      )
      .toArray()
      // Whitespace inside a statement's text means nothing to SQLite.
      .map((r) => ({ ...r, sql: r.sql?.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")") ?? null }))
  );
}

function bookkeepingOf(sql: SqlStorage) {
  return sql
    .exec<{ hash: string; created_at: number }>("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at")
    .toArray()
    .map((r) => [r.hash, Number(r.created_at)]);
}

it("makes a new person's file exactly as drizzle's migrator would", async () => {
  const user = uid("fresh");
  await sendBatch([{ type: "track", userId: user, event: "Product Viewed" }]);
  const fresh = env.PROFILES.get(env.PROFILES.idFromName(`user:${user}`));
  const made = await runInDurableObject(fresh, (_, state) => ({
    schema: schemaOf(state.storage.sql),
    bookkeeping: bookkeepingOf(state.storage.sql),
  }));

  // Another, empty file, migrated by drizzle.
  const other = env.PROFILES.get(env.PROFILES.idFromName(`user:${uid("migrated")}`));
  const migrated = await runInDurableObject(other, async (_, state) => {
    await migrate(drizzle(state.storage), migrations);
    return { schema: schemaOf(state.storage.sql), bookkeeping: bookkeepingOf(state.storage.sql) };
  });

  expect(made.schema.map((s) => s.name)).toContain("segment_state");
  expect(made.schema).toEqual(migrated.schema);
  expect(made.bookkeeping).toEqual(migrated.bookkeeping);
  expect(made.bookkeeping).toHaveLength(migrations.journal.entries.length);

  // The migrator, run again on the fresh file, finds nothing to do.
  const again = await runInDurableObject(fresh, async (_, state) => {
    await migrate(drizzle(state.storage), migrations);
    return bookkeepingOf(state.storage.sql);
  });
  expect(again).toEqual(made.bookkeeping);
});
