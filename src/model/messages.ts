/**
 * Segment Tracking API message schemas (https://segment.com/docs/connections/spec/).
 *
 * One zod definition per message type serves the route validator, the
 * OpenAPI document, the actor's RPC types and the tests' fixtures.
 */
import { z } from "zod";

/** Per-message and per-request limits from DESIGN §2.1. */
export const LIMITS = {
  messageBytes: 32 * 1024,
  requestBytes: 500 * 1024,
  batchMessages: 2_500,
  idChars: 256,
  nameChars: 256,
  /** Deepest nesting a properties/traits/context object may have. */
  depth: 16,
} as const;

export const MESSAGE_TYPES = ["track", "identify", "page", "screen", "group", "alias"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** Fields that name a person, an account or a merged id. */
export const ID_FIELDS = ["userId", "anonymousId", "previousId", "groupId"] as const;

/**
 * Why a numeric id cannot be kept, or null when it can. A JSON number beyond
 * 2^53 − 1 has already lost digits when it is parsed (12345678901234567891
 * and …890 both read as 12345678901234567000), so two people would share one
 * profile; a fraction or a non-finite number is no id either. Such ids are
 * refused rather than guessed at: strings are kept exactly as sent.
 */
export function numericIdProblem(value: number): string | null {
  if (Number.isSafeInteger(value)) return null;
  const sendAsString = "send ids as strings";
  if (!Number.isFinite(value)) return `is not a finite number; ${sendAsString}`;
  if (!Number.isInteger(value)) return `is the number ${value}, not a whole number; ${sendAsString}`;
  return `is a number beyond ${Number.MAX_SAFE_INTEGER}, the largest a JSON number carries exactly: it reads as ${BigInt(value)}, its last digits may be lost; ${sendAsString}`;
}

/** Segment SDKs sometimes send numeric ids; they are identities all the same, when whole and exact. */
function identifier(missing = "must be a string or a number") {
  return z
    .union(
      [
        z.string(),
        z.number().superRefine((v, ctx) => {
          const problem = numericIdProblem(v);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        }),
      ],
      { error: missing },
    )
    .transform((v) => String(v).trim())
    .pipe(z.string().min(1, "must not be empty").max(LIMITS.idChars, `must be at most ${LIMITS.idChars} characters`));
}

/**
 * `userId`/`anonymousId`: an empty string means "not known" (browser SDKs send
 * `userId: ""` for anonymous visitors), so it counts as absent.
 */
const optionalIdentifier = z
  .union([z.literal("").transform(() => null), identifier()])
  .optional()
  .nullable();

const isoTime = z
  .union([z.string(), z.number()])
  .refine((v) => Number.isFinite(typeof v === "number" ? v : Date.parse(v)), "must be an ISO-8601 date-time");

const jsonObject = z.record(z.string(), z.unknown());

const common = {
  messageId: z.string().min(1).max(LIMITS.idChars).optional(),
  userId: optionalIdentifier,
  anonymousId: optionalIdentifier,
  timestamp: isoTime.optional(),
  originalTimestamp: isoTime.optional(),
  sentAt: isoTime.optional(),
  context: jsonObject.optional(),
  integrations: jsonObject.optional(),
};

export const trackMessage = z.object({
  type: z.literal("track"),
  ...common,
  event: z
    .string({ error: 'track needs an event name (a string such as "Product Viewed")' })
    .trim()
    .min(1, "track needs an event name")
    .max(LIMITS.nameChars),
  properties: jsonObject.optional(),
});

export const identifyMessage = z.object({
  type: z.literal("identify"),
  ...common,
  traits: jsonObject.optional(),
});

export const pageMessage = z.object({
  type: z.literal("page"),
  ...common,
  name: z.string().max(LIMITS.nameChars).optional().nullable(),
  category: z.string().max(LIMITS.nameChars).optional().nullable(),
  properties: jsonObject.optional(),
});

export const screenMessage = z.object({
  type: z.literal("screen"),
  ...common,
  name: z.string().max(LIMITS.nameChars).optional().nullable(),
  properties: jsonObject.optional(),
});

export const groupMessage = z.object({
  type: z.literal("group"),
  ...common,
  groupId: identifier("group needs a groupId (the account or company id, a string)"),
  traits: jsonObject.optional(),
});

export const aliasMessage = z.object({
  type: z.literal("alias"),
  ...common,
  previousId: identifier("alias needs a previousId (the id being merged, usually the anonymousId)"),
  userId: identifier("alias needs a userId (the id previousId becomes)"),
});

export const segmentMessage = z.discriminatedUnion("type", [
  trackMessage,
  identifyMessage,
  pageMessage,
  screenMessage,
  groupMessage,
  aliasMessage,
]);
export type SegmentMessage = z.infer<typeof segmentMessage>;

/** `POST /v1/batch` body; the top-level context is merged into each message. */
export const batchRequest = z.object({
  batch: z.array(z.unknown()),
  context: jsonObject.optional(),
  integrations: jsonObject.optional(),
  sentAt: isoTime.optional(),
  writeKey: z.string().optional(),
});

export const ingestResponse = z.object({
  success: z.literal(true),
  accepted: z.number().int(),
  rejected: z.array(z.object({ index: z.number().int(), code: z.string(), reason: z.string() })),
  /**
   * Accepted messages that asked for something not done, such as an identity
   * merge that was refused: the message was stored, the link was not made.
   */
  warnings: z.array(z.object({ index: z.number().int(), reason: z.string() })).optional(),
});
export type IngestResponse = z.infer<typeof ingestResponse>;

/**
 * The normalized event every later stage works with: ids resolved, times
 * converted to epoch milliseconds (UTC), Segment's skew rule applied.
 */
export interface ProfileEvent {
  messageId: string;
  type: MessageType;
  /** `event` for track, `name` for page/screen. */
  name: string | null;
  userId: string | null;
  anonymousId: string | null;
  previousId: string | null;
  groupId: string | null;
  timestamp: number;
  receivedAt: number;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
}
