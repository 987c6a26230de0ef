/**
 * Sealed email links (`/o/:token`, `/c/:token`). A token carries its claims
 * encrypted with AES-256-GCM (WebCrypto) under a key derived by HKDF from the
 * link secret, so it is authenticated and opaque: nothing in it — decoded any
 * way — reveals who it was sent to. It is canonical base64url (no padding,
 * only `A–Z a–z 0–9 - _`): one set of claims has one spelling, so a token is
 * also a stable identity for deduplication. The first byte is the format
 * version, so the format can evolve.
 *
 * A token that fails verification never redirects, so the click endpoint is
 * not an open redirect. Several secrets may verify (rotation); the first
 * seals. Links issued before sealing (`body.mac`: base64url JSON and an
 * HMAC-SHA256) still verify while they live, but are never issued again.
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
  /** The e-mail (one merge call) the link belongs to: a random id, naming no one. */
  emailId?: string;
  /** The experiment the e-mail was rendered in (its variant is `variant`). */
  experiment?: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

export type Verified = { ok: true; claims: LinkClaims } | { ok: false; reason: string };

/** The current format: version byte, 12-byte IV, then ciphertext and the 16-byte GCM tag. */
export const TOKEN_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Far above any real link (a long product URL), far below what a URL may carry. */
export const MAX_TOKEN_CHARS = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sealingKeys = new Map<string, Promise<CryptoKey>>();
const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** The AES-GCM key for a secret, derived with a label of its own so the secret's other uses never share a key. */
function sealingKey(secret: string): Promise<CryptoKey> {
  let key = sealingKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]).then((material) =>
      crypto.subtle.deriveKey(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: encoder.encode("edge-profiles email link"),
          info: encoder.encode(`token v${TOKEN_VERSION} aes-256-gcm`),
        },
        material,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      ),
    );
    sealingKeys.set(secret, key);
  }
  return key;
}

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    hmacKeys.set(secret, key);
  }
  return key;
}

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64 or base64url (padding optional), for pixels whose senders use either; null when it is neither. */
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

/**
 * Decodes canonical base64url only: no padding, no `+` `/`, no whitespace, and
 * unused trailing bits zero (checked by encoding the bytes again), so each
 * byte string has exactly one accepted spelling.
 */
export function canonicalBase64UrlDecode(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text) || text.length % 4 === 1) return null;
  const bytes = base64Decode(text);
  return bytes && base64UrlEncode(bytes) === text ? bytes : null;
}

/** The claims as sealed: one-letter keys, empty fields left out, to keep links short. */
function compactClaims(c: LinkClaims): Record<string, string | number> {
  const out: Record<string, string | number> = { k: c.kind, p: c.profile, e: c.exp };
  if (c.campaign !== null) out.c = c.campaign;
  if (c.variant !== null) out.v = c.variant;
  if (c.url !== undefined) out.u = c.url;
  if (c.productId !== undefined) out.i = c.productId;
  if (c.emailId !== undefined) out.m = c.emailId;
  if (c.experiment !== undefined) out.x = c.experiment;
  return out;
}

function expandClaims(v: unknown): LinkClaims | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const c = v as Record<string, unknown>;
  const optional = (x: unknown) => (typeof x === "string" ? x : undefined);
  if ((c.k !== "o" && c.k !== "c") || typeof c.p !== "string" || typeof c.e !== "number") return null;
  const claims: LinkClaims = {
    kind: c.k,
    profile: c.p,
    campaign: optional(c.c) ?? null,
    variant: optional(c.v) ?? null,
    exp: c.e,
  };
  if (optional(c.u) !== undefined) claims.url = optional(c.u);
  if (optional(c.i) !== undefined) claims.productId = optional(c.i);
  if (optional(c.m) !== undefined) claims.emailId = optional(c.m);
  if (optional(c.x) !== undefined) claims.experiment = optional(c.x);
  return claims;
}

/** Seals claims into a new token with the given secret (the first of `LINK_SIGNING_SECRET`). */
export async function sealToken(claims: LinkClaims, secret: string): Promise<string> {
  const header = Uint8Array.of(TOKEN_VERSION);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    // The version byte is authenticated too, so it cannot be swapped to reinterpret the rest.
    { name: "AES-GCM", iv, additionalData: header },
    await sealingKey(secret),
    encoder.encode(JSON.stringify(compactClaims(claims))),
  );
  const bytes = new Uint8Array(1 + IV_BYTES + sealed.byteLength);
  bytes.set(header, 0);
  bytes.set(iv, 1);
  bytes.set(new Uint8Array(sealed), 1 + IV_BYTES);
  return base64UrlEncode(bytes);
}

async function openSealed(bytes: Uint8Array, secrets: readonly string[]): Promise<unknown> {
  const header = bytes.subarray(0, 1);
  const iv = bytes.subarray(1, 1 + IV_BYTES);
  const sealed = bytes.subarray(1 + IV_BYTES);
  for (const secret of secrets) {
    try {
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: header },
        await sealingKey(secret),
        sealed,
      );
      return JSON.parse(decoder.decode(plain));
    } catch {
      // Sealed with another secret (or tampered with): try the next one.
    }
  }
  return undefined;
}

function isLegacyClaims(v: unknown): v is LinkClaims {
  if (!v || typeof v !== "object") return false;
  const c = v as Record<string, unknown>;
  return (c.kind === "o" || c.kind === "c") && typeof c.profile === "string" && typeof c.exp === "number";
}

/** A link issued before sealing: `base64url(JSON claims).base64url(HMAC-SHA256 of the first part)`. */
async function verifyLegacy(token: string, secrets: readonly string[]): Promise<Verified> {
  const [body = "", mac = "", ...rest] = token.split(".");
  const macBytes = canonicalBase64UrlDecode(mac);
  const bodyBytes = canonicalBase64UrlDecode(body);
  if (rest.length > 0 || !macBytes || !bodyBytes) return { ok: false, reason: "link token is malformed" };
  let valid = false;
  for (const secret of secrets) {
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", await hmacKey(secret), macBytes, encoder.encode(body))) valid = true;
  }
  if (!valid) return { ok: false, reason: "link token signature does not match" };
  let claims: unknown = null;
  try {
    claims = JSON.parse(decoder.decode(bodyBytes));
  } catch {
    claims = null;
  }
  return isLegacyClaims(claims) ? { ok: true, claims } : { ok: false, reason: "link token is malformed" };
}

export async function verifyToken(token: string, secrets: readonly string[], nowMs = Date.now()): Promise<Verified> {
  if (secrets.length === 0)
    return { ok: false, reason: "link token cannot be verified (no link secret is configured)" };
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return { ok: false, reason: "link token is malformed" };
  let verified: Verified;
  if (token.includes(".")) {
    verified = await verifyLegacy(token, secrets);
  } else {
    const bytes = canonicalBase64UrlDecode(token);
    if (!bytes || bytes.length < 1 + IV_BYTES + TAG_BYTES) return { ok: false, reason: "link token is malformed" };
    if (bytes[0] !== TOKEN_VERSION) return { ok: false, reason: "link token version is not supported" };
    const claims = expandClaims(await openSealed(bytes, secrets));
    verified = claims ? { ok: true, claims } : { ok: false, reason: "link token does not match any link secret" };
  }
  if (verified.ok && verified.claims.exp * 1000 < nowMs) return { ok: false, reason: "link has expired" };
  return verified;
}

/** The comma-separated `LINK_SIGNING_SECRET` list; the first entry seals. */
export function signingSecrets(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
