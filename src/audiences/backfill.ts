/**
 * Audience backfills: when an audience is created or its rule changes, every
 * profile the warehouse lists is evaluated in its own actor, so people who
 * send nothing new still enter (or leave) it. The work goes through the
 * audience Queue a page at a time: each page message evaluates its profiles
 * a few actors at once, adds them to the progress shown on
 * `GET /v1/audiences/:key`, then sends the next page (a chain, so the Queue
 * holds one page at a time however many people there are); the last, short
 * page marks it done. A page that fails is retried whole (evaluation is
 * idempotent); a page delivered again after it succeeded counts twice in
 * the progress, which never passes the total.
 */
import { asc, count, gt } from "drizzle-orm";
import { z } from "zod";
import { doneWith, profileActor } from "../actors/client";
import { type WarehouseDb, warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import { settleEach } from "../model/fan-out";
import { actorNameOf, parseProfileId } from "../model/profile-id";
import { settingsOf } from "../model/settings";
import { profiles } from "../sink/warehouse-schema";
import { advanceBackfill, startBackfill } from "./store";

export const AUDIENCE_QUEUE = "edge-profiles-audiences";

/** Profiles per page message. */
export const PAGE = 100;
/** Actors evaluated at once per page. */
const IN_FLIGHT = 8;

const pageMessage = z.object({
  v: z.literal(1),
  audience: z.string().min(1),
  backfill: z.string().min(1),
  /** Definitions loaded at or after this time include the audience's new rule. */
  since: z.number(),
  /** The last profile id of the page before (null: the first page). */
  after: z.string().nullable(),
});
type PageMessage = z.infer<typeof pageMessage>;

/** Starts a backfill of `audience` over every profile the warehouse lists; answers its id. */
export async function startAudienceBackfill(env: Env, audience: string, now: number): Promise<string> {
  const db = warehouseDb(env.WAREHOUSE);
  const id = crypto.randomUUID();
  const total = (await db.select({ n: count() }).from(profiles).get())?.n ?? 0;
  await startBackfill(db, audience, id, total, now);
  if (total > 0) await sendPage(env, { v: 1, audience, backfill: id, since: now, after: null });
  return id;
}

async function sendPage(env: Env, page: PageMessage) {
  await env.AUDIENCE_QUEUE.send(JSON.stringify(page), { contentType: "text" });
}

async function pageOf(db: WarehouseDb, after: string | null): Promise<string[]> {
  const rows = await db
    .select({ id: profiles.profileId })
    .from(profiles)
    .where(after === null ? undefined : gt(profiles.profileId, after))
    .orderBy(asc(profiles.profileId))
    .limit(PAGE)
    .all();
  return rows.map((r) => r.id);
}

async function evaluate(env: Env, profileId: string, since: number, selfHosted: boolean) {
  const parsed = parseProfileId(profileId);
  const name = parsed.ok ? actorNameOf(parsed.ref) : null;
  // A warehouse row names a person by user or anonymous id; anything else has no actor to ask.
  if (!name) return;
  const actor = profileActor(env, name);
  await actor.evaluateAudiences(since);
  if (selfHosted) await doneWith(actor);
}

export async function consumeAudienceBackfills(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = warehouseDb(env.WAREHOUSE);
  const selfHosted = settingsOf(env).actorRelease.idleMs !== null;
  for (const msg of batch.messages) {
    const parsed = pageMessage.safeParse(typeof msg.body === "string" ? safeJson(msg.body) : msg.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ msg: "audience backfill message dropped: not a page", id: msg.id }));
      msg.ack();
      continue;
    }
    const page = parsed.data;
    try {
      const ids = await pageOf(db, page.after);
      const results = await settleEach(ids, IN_FLIGHT, (id) => evaluate(env, id, page.since, selfHosted));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      const last = ids.at(-1);
      // The next page goes once this one is done, so a page retried after a failure still sends it.
      if (ids.length === PAGE && last) await sendPage(env, { ...page, after: last });
      // A short page is the last: the backfill is done, also when people were erased since it began.
      await advanceBackfill(db, page.audience, page.backfill, ids.length, Date.now(), ids.length < PAGE);
      msg.ack();
    } catch (err) {
      console.error(
        JSON.stringify({
          msg: "audience backfill page failed",
          audience: page.audience,
          attempts: msg.attempts,
          error: String(err),
        }),
      );
      msg.retry({ delaySeconds: Math.min(60, 2 ** msg.attempts) });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
