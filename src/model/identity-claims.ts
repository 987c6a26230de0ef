/**
 * Whom an identity claim can be believed from. A server write key is
 * trusted; a browser write key is public (it sits in every web page), so a
 * browser call acts as a known user only when it carries that user's
 * identity-verification hash — HMAC-SHA256 of the user id under a secret
 * only the shop's server holds, computed there and printed into the page
 * of the signed-in user, as Intercom's identity verification does. Without
 * it, a browser call cannot change an existing user's traits, nor move an
 * e-mail lookup that already names someone else; what it tried is recorded
 * as a conflict for an operator instead.
 */

import type { ProfileEvent } from "./messages";
import { publicProfileId } from "./profile-id";

/** Where the hash travels: `context.userHash` (analytics.js puts unknown `options` keys into `context`). */
export const USER_HASH_FIELD = "userHash";

/** A claim a browser source made and the actor did not apply. */
export interface IdentityConflict {
  messageId: string;
  /**
   * `unverified_traits`: traits for an existing user from a browser call
   * without identity verification; `email_claimed`: an address whose lookup
   * names another known person.
   */
  kind: "unverified_traits" | "email_claimed";
  /** The profile the message was sent as (`user_id:42`). */
  profileId: string;
  /** For `email_claimed`: the profile the address stays with, and the address's SHA-256. */
  holderProfileId?: string;
  emailSha256?: string;
  /** What was claimed (the traits for `unverified_traits`), kept for the operator's review. */
  claimed?: Record<string, unknown>;
}

/** The warning every unverified browser identify gets, whether or not the user exists: it reveals nobody. */
export const UNVERIFIED_IDENTIFY_WARNING =
  "browser identify without identity verification: the traits of an existing user are not changed from a browser key — send context.userHash (HMAC-SHA256 of the user id with IDENTITY_VERIFICATION_SECRET), or send identify from your server with a server write key";

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

function hexBytes(hex: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The hash the shop's server puts into the page of user `userId` (lower-case hex). */
export async function userHashOf(secret: string, userId: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(userId));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `hash` is `userId`'s verification hash under any of the secrets (rotation); compared in constant time. */
export async function verifyUserHash(secrets: readonly string[], userId: string, hash: unknown): Promise<boolean> {
  if (typeof hash !== "string") return false;
  const mac = hexBytes(hash);
  if (!mac) return false;
  let valid = false;
  for (const secret of secrets) {
    if (await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, encoder.encode(userId))) valid = true;
  }
  return valid;
}

/** The comma-separated `IDENTITY_VERIFICATION_SECRET` list. */
export function verificationSecrets(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The batch with the traits of untrusted identify calls taken out (the
 * events themselves still count), each recorded in `conflicts` with what it
 * claimed. For an existing user's actor only.
 */
export function withoutUnverifiedTraits(
  events: readonly ProfileEvent[],
  untrusted: ReadonlySet<string>,
  actorKey: string,
  conflicts: IdentityConflict[],
): ProfileEvent[] {
  return events.map((e) => {
    if (e.type !== "identify" || !untrusted.has(e.messageId) || Object.keys(e.traits).length === 0) return e;
    conflicts.push({
      messageId: e.messageId,
      kind: "unverified_traits",
      profileId: publicProfileId(actorKey),
      claimed: e.traits,
    });
    return { ...e, traits: {} };
  });
}
