/**
 * Forgetting a person everywhere (GDPR/CCPA erasure), and gathering
 * everything held about them (access). A subject — a user id, an anonymous
 * id or an e-mail address — leads to the person's actor in at most one hop;
 * the actor names every identifier the person has had here (user id,
 * anonymous ids seen and merged, e-mail), and each store is cleaned of all of
 * them: the raw lake's NDJSON objects are rewritten without their lines, the
 * D1 rows go, Kafka gets a tombstone per profile, and last the actors are
 * wiped — the person's, each merged visitor's and the e-mail directory
 * entries — keeping only a suppression marker where one was asked for.
 *
 * Every store is searched by the owners its rows record in their own fields
 * (`src/model/owners.ts`), never by text: another person's order id, coupon
 * or trait can hold the very same string, and must stay.
 *
 * Every step can run again: a retried subject finds what is left and
 * removes it.
 */
import { type SQL, sql } from "drizzle-orm";
import type { PersonIdentity } from "../actors/client";
import { actorIdOf, emailDirectory, profileActor, profileActorById } from "../actors/client";
import type { ActorExport } from "../actors/profile-views";
import type { Env } from "../env";
import { lakeLineBelongsTo } from "../model/owners";
import { emailDirectoryName } from "../model/profile-id";
import { privacyHash, type SubjectType } from "../model/regulations";
import { kafkaConfig, produceTombstones } from "../sink/kafka";
import { prepare } from "../sink/warehouse-writer";

export interface Subject {
  type: SubjectType;
  /** Normalized (`normalizeSubject`). */
  id: string;
}

/** Change records stamped up to this long after an erasure began are dropped too: what an actor records before it is wiped. */
const ERASURE_GRACE_MS = 60_000;

/** The actor a user id or anonymous id names: the person's, or a visitor's forward pointer to them. */
function namedActor(subject: Subject): string | null {
  if (subject.type === "USER_ID") return `user:${subject.id}`;
  if (subject.type === "ANONYMOUS_ID") return `anon:${subject.id}`;
  return null;
}

/**
 * The actors a subject's trail starts from. An id names its own actor. An
 * address names, for erasure and suppression, every person the e-mail
 * directory says ever claimed it — its holder and anyone refused or displaced
 * — so that forgetting an address reaches whoever used it; for an export,
 * only the person its lookups name, so that one person's access request
 * never returns another's data.
 */
async function startActorsOf(env: Env, subject: Subject, reach: Reach): Promise<string[]> {
  const named = namedActor(subject);
  if (named) return [named];
  const entry = await directoryEntryOf(subject);
  const directory = emailDirectory(env, entry);
  if (reach === "every claimant") return directory.allClaimants(entry);
  const holder = await directory.lookup(entry);
  return holder ? [holder] : [];
}

type Reach = "every claimant" | "holder";

/** The e-mail directory entry (`email:<hex>`) an address or address hash subject names. */
async function directoryEntryOf(subject: Subject): Promise<string> {
  return subject.type === "EMAIL_SHA256" ? `email:${subject.id}` : emailDirectoryName(subject.id);
}

/** Every identifier the people a subject leads to have had here, and every actor that holds any of it. */
export interface Footprint {
  people: PersonIdentity[];
  userIds: string[];
  anonymousIds: string[];
  emails: string[];
  /** SHA-256 hex of each address (the directory's hash, without its `email:` prefix). */
  emailHashes: string[];
  /** `user_id:42`, `anonymous_id:abc`: the ids the warehouse keys rows by. */
  profileIds: string[];
  /** The people's actors and merged visitors (they take a suppression marker), then directory entries. */
  personActors: string[];
  directoryActors: string[];
}

