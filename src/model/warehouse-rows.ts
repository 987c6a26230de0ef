/**
 * Turns a consumer batch's change records into warehouse rows: one row per
 * event (the first occurrence of each messageId) and, per profile, session
 * and affinity, only the newest version seen in the batch. The rows are
 * positional arrays, sent to D1 as one JSON parameter per statement and
 * unpacked there with `json_each`, so a whole batch is a handful of
 * statements however many rows it holds.
 */
import type { ChangeRecord } from "./changes";
import { utf8Bytes } from "./validate";

/** [messageId, profileId, userId, anonymousId, type, name, timestamp, receivedAt, sessionNumber, productId, revenue, properties, traits, context] */
export type EventRow = [
  string,
  string,
  string | null,
  string | null,
  string,
  string | null,
  number,
  number,
  number | null,
  string | null,
  number,
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, unknown>,
];
/** [profileId, userId, anonymousIds, traits, groupIds, firstSeen, lastSeen, eventCount, sessionCount, version] */
export type ProfileRow = [
  string,
  string | null,
  string[],
  Record<string, unknown>,
  string[],
  number,
  number,
  number,
  number,
  number,
];
/** [profileId, number, startedAt, endedAt, events, pages, revenue, landingPage, version] */
export type SessionRow = [string, number, number, number, number, number, number, string | null, number];
/** [profileId, dimension, score, asOf, version] */
export type AffinityRow = [string, string, number, number, number];
/** [experimentId, profileId, variant, exposedAt, openedAt, clickedAt, convertedAt, conversionMessageId, revenue, mergedInto, revision] */
export type ExposureRow = [
  string,
  string,
  string,
  number,
  number | null,
  number | null,
  number | null,
  string | null,
  number,
  string | null,
  number,
];

/** [audienceKey, profileId, enteredAt, exitedAt] */
export type AudienceMembershipRow = [string, string, number, number | null];
/** [messageId, destination, audienceKey, profileId, status, attempts, lastError, body, at] */
export type DeliveryRow = [
  string,
  string,
  string,
  string,
  "delivered" | "dead",
  number,
  string | null,
  string | null,
  number,
];

export interface WarehouseRows {
  events: EventRow[];
  profiles: ProfileRow[];
  /** Profiles whose record left the traits out (too large): their stored traits are kept. */
  profilesWithoutTraits: ProfileRow[];
  sessions: SessionRow[];
  affinities: AffinityRow[];
  exposures: ExposureRow[];
  /** Audience stints; an exit and the entry it ends may come in one batch: the exit wins. */
  audienceMemberships: AudienceMembershipRow[];
  deliveries: DeliveryRow[];
  /** The oldest `at` among the records: how far behind the sink is. */
  oldestChangeAt: number | null;
}

function keepNewest<T>(map: Map<string, { version: number; row: T }>, key: string, version: number, row: T) {
  const seen = map.get(key);
  if (!seen || version > seen.version) map.set(key, { version, row });
}

const rowsOf = <T>(map: Map<string, { row: T }>) => [...map.values()].map((v) => v.row);

export function warehouseRowsOf(records: readonly ChangeRecord[]): WarehouseRows {
  const events = new Map<string, EventRow>();
  const profiles = new Map<string, { version: number; row: ProfileRow; omitted: boolean }>();
  const sessions = new Map<string, { version: number; row: SessionRow }>();
  const affinities = new Map<string, { version: number; row: AffinityRow }>();
  const exposures = new Map<string, { version: number; row: ExposureRow }>();
  const stints = new Map<string, AudienceMembershipRow>();
  const deliveries = new Map<string, DeliveryRow>();
  let oldestChangeAt: number | null = null;

  for (const r of records) {
    oldestChangeAt = oldestChangeAt === null ? r.at : Math.min(oldestChangeAt, r.at);
    switch (r.kind) {
      case "event": {
        const e = r.event;
        if (!events.has(e.messageId)) {
          events.set(e.messageId, [
            e.messageId,
            r.profileId,
            e.userId,
            e.anonymousId,
            e.type,
            e.name,
            e.timestamp,
            e.receivedAt,
            e.sessionNumber,
            e.productId,
            e.revenue,
            e.properties,
            e.traits,
            e.context,
          ]);
        }
        break;
      }
      case "profile": {
        const p = r.profile;
        const seen = profiles.get(r.profileId);
        if (!seen || r.version > seen.version) {
          profiles.set(r.profileId, {
            version: r.version,
            omitted: p.traitsOmitted,
            row: [
              r.profileId,
              p.userId,
              p.anonymousIds,
              p.traits,
              p.groupIds,
              p.firstSeen,
              p.lastSeen,
              p.eventCount,
              p.sessionCount,
              r.version,
            ],
          });
        }
        break;
      }
      case "session": {
        const s = r.session;
        keepNewest(sessions, `${r.profileId}\u0000${s.number}`, r.version, [
          r.profileId,
          s.number,
          s.startedAt,
          s.endedAt,
          s.events,
          s.pages,
          s.revenue,
          s.landingPage,
          r.version,
        ] satisfies SessionRow);
        break;
      }
      case "affinity":
        keepNewest(affinities, `${r.profileId}\u0000${r.dimension}`, r.version, [
          r.profileId,
          r.dimension,
          r.score,
          r.asOf,
          r.version,
        ] satisfies AffinityRow);
        break;
      case "experiment": {
        const m = r.membership;
        keepNewest(exposures, `${m.experimentId}\u0000${r.profileId}`, r.version, [
          m.experimentId,
          r.profileId,
          m.variant,
          m.exposedAt,
          m.openedAt,
          m.clickedAt,
          m.convertedAt,
          m.conversionMessageId,
          m.revenue,
          r.mergedInto,
          r.version,
        ] satisfies ExposureRow);
        break;
      }
      case "audience": {
        const a = r.audience;
        const key = `${a.key}\u0000${r.profileId}\u0000${a.enteredAt}`;
        const held = stints.get(key);
        if (!held || held[3] === null) stints.set(key, [a.key, r.profileId, a.enteredAt, a.exitedAt]);
        break;
      }
      case "delivery": {
        const d = r.delivery;
        deliveries.set(`${d.messageId}\u0000${d.destination}`, [
          d.messageId,
          d.destination,
          d.audienceKey,
          r.profileId,
          d.status,
          d.attempts,
          d.lastError,
          d.body,
          r.at,
        ]);
        break;
      }
    }
  }
  const allProfiles = [...profiles.values()];
  return {
    events: [...events.values()],
    profiles: allProfiles.filter((p) => !p.omitted).map((p) => p.row),
    profilesWithoutTraits: allProfiles.filter((p) => p.omitted).map((p) => p.row),
    sessions: rowsOf(sessions),
    affinities: rowsOf(affinities),
    exposures: rowsOf(exposures),
    audienceMemberships: [...stints.values()],
    deliveries: [...deliveries.values()],
    oldestChangeAt,
  };
}

/**
 * Splits rows so each statement's JSON parameter (in UTF-8 bytes) stays
 * under D1's 2 MB value limit; the 100 KB statement limit never applies,
 * since the SQL text is fixed.
 */
export function chunkByJsonSize<T>(rows: readonly T[], maxBytes = 1_500_000): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const row of rows) {
    const text = JSON.stringify(row);
    const bytes = utf8Bytes(text);
    if (current.length > 0 && size + bytes + 1 > maxBytes) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      size = 2;
    }
    current.push(text);
    size += bytes + 1;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}
