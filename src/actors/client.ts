/**
 * How the edge addresses a person's actor: by name (`user:<id>`, `anon:<id>`)
 * through the `PROFILES` namespace, typed with the actor's own method
 * signatures. (The generated RPC stub types reject `unknown`-valued records
 * such as traits, although structured clone carries them fine.)
 */
import type { Env } from "../env";
import type { IdentityConflict } from "../model/identity-claims";
import type { PopularInteraction } from "../model/profile";
import type { PersonalSignals } from "../model/ranking";
import type { EmailDirectory } from "./email-directory";
import type { ChangeSender } from "./outbox";
import type { ProfileActor } from "./profile-actor";
import type { Handover } from "./profile-store";
import { SINK_BUFFER_SHARDS } from "./sink-buffer";

export type ProfileActorApi = Pick<
  ProfileActor,
  | "ingest"
  | "readProfile"
  | "readEvents"
  | "personalization"
  | "outboxStatus"
  | "confirmDelivered"
  | "directoryTarget"
  | "ownDirectoryClaims"
  | "handOver"
  | "identity"
  | "wipe"
  | "setSuppressed"
  | "exportData"
  | "releaseNow"
  | "evaluateAudiences"
  | "watch"
>;

export function profileActor(env: Pick<Env, "PROFILES">, name: string): ProfileActorApi {
  return env.PROFILES.get(env.PROFILES.idFromName(name)) as unknown as ProfileActorApi;
}

/**
 * The caller is done with this actor for now: on a self-hosted machine with
 * too many live actors it goes at once (see IdleRelease). The abort that
 * releases it fails this call, which is the point.
 */
export async function doneWith(actor: ProfileActorApi): Promise<void> {
  await actor.releaseNow().catch(() => {});
}

/** The e-mail directory entry `name` (`email:<sha256 hex>`). */
export function emailDirectory(env: Pick<Env, "DIRECTORY">, name: string): DurableObjectStub<EmailDirectory> {
  return env.DIRECTORY.get(env.DIRECTORY.idFromName(name));
}

/** What the edge tells an actor about the trust of a batch's messages. */
export interface IngestTrust {
  /** messageIds sent with a browser key and no valid identity verification. */
  untrusted?: string[];
  /** Every message came from a sealed e-mail link (`/o/`, `/c/`): its experiment and variant can be believed. */
  sealedLinks?: boolean;
  /**
   * The messageId of an operator's merge (`POST /v1/profiles/merge`): its
   * alias may join a known user into this one, which identity resolution
   * otherwise never does.
   */
  operatorMerge?: string;
}

/** An actor's id as text: a one-way hash of its name, which names no one by itself. */
export function actorIdOf(env: Pick<Env, "PROFILES">, name: string): string {
  return env.PROFILES.idFromName(name).toString();
}

/** The actor with this id (`actorIdOf`), for what only knows the id. */
export function profileActorById(env: Pick<Env, "PROFILES">, id: string): ProfileActorApi {
  return env.PROFILES.get(env.PROFILES.idFromString(id)) as unknown as ProfileActorApi;
}

export interface IngestResult {
  applied: number;
  /** messageIds already applied before (or repeated within the batch): acknowledged, not re-applied. */
  duplicateIds: string[];
  /** Links this batch asked for and could not have (the message itself was applied). */
  refusedLinks: RefusedLink[];
  /** Set when this profile is taking events faster than its flood limit: nothing was applied; retry after this long. */
  throttledForMs?: number;
  /** Events dropped because a regulation suppressed this identity (counted, never stored). */
  suppressed?: number;
  /** Identity claims from browser sources that were not applied, for the operator's record. */
  conflicts?: IdentityConflict[];
  /** What the applied events add to product popularity: people's first interactions within the window, no bots'. */
  popular?: PopularInteraction[];
  /** Self-hosted, under pressure: the actor asks to be released once the edge is done with it (`doneWith`). */
  release?: true;
}

/** Everything that identifies one person, gathered for an erasure (DESIGN §2.2, GDPR). */
export interface PersonIdentity {
  /** The person's actor (`user:42`, or `anon:abc` for a visitor never merged). */
  actorKey: string;
  userId: string | null;
  anonymousIds: string[];
  /** Ids merged into this person (their visitor actors forward here). */
  mergedIds: string[];
  /** Known users an operator merged into this person (their actors forward here). */
  mergedUserIds: string[];
  emails: string[];
  suppressed: boolean;
}

export interface RefusedLink {
  messageId: string;
  reason: string;
}

/** A visitor's answer when a person asks to take it over. */
export type HandoverAnswer =
  | { outcome: "merged"; handover: Handover }
  | { outcome: "refused"; reason: string }
  /** A user id never seen: nothing to take over, and nothing left behind. */
  | { outcome: "none" };

export interface PersonalizationInput {
  known: boolean;
  /** The person's public id (`user_id:42`), also when they were looked up by e-mail. */
  profileId: string | null;
  traits: Record<string, unknown>;
  /** Null when the person refused personalization (consent): they get what everyone gets. */
  signals: PersonalSignals | null;
  /** Keys of the audiences the person is in now. */
  audiences: string[];
  /** Each computed trait's value now, by key. */
  computedTraits: Record<string, string | number | boolean | null>;
  /** Inside a running experiment: the person's variant, and whether this call was their first exposure. */
  experiment?: { variant: string; exposedAt: number; first: boolean };
}

/**
 * Where an actor's outbox runs go: straight to the change Queue, or with
 * `SINK_COALESCE_MS` to one of the sink buffers (by the actor's name), which
 * bundles many actors' runs into each Queue message.
 */
export function changeSender(
  env: Pick<Env, "SINK_QUEUE" | "SINK_BUFFER">,
  coalesce: boolean,
  actorKey: string,
): ChangeSender {
  if (!coalesce) return env.SINK_QUEUE;
  let hash = 0;
  for (let i = 0; i < actorKey.length; i++) hash = (hash * 31 + actorKey.charCodeAt(i)) >>> 0;
  const buffer = sinkBuffer(env, hash % SINK_BUFFER_SHARDS);
  return { sendBatch: (messages) => buffer.add(messages.map((m) => m.body)) };
}

export function sinkBuffer(env: Pick<Env, "SINK_BUFFER">, shard: number) {
  return env.SINK_BUFFER.get(env.SINK_BUFFER.idFromName(`sink-buffer:${shard}`));
}