export async function footprintOf(env: Env, subject: Subject, reach: Reach = "every claimant"): Promise<Footprint> {
  const starts = await startActorsOf(env, subject, reach);
  const found = await Promise.all(starts.map((key) => profileActor(env, key).identity()));
  const people = found.filter((p): p is PersonIdentity => p !== null);
  const userIds = new Set<string>();
  const anonymousIds = new Set<string>();
  const emails = new Set<string>();
  if (subject.type === "USER_ID") userIds.add(subject.id);
  if (subject.type === "ANONYMOUS_ID") anonymousIds.add(subject.id);
  if (subject.type === "EMAIL") emails.add(subject.id);
  const personActors = new Set<string>();
  for (const person of people) {
    if (person.userId) userIds.add(person.userId);
    if (person.actorKey.startsWith("user:")) userIds.add(person.actorKey.slice(5));
    for (const id of [...person.anonymousIds, ...person.mergedIds]) anonymousIds.add(id);
    for (const e of person.emails) emails.add(e.trim().toLowerCase());
    personActors.add(person.actorKey);
    for (const id of person.mergedIds) personActors.add(`anon:${id}`);
    // A known user an operator merged in is this person too: their rows and their forwarding actor.
    for (const id of person.mergedUserIds ?? []) {
      userIds.add(id);
      personActors.add(`user:${id}`);
    }
  }
  // The actor the subject names is wiped too: a visitor's pointer, or a user id that holds only a marker.
  const named = namedActor(subject);
  if (named) personActors.add(named);
  const directory = new Set(await Promise.all([...emails].map((e) => emailDirectoryName(e))));
  if (subject.type === "EMAIL_SHA256") directory.add(await directoryEntryOf(subject));
  // Entries the actors claimed with an address they no longer hold (changed since, or a visitor's before its merge).
  const claimed = await Promise.all([...personActors].map((key) => profileActor(env, key).ownDirectoryClaims()));
  for (const name of claimed.flat()) directory.add(name);
  return {
    people,
    userIds: [...userIds],
    anonymousIds: [...anonymousIds],
    emails: [...emails],
    emailHashes: [...directory].map((name) => name.slice("email:".length)),
    profileIds: [...[...userIds].map((id) => `user_id:${id}`), ...[...anonymousIds].map((id) => `anonymous_id:${id}`)],
    personActors: [...personActors],
    directoryActors: [...directory],
  };
}

const json = (values: readonly string[]) => JSON.stringify(values);
const among = (values: readonly string[]) => sql`(SELECT value FROM json_each(${json(values)}))`;

/**
 * The people's event rows: by the profile, user or anonymous id each row
 * records. Never by the row's text: another person's order id, coupon or
 * trait may hold the same string.
 */
function eventsOf(f: Footprint): SQL {
  return sql`(profile_id IN ${among(f.profileIds)} OR user_id IN ${among(f.userIds)}
    OR anonymous_id IN ${among(f.anonymousIds)})`;
}

/**
 * The people's quarantined messages, by the owners each row records. Rows
 * quarantined before those columns had their ids backfilled from the
 * payload's fields but no e-mail hash (SQL has no SHA-256), so for them the
 * payload's `traits.email` field itself is read; a payload that was not a
 * JSON object names no one and stays.
 */
function quarantinedOf(f: Footprint): SQL {
  return sql`(user_id IN ${among(f.userIds)} OR anonymous_id IN ${among(f.anonymousIds)}
    OR email_hash IN ${among(f.emailHashes)}
    OR (email_hash IS NULL AND CASE WHEN json_valid(payload) AND json_type(payload) = 'object'
      THEN lower(trim(json_extract(payload, '$.traits.email'))) END IN ${among(f.emails)}))`;
}

export interface ErasureReport {
  profiles: number;
  warehouseRows: number;
  lakeObjectsRewritten: number;
  lakeLinesRemoved: number;
  kafkaTombstones: number;
  actorsWiped: number;
}

/** How often a lake object is read again when another erasure rewrote it between our read and our write. */
const LAKE_REWRITE_ATTEMPTS = 8;

/**
 * Removes the person's lines from every lake object that holds any. An
 * object holds many people's lines and erasures run side by side, so each
 * rewrite is conditional on the object being the one read (its ETag); when
 * another erasure got there first, the object is read again.
 */
async function eraseFromLake(env: Env, f: Footprint) {
  const { results } = await prepare(
    env.WAREHOUSE,
    sql`SELECT DISTINCT lake_key FROM events WHERE lake_key IS NOT NULL AND ${eventsOf(f)}`,
  ).all<{ lake_key: string }>();
  let rewritten = 0;
  let removed = 0;
  for (const { lake_key: key } of results) {
    const outcome = await eraseFromLakeObject(env, key, f);
    if (outcome > 0) {
      removed += outcome;
      rewritten += 1;
    }
  }
  return { rewritten, removed };
}

