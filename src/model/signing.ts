/**
 * Signed email links (`/o/:token`, `/c/:token`): the claims travel in the
 * token as base64url JSON followed by an HMAC-SHA256 over it (WebCrypto).
 * A token that fails verification never redirects, so the click endpoint is
 * not an open redirect. Several secrets may verify (rotation); the first signs.
 */

export interface LinkClaims {
  /** `o` = open pixel, `c` = click. */
  kind: "o" | "c";
  /** Public profile id (`user_id:42`, `anonymous_id:abc`). */
  profile: string;
  campaign: string | null;
  variant: string | null;
  /** Click target and the product it shows (clicks only). */
  url?: string;
  productId?: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

export type Verified = { ok: true; claims: LinkClaims } | { ok: false; reason: string };

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64 or base64url (padding optional); null when it is neither. */
export function base64Decode(text: string): Uint8Array | null {
  const normalized = text.trim().replace(/-/g, "+").replace(/_/g, "/").replace(/\s/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(normalized)) return null;
  try {
    const binary = atob(normalized.padEnd(normalized.length + ((4 - (normalized.length % 4)) % 4), "="));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

export async function signToken(claims: LinkClaims, secret: string): Promise<string> {
  const body = base64UrlEncode(encoder.encode(JSON.stringify(claims)));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(body));
  return `${body}.${base64UrlEncode(new Uint8Array(mac))}`;
}

function isClaims(v: unknown): v is LinkClaims {
  if (!v || typeof v !== "object") return false;
  const c = v as Record<string, unknown>;
  return (c.kind === "o" || c.kind === "c") && typeof c.profile === "string" && typeof c.exp === "number";
}

export async function verifyToken(token: string, secrets: readonly string[], nowMs = Date.now()): Promise<Verified> {
  const dot = token.indexOf(".");
  if (dot <= 0 || token.length > 4096) return { ok: false, reason: "link token is malformed" };
  const body = token.slice(0, dot);
  const mac = base64Decode(token.slice(dot + 1));
  if (!mac || secrets.length === 0) return { ok: false, reason: "link token is not signed" };
  let valid = false;
  for (const secret of secrets) {
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, encoder.encode(body))) valid = true;
  }
  if (!valid) return { ok: false, reason: "link token signature does not match" };
  const bytes = base64Decode(body);
  let claims: unknown = null;
  try {
    claims = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
  } catch {
    claims = null;
  }
  if (!isClaims(claims)) return { ok: false, reason: "link token is malformed" };
  if (claims.exp * 1000 < nowMs) return { ok: false, reason: "link has expired" };
  return { ok: true, claims };
}

/** The comma-separated `LINK_SIGNING_SECRET` list; the first entry signs. */
export function signingSecrets(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
