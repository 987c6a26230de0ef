/**
 * The email loop (DESIGN §2.3): `GET /o/:token` (open pixel) and
 * `GET /c/:token` (click redirect). Tokens are sealed by the merge call; a
 * tampered, non-canonical, expired or foreign token is answered 400 and never
 * redirects. Opens and clicks become events on the recipient's profile, so a
 * click raises that product's affinity like any other interaction — once per
 * person per link within `LINK_DEDUP_HOURS`, and never for a crawler.
 */

import type { Context } from "hono";
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import { summarizeUserAgent } from "../model/enrich";
import { EMAIL_LINK_CLICKED, EMAIL_OPENED, linkEventId } from "../model/link-activity";
import { GIF_HEADERS, TRANSPARENT_GIF } from "../model/pixel";
import { parseProfileId } from "../model/profile-id";
import { settingsOf } from "../model/settings";
import { type LinkClaims, signingSecrets, verifyToken } from "../model/signing";
import { countUnauthenticated } from "../sink/quarantine";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { clientOf, EMAIL_LINK_SOURCE, ingestMessages } from "./ingest-pipeline";
import { clientAddress, overLimit } from "./limits";

export const emailRoutes = new Hono<AppEnv>();

/** Records an open or click as a track event; unresolvable recipients are skipped, not errors. */
async function record(c: Context<AppEnv>, token: string, claims: LinkClaims, event: string) {
  const parsed = parseProfileId(claims.profile);
  if (!parsed.ok || parsed.ref.kind === "email" || parsed.ref.kind === "email_hash") return;
  // A flood from one address (a link scanner looping) still gets its image or redirect, unrecorded.
  if (await overLimit(c.env.INGEST_LIMITER, `email:${clientAddress(c)}`)) return;
  const identity = parsed.ref.kind === "user" ? { userId: parsed.ref.value } : { anonymousId: parsed.ref.value };
  const properties: Record<string, unknown> = { campaign: claims.campaign, variant: claims.variant };
  if (claims.experiment) properties.experiment = claims.experiment;
  if (claims.productId) properties.product_id = claims.productId;
  if (claims.url) properties.url = claims.url;
  if (claims.emailId) properties.email_id = claims.emailId;
  // The request is the reader's own (their mail client or browser), whatever its user agent says,
  // so the user agent speaks for the person here: a crawler's visit is recorded as a bot's.
  const client = clientOf(c.req, c.env);
  const bot = client.userAgent ? summarizeUserAgent(client.userAgent).bot : false;
  const receivedAt = Date.now();
  const messageId = await linkEventId(
    { token, profile: claims.profile },
    receivedAt,
    settingsOf(c.env).linkDedupMs,
    bot,
  );
  const context: Record<string, string> = {};
  if (client.ip) context.ip = client.ip;
  if (client.userAgent) context.userAgent = client.userAgent;
  try {
    await ingestMessages(
      c.env,
      (p) => c.executionCtx.waitUntil(p),
      [{ type: "track", event, messageId, ...identity, properties, context }],
      {
        source: EMAIL_LINK_SOURCE,
        receivedAt,
        // The link was sealed by the merge call for this person: nothing else names them.
        trust: "server",
      },
    );
  } catch (err) {
    // The reader still gets the image or the page; the failure is logged.
    console.error(JSON.stringify({ msg: "email event not recorded", event, error: String(err) }));
  }
}

/**
 * A link whose token does not verify was not made here (or was tampered
 * with): it is counted for operators (`unauthenticated:invalid_link_token` in
 * the quarantine counts), after the per-address limit so a flood of forged
 * links costs nothing, and never stored.
 */
async function countForgedLink(c: Context<AppEnv>) {
  if (await overLimit(c.env.INGEST_LIMITER, `email:${clientAddress(c)}`)) return;
  c.executionCtx.waitUntil(
    countUnauthenticated(warehouseDb(c.env.WAREHOUSE), "invalid_link_token").catch((err) =>
      console.error(JSON.stringify({ msg: "forged link not counted", error: String(err) })),
    ),
  );
}

emailRoutes.get("/o/:token", async (c) => {
  const token = c.req.param("token");
  const verified = await verifyToken(token, signingSecrets(c.env.LINK_SIGNING_SECRET));
  if (!verified.ok || verified.claims.kind !== "o") {
    await countForgedLink(c);
    // Still an image, so a broken link shows nothing rather than a broken-image icon.
    return c.body(TRANSPARENT_GIF, 400, GIF_HEADERS);
  }
  await record(c, token, verified.claims, EMAIL_OPENED);
  return c.body(TRANSPARENT_GIF, 200, GIF_HEADERS);
});

emailRoutes.get("/c/:token", async (c) => {
  const token = c.req.param("token");
  const verified = await verifyToken(token, signingSecrets(c.env.LINK_SIGNING_SECRET));
  if (!verified.ok) {
    await countForgedLink(c);
    throw new ApiError(400, "invalid_link", `${verified.reason}; this link cannot be followed`);
  }
  const { claims } = verified;
  if (claims.kind !== "c" || !claims.url) {
    await countForgedLink(c);
    throw new ApiError(400, "invalid_link", "this token is not a click link");
  }
  await record(c, token, claims, EMAIL_LINK_CLICKED);
  c.header("cache-control", "no-store");
  return c.redirect(claims.url, 302);
});
