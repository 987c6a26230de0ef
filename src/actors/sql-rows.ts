/**
 * Fixed-shape SQL for an actor's hot paths (ingest, flush, confirmation).
 *
 * Profiling `npm start` showed drizzle's statement building (`is`, `toQuery`,
 * `_prepare`) at about a quarter of a warm ingest's CPU. These paths write a
 * few known shapes over and over, so they go straight to `ctx.storage.sql`:
 * each statement's text is built once per shape and row count and reused
 * (workerd keeps prepared statements by their text), and values are bound,
 * never spliced. Cold paths (wake, export, merge reads) keep drizzle.
 */

/** Bound parameters per statement in Durable Object SQLite. */
export const MAX_PARAMS = 100;

const texts = new Map<string, string>();

function insertText(head: string, perRow: number, rows: number, tail: string): string {
  const key = `${rows}\u0000${head}\u0000${tail}`;
  let text = texts.get(key);
  if (text === undefined) {
    const row = `(${Array.from({ length: perRow }, () => "?").join(", ")})`;
    text = `${head} VALUES ${Array.from({ length: rows }, () => row).join(", ")}${tail}`;
    texts.set(key, text);
  }
  return text;
}

/**
 * Inserts rows given as one flat list of `perRow` values each, as few
 * statements as the parameter bound allows: `head` is `INSERT INTO t (a, b)`,
 * `tail` an optional `ON CONFLICT …` clause.
 */
export function insertRows(
  sql: SqlStorage,
  head: string,
  perRow: number,
  values: readonly SqlStorageValue[],
  tail = "",
) {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / perRow)) * perRow;
  for (let i = 0; i < values.length; i += perStatement) {
    const part = values.slice(i, i + perStatement);
    sql.exec(insertText(head, perRow, part.length / perRow, tail), ...part);
  }
}

/** `?, ?, …` for `n` parameters, built once per count. */
const lists: string[] = [];
export function placeholders(n: number): string {
  let list = lists[n];
  if (list === undefined) {
    list = Array.from({ length: n }, () => "?").join(", ");
    lists[n] = list;
  }
  return list;
}
