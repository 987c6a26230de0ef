/**
 * GDPR/CCPA regulations in the shape of Segment's Public API
 * (`regulationType`, `subjectType`, `subjectIds`): what each type does, how
 * subjects are normalized and hashed for the records kept about them, and
 * how per-subject progress rolls up into the regulation's status.
 */
import { z } from "zod";

export const REGULATION_TYPES = ["SUPPRESS_WITH_DELETE", "DELETE_ONLY", "SUPPRESS_ONLY", "UNSUPPRESS"] as const;
export const SUBJECT_TYPES = ["USER_ID", "ANONYMOUS_ID", "EMAIL"] as const;
export type RegulationType = (typeof REGULATION_TYPES)[number];
export type SubjectType = (typeof SUBJECT_TYPES)[number];

export const MAX_SUBJECTS = 5000;

export const regulationRequest = z.object({
  regulationType: z.enum(REGULATION_TYPES, {
    error: `regulationType must be one of ${REGULATION_TYPES.join(", ")}`,
  }),
  subjectType: z.enum(SUBJECT_TYPES, { error: `subjectType must be one of ${SUBJECT_TYPES.join(", ")}` }),
  subjectIds: z
    .array(z.string().trim().min(1, "a subject id is empty").max(256, "a subject id is longer than 256 characters"), {
      error: "subjectIds must be an array of strings",
    })
    .min(1, "subjectIds is empty; name at least one subject")
    .max(MAX_SUBJECTS, `subjectIds holds more than ${MAX_SUBJECTS.toLocaleString("en-US")}; split the regulation`),
});
export type RegulationRequest = z.infer<typeof regulationRequest>;

/** What a regulation does to each subject. */
export function effectsOf(type: RegulationType): { erase: boolean; suppress: boolean | null } {
  switch (type) {
    case "SUPPRESS_WITH_DELETE":
      return { erase: true, suppress: true };
    case "DELETE_ONLY":
      return { erase: true, suppress: null };
    case "SUPPRESS_ONLY":
      return { erase: false, suppress: true };
    case "UNSUPPRESS":
      return { erase: false, suppress: false };
  }
}

/** E-mail subjects are compared trimmed and lower-cased, like the identifier directory. */
export function normalizeSubject(type: SubjectType, id: string): string {
  return type === "EMAIL" ? id.trim().toLowerCase() : id;
}

const encoder = new TextEncoder();

/**
 * A one-way, domain-separated hash: records kept about a regulation or an
 * erased profile name nobody, and no such hash equals the plain SHA-256 an
 * e-mail directory name or any other system would use for the same id.
 */
export async function privacyHash(domain: string, value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`edge-profiles/${domain}\u0000${value}`));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const SUBJECT_STATUSES = ["INITIALIZED", "RUNNING", "FINISHED", "FAILED"] as const;
export type SubjectStatus = (typeof SUBJECT_STATUSES)[number];

/** The regulation's status from its subjects': failed if any failed, finished when all are, running once any began. */
export function overallStatus(statuses: readonly SubjectStatus[]): SubjectStatus {
  if (statuses.length === 0) return "INITIALIZED";
  if (statuses.includes("FAILED") && statuses.every((s) => s === "FINISHED" || s === "FAILED")) return "FAILED";
  if (statuses.every((s) => s === "FINISHED")) return "FINISHED";
  if (statuses.every((s) => s === "INITIALIZED")) return "INITIALIZED";
  return "RUNNING";
}