/** The number of the person's lines removed from one lake object. */
async function eraseFromLakeObject(env: Env, key: string, f: Footprint): Promise<number> {
  for (let attempt = 0; attempt < LAKE_REWRITE_ATTEMPTS; attempt++) {
    const object = await env.LAKE.get(key);
    if (!object) return 0;
    const lines = (await object.text()).split("\n").filter(Boolean);
    const kept = lines.filter((line) => !lakeLineBelongsTo(line, f));
    if (kept.length === lines.length) return 0;
    const body = kept.length === 0 ? "" : `${kept.join("\n")}\n`;
    const written = await env.LAKE.put(key, body, {
      onlyIf: { etagMatches: object.etag },
      httpMetadata: { contentType: "application/x-ndjson" },
      customMetadata: { lines: String(kept.length) },
    });
    if (written === null) continue;
    // Emptied: written (so a concurrent rewrite's condition fails) and then removed.
    if (kept.length === 0) await env.LAKE.delete(key);
    return lines.length - kept.length;
  }
  throw new Error(`lake object ${key} kept changing while being rewritten; the erasure is retried`);
}

/** Deletes the person's warehouse rows, and notes the erasure so records still in flight are dropped. */
async function eraseFromWarehouse(env: Env, f: Footprint, now: number) {
  const hashes = await Promise.all(f.profileIds.map((id) => privacyHash("erased-profile", id)));
  const erasedAt = now + ERASURE_GRACE_MS;
  const statements: SQL[] = [
    sql`INSERT INTO erased_profiles (profile_hash, erased_at) SELECT value, ${erasedAt} FROM json_each(${json(hashes)})
      WHERE true ON CONFLICT (profile_hash) DO UPDATE SET erased_at = excluded.erased_at`,
    sql`DELETE FROM events WHERE ${eventsOf(f)}`,
    sql`DELETE FROM profiles WHERE profile_id IN ${among(f.profileIds)}`,
    sql`DELETE FROM sessions WHERE profile_id IN (SELECT value FROM json_each(${json(f.profileIds)}))`,
    sql`DELETE FROM profile_affinities WHERE profile_id IN (SELECT value FROM json_each(${json(f.profileIds)}))`,
    // A merged visitor's row names the person it joined: theirs too.
    sql`DELETE FROM experiment_exposures WHERE profile_id IN ${among(f.profileIds)} OR merged_into IN ${among(f.profileIds)}`,
    sql`DELETE FROM audience_memberships WHERE profile_id IN ${among(f.profileIds)}`,
    sql`DELETE FROM audience_deliveries WHERE profile_id IN ${among(f.profileIds)}`,
    sql`DELETE FROM bad_events WHERE ${quarantinedOf(f)}`,
    sql`DELETE FROM tracking_plan_samples WHERE user_id IN ${among(f.userIds)} OR anonymous_id IN ${among(f.anonymousIds)}`,
    sql`DELETE FROM profile_merges WHERE from_profile IN ${among(f.profileIds)} OR into_profile IN ${among(f.profileIds)}`,
    // A refused claim names who sent it, whom it tried to displace and the address: each is a person's row.
    sql`DELETE FROM identity_conflicts WHERE profile_id IN ${among(f.profileIds)}
      OR holder_profile_id IN ${among(f.profileIds)} OR email_sha256 IN ${among(f.emailHashes)}`,
    // A dead letter whose body was not a JSON object records no owners (null) and stays.
    sql`DELETE FROM dead_letters WHERE EXISTS (SELECT 1 FROM json_each(dead_letters.profile_ids)
      WHERE value IN ${among(f.profileIds)})`,
  ];
  const results = await env.WAREHOUSE.batch(statements.map((s) => prepare(env.WAREHOUSE, s)));
  return results.slice(1).reduce((total, r) => total + (r.meta.changes ?? 0), 0);
}

/**
 * Erases the person a subject leads to. `suppress` leaves suppression
 * markers on their actors, so what they send from now on is dropped.
 */
export async function eraseSubject(
  env: Env,
  subject: Subject,
  options: { suppress: boolean },
  now = Date.now(),
): Promise<ErasureReport> {
  const f = await footprintOf(env, subject);
  const lake = await eraseFromLake(env, f);
  const warehouseRows = await eraseFromWarehouse(env, f, now);
  const kafka = kafkaConfig(env);
  const kafkaTombstones = kafka && f.profileIds.length > 0 ? await produceTombstones(kafka, f.profileIds) : 0;
  const linked = f.personActors.map((key) => actorIdOf(env, key));
  await Promise.all([
    ...f.personActors.map((key) => profileActor(env, key).wipe(options.suppress, linked)),
    // The person leaves each address's claimants; an entry from before the directory had its own class is wiped.
    ...f.directoryActors.flatMap((key) => [
      emailDirectory(env, key).release(key, f.personActors),
      profileActor(env, key).wipe(false),
    ]),
  ]);
  return {
    profiles: f.people.length,
    warehouseRows,
    lakeObjectsRewritten: lake.rewritten,
    lakeLinesRemoved: lake.removed,
    kafkaTombstones,
    actorsWiped: f.personActors.length + f.directoryActors.length,
  };
}

