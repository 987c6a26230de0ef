/**
 * Fixed-shape SQL for an actor's hot paths (ingest, flush, confirmation).
 *
 * Profiling `npm start` showed drizzle's statement building (`is`, `toQuery`,
 * `_prepare`) at about a quarter of a warm ingest's CPU. These paths write a
 * few known shapes over and over, so they go straight to `ctx.storage.sql`
 * with one statement text per table, whatever the number of rows: the rows
 * travel as one JSON array bound to a single parameter, and SQLite's
 * `json_each` spreads them into columns. One text per shape also keeps each
 * live actor's cache of prepared statements small (workerd keeps every
 * distinct statement an actor ran, and all actors' SQLite memory shares one
 * cap). Values are bound, never spliced. Cold paths keep drizzle.
 */

const texts = new Map<string, string>();

function insertText(table: string, columns: readonly string[], conflict: string): string {
  const key = `${table}\u0000${columns.join(",")}\u0000${conflict}`;
  let text = texts.get(key);
  if (text === undefined) {
    const values = columns.map((_, i) => `value ->> ${i}`).join(", ");
    // `WHERE true` lets an upsert clause follow a SELECT (SQLite's parsing rule for INSERT … SELECT … ON CONFLICT).
    text = `INSERT INTO ${table} (${columns.join(", ")}) SELECT ${values} FROM json_each(?) WHERE true${conflict}`;
    texts.set(key, text);
  }
  return text;
}

/**
 * Inserts `rows` (each the values of `columns`, in order) into `table`, in
 * statements of at most `rowsPerStatement` rows: enough that a statement's
 * JSON stays within the 2 MB a Durable Object SQLite value may hold.
 * `conflict` is an optional ` ON CONFLICT …` clause.
 */
export function insertRows(
  sql: SqlStorage,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly SqlStorageValue[])[],
  options: { conflict?: string; rowsPerStatement?: number } = {},
) {
  const per = options.rowsPerStatement ?? 500;
  const text = insertText(table, columns, options.conflict ?? "");
  for (let i = 0; i < rows.length; i += per) {
    sql.exec(text, JSON.stringify(i === 0 && rows.length <= per ? rows : rows.slice(i, i + per)));
  }
}

/** `WHERE <column> IN` this, bound to a JSON array of the values: one statement text for any count. */
export const IN_JSON = "(SELECT value FROM json_each(?))";
