/**
 * What the regulation routes answer, one zod schema each, in the envelope of
 * Segment's Public API (`{ data: { … } }`): one regulation with its subjects'
 * progress, and the list of recent ones. /openapi.json is generated from
 * them and the tests parse answers with them (strict objects: a field added
 * on one side only fails the parse).
 */
import { z } from "zod";
import { REGULATION_TYPES, SUBJECT_STATUSES, SUBJECT_TYPES } from "./regulations";

const isoTime = z.string().describe("ISO 8601, UTC");
const count = z.number().int().nonnegative();

const regulationHead = {
  id: z.string().describe("reg_<32 hex digits>"),
  regulationType: z.enum(REGULATION_TYPES),
  subjectType: z.enum(SUBJECT_TYPES),
  overallStatus: z
    .enum(SUBJECT_STATUSES)
    .describe("FINISHED when every subject is; FAILED when every subject is done and one failed"),
  createdAt: isoTime,
  finishedAt: isoTime.nullable().describe("null until every subject is done"),
  counts: z
    .strictObject({ INITIALIZED: count, RUNNING: count, FINISHED: count, FAILED: count })
    .describe("subjects in each status"),
};

export const regulationSummary = z.strictObject(regulationHead);
export type RegulationSummary = z.infer<typeof regulationSummary>;

export const regulationDetail = z.strictObject({
  data: z.strictObject({
    regulation: z.strictObject({
      ...regulationHead,
      subjects: z.array(
        z.strictObject({
          position: z.number().int().nonnegative().describe("the subject's index in subjectIds"),
          subjectHash: z.string().describe("a one-way hash: the subject itself is not kept once done"),
          status: z.enum(SUBJECT_STATUSES),
          detail: z
            .unknown()
            .describe(
              "FINISHED: what was removed ({ profiles, warehouseRows, lakeObjectsRewritten, lakeLinesRemoved, kafkaTombstones, actorsWiped } for an erasure); FAILED: why",
            ),
        }),
      ),
    }),
  }),
});

export const regulationList = z.strictObject({
  data: z.strictObject({
    regulations: z.array(regulationSummary).describe("newest first"),
    pagination: z.strictObject({
      next: z.string().nullable().describe("`cursor` for the next page; null on the last"),
    }),
  }),
});
export type RegulationList = z.infer<typeof regulationList>;