/**
 * Suppresses (or stops suppressing) the subject's person without erasing
 * anything: SUPPRESS_ONLY, UNSUPPRESS. Each marker records the actors
 * suppressed with it, so lifting one lifts them all, also after an erasure
 * has left nothing that names the person's other ids.
 */
export async function setSubjectSuppressed(env: Env, subject: Subject, on: boolean): Promise<{ actors: number }> {
  const f = await footprintOf(env, subject);
  const ids = f.personActors.map((key) => actorIdOf(env, key));
  const linked = await Promise.all(f.personActors.map((key) => profileActor(env, key).setSuppressed(on, ids)));
  const more = [...new Set(linked.flat())].filter((id) => !ids.includes(id));
  await Promise.all(more.map((id) => profileActorById(env, id).setSuppressed(false)));
  return { actors: ids.length + more.length };
}

/** The warehouse's rows about a person, for the export (events newest first, at most `eventLimit`). */
export interface WarehouseExport {
  profiles: unknown[];
  sessions: unknown[];
  affinities: unknown[];
  events: unknown[];
  eventsTotal: number;
  lakeObjects: string[];
  experiments: unknown[];
  audiences: unknown[];
  deliveries: unknown[];
  /** Their messages that broke the tracking plan, and the operator merges that name them. */
  trackingPlanSamples: unknown[];
  merges: unknown[];
}

export async function exportSubject(
  env: Env,
  subject: Subject,
  eventLimit = 10_000,
): Promise<{ footprint: Footprint; actor: ActorExport | null; warehouse: WarehouseExport }> {
  const f = await footprintOf(env, subject, "holder");
  // The actor the subject names, else the person an address leads to (one document per person asked about).
  const start = namedActor(subject) ?? f.people[0]?.actorKey;
  const actor = start ? await profileActor(env, start).exportData() : null;
  const ids = json(f.profileIds);
  const [profiles, sessions, affinities, events, total, lake, experiments, audiences, deliveries, samples, merges] =
    await env.WAREHOUSE.batch(
      [
        sql`SELECT * FROM profiles WHERE profile_id IN (SELECT value FROM json_each(${ids}))`,
        sql`SELECT * FROM sessions WHERE profile_id IN (SELECT value FROM json_each(${ids})) ORDER BY started_at`,
        sql`SELECT * FROM profile_affinities WHERE profile_id IN (SELECT value FROM json_each(${ids}))`,
        sql`SELECT * FROM events WHERE ${eventsOf(f)} ORDER BY timestamp DESC LIMIT ${eventLimit}`,
        sql`SELECT COUNT(*) AS n FROM events WHERE ${eventsOf(f)}`,
        sql`SELECT DISTINCT lake_key FROM events WHERE lake_key IS NOT NULL AND ${eventsOf(f)}`,
        sql`SELECT * FROM experiment_exposures WHERE profile_id IN (SELECT value FROM json_each(${ids}))`,
        sql`SELECT * FROM audience_memberships WHERE profile_id IN (SELECT value FROM json_each(${ids})) ORDER BY entered_at`,
        sql`SELECT * FROM audience_deliveries WHERE profile_id IN (SELECT value FROM json_each(${ids})) ORDER BY at`,
        sql`SELECT * FROM tracking_plan_samples WHERE user_id IN ${among(f.userIds)}
          OR anonymous_id IN ${among(f.anonymousIds)} ORDER BY id`,
        sql`SELECT * FROM profile_merges WHERE from_profile IN ${among(f.profileIds)}
          OR into_profile IN ${among(f.profileIds)} ORDER BY id`,
      ].map((s) => prepare(env.WAREHOUSE, s)),
    );
  return {
    footprint: f,
    actor,
    warehouse: {
      profiles: profiles?.results ?? [],
      sessions: sessions?.results ?? [],
      affinities: affinities?.results ?? [],
      events: events?.results ?? [],
      eventsTotal: Number((total?.results?.[0] as { n?: number } | undefined)?.n ?? 0),
      lakeObjects: ((lake?.results ?? []) as { lake_key: string }[]).map((r) => r.lake_key),
      experiments: experiments?.results ?? [],
      audiences: audiences?.results ?? [],
      deliveries: deliveries?.results ?? [],
      trackingPlanSamples: samples?.results ?? [],
      merges: merges?.results ?? [],
    },
  };
}
