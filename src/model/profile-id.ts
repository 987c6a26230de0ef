/**
 * Profile ids in Segment Profile API style (`<id_type>:<value>`):
 * `user_id:42`, `anonymous_id:abc`, `email:jane@example.com`,
 * `email_sha256:<hex>` (the SHA-256 of the trimmed, lower-cased address, so an
 * ESP can look a person up without putting the address in a URL that ends up
 * in logs); a bare id is a user id.
 */

export type ProfileRef =
  | { kind: "user"; value: string }
  | { kind: "anonymous"; value: string }
  | { kind: "email"; value: string }
  /** `value` is 64 lower-case hex digits. */
  | { kind: "email_hash"; value: string };

export type ParsedProfileId = { ok: true; ref: ProfileRef } | { ok: false; reason: string };

const PREFIXES: Record<string, ProfileRef["kind"]> = {
  user_id: "user",
  anonymous_id: "anonymous",
  email: "email",
  email_sha256: "email_hash",
};

export function parseProfileId(input: string): ParsedProfileId {
  const raw = input.trim();
  const colon = raw.indexOf(":");
  const prefix = colon > 0 ? raw.slice(0, colon) : "";
  const kind = Object.hasOwn(PREFIXES, prefix) ? PREFIXES[prefix] : undefined;
  const value = (kind ? raw.slice(colon + 1) : raw).trim();
  if (!value)
    return { ok: false, reason: "profile id is empty; use user_id:<id>, anonymous_id:<id> or a bare user id" };
  if (value.length > 256) return { ok: false, reason: "profile id is longer than 256 characters" };
  if (kind === "email_hash") {
    const hex = value.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      return {
        ok: false,
        reason:
          "email_sha256 needs the 64 hex digits of the SHA-256 of the trimmed, lower-cased address (e.g. `printf %s jane@example.com | sha256sum`)",
      };
    }
    return { ok: true, ref: { kind, value: hex } };
  }
  return { ok: true, ref: { kind: kind ?? "user", value } };
}

/** The Durable Object name holding this person (DESIGN §3); an e-mail address is looked up in the directory. */
export function actorNameOf(ref: ProfileRef): string | null {
  if (ref.kind === "user") return `user:${ref.value}`;
  if (ref.kind === "anonymous") return `anon:${ref.value}`;
  return null;
}

/** The directory entry an e-mail reference names (`email:<sha256 hex>`), or null for a user or visitor id. */
export async function directoryNameOf(ref: ProfileRef): Promise<string | null> {
  if (ref.kind === "email") return emailDirectoryName(ref.value);
  if (ref.kind === "email_hash") return `email:${ref.value}`;
  return null;
}

const encoder = new TextEncoder();

/** SHA-256 (hex) of the trimmed, lower-cased address: what `email_sha256:` ids and the directory carry. */
export async function emailSha256(email: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(email.trim().toLowerCase()));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The identifier-directory entry for an e-mail address: `email:` and the
 * SHA-256 (hex) of the trimmed, lower-cased address, so the directory's names
 * hold no address in the clear.
 */
export async function emailDirectoryName(email: string): Promise<string> {
  return `email:${await emailSha256(email)}`;
}

/** `user:42` → `user_id:42`, `anon:abc` → `anonymous_id:abc`: an actor's public profile id. */
export function publicProfileId(actorKey: string): string {
  return actorKey.startsWith("user:") ? `user_id:${actorKey.slice(5)}` : `anonymous_id:${actorKey.slice(5)}`;
}
