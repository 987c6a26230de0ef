/**
 * Where the client's address comes from. On Cloudflare it is
 * `CF-Connecting-IP`, which the edge sets and a client cannot. A self-hosted
 * box (`npm start`) behind a reverse proxy names the header that proxy sets
 * in `CLIENT_ADDRESS_HEADER`; then `CF-Connecting-IP` is ignored, since there
 * a client could send its own. With a list-valued header such as
 * `X-Forwarded-For`, the last entry is the one the trusted proxy appended.
 */
import type { Env } from "../env";

interface HeaderSource {
  header(name: string): string | undefined;
}

export function clientAddressOf(req: HeaderSource, env: Pick<Env, "CLIENT_ADDRESS_HEADER">): string | null {
  const trusted = env.CLIENT_ADDRESS_HEADER?.trim();
  if (!trusted) return req.header("cf-connecting-ip") ?? null;
  const value = req.header(trusted);
  if (!value) return null;
  return value.split(",").at(-1)?.trim() || null;
}
