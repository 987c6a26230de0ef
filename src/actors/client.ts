/**
 * How the edge addresses a person's actor: by name (`user:<id>`, `anon:<id>`)
 * through the `PROFILES` namespace, typed with the actor's own method
 * signatures. (The generated RPC stub types reject `unknown`-valued records
 * such as traits, although structured clone carries them fine.)
 */
import type { Env } from "../env";
import type { ProfileActor } from "./profile-actor";

export type ProfileActorApi = Pick<
  ProfileActor,
  | "ingest"
  | "readProfile"
  | "readEvents"
  | "personalization"
  | "outboxStatus"
  | "confirmDelivered"
  | "pointTo"
  | "handOver"
>;

export function profileActor(env: Pick<Env, "PROFILES">, name: string): ProfileActorApi {
  return env.PROFILES.get(env.PROFILES.idFromName(name)) as unknown as ProfileActorApi;
}
