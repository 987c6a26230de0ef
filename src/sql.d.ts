// drizzle durable-sqlite migrations import their SQL as text (wrangler [[rules]] type = "Text").
declare module "*.sql" {
  const sql: string;
  export default sql;
}
