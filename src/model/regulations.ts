/**
 * GDPR/CCPA regulations in the shape of Segment's Public API
 * (`regulationType`, `subjectType`, `subjectIds`): what each type does, how
 * subjects are checked, normalized and hashed for the records kept about
 * them, how per-subject progress rolls up into the regulation's status, and
 * how subjects are packed into Queue messages that fit the Queue's limits.
 */
import { z } from "zod";
import { utf8Bytes } from "./validate";

export const REGULATION_TYPES = ["SUPPRESS_WITH_DELETE", "DELETE_ONLY", "SUPPRESS_ONLY", "UNSUPPRESS"] as const;
/** `EMAIL_SHA256`: the hex SHA-256 of the trimmed, lower-cased address, for a caller who keeps no addresses in the clear. */
export const SUBJECT_TYPES = ["USER_ID", "ANONYMOUS_ID", "EMAIL", "EMAIL_SHA256"] as const;
export type RegulationType = (typeof REGULATION_TYPES)[number];
export type SubjectType = (typeof SUBJECT_TYPES)[number];

export const MAX_SUBJECTS = 5000;
export const MAX_SUBJECT_CHARS = 256;

/**
 * The request's envelope. Each subject id is checked on its own afterwards
 * (`subjectProblems`), so one answer can name every bad one.
 */
export const regulationEnvelope = z.object({
  regulationType: z.enum(REGULATION_TYPES, {
    error: `regulationType must be one of ${REGULATION_TYPES.join(", ")}`,
  }),
  subjectType: z.enum(SUBJECT_TYPES, { error: `subjectType must be one of ${SUBJECT_TYPES.join(", ")}` }),
  subjectIds: z
    .array(z.unknown(), { error: "subjectIds must be an array of strings" })
    .min(1, "subjectIds is empty; name at least one subject")
    .max(MAX_SUBJECTS, `subjectIds holds more than ${MAX_SUBJECTS.toLocaleString("en-US")}; split the regulation`),
});

/** The request as documented (OpenAPI): the envelope with its subject ids as they must be. */
export const regulationRequest = regulationEnvelope.extend({
  subjectIds: z.array(z.string().min(1).max(MAX_SUBJECT_CHARS)).min(1).max(MAX_SUBJECTS),
});

export interface RegulationRequest {
  regulationType: RegulationType;
  subjectType: SubjectType;
  /** Trimmed, each non-empty and at most 256 characters; addresses for EMAIL. */
  subjectIds: string[];
}

export interface SubjectProblem {
  index: number;
  reason: string;
}

/** An address as the e-mail directory would take one: something before and after one `@`, a dot in the domain. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Why a subject id cannot be carried out, or null when it can. */
function subjectProblem(type: SubjectType, raw: unknown): string | null {
  if (typeof raw === "number") return 'subject id is a number; send every id as a string ("1001", not 1001)';
  if (typeof raw !== "string") return `subject id is ${raw === null ? "null" : typeof raw}; send it as a string`;
  const id = raw.trim();
  if (id === "") return "subject id is empty; remove it or name the subject";
  if (id.length > MAX_SUBJECT_CHARS) {
    return `subject id is ${id.length} characters; the limit is ${MAX_SUBJECT_CHARS}`;
  }
  if (type === "EMAIL" && !EMAIL_SHAPE.test(id)) return "subject id is not an e-mail address (subjectType is EMAIL)";
  if (type === "EMAIL_SHA256" && !SHA256_HEX.test(id)) {
    return "subject id is not 64 hex digits (subjectType is EMAIL_SHA256: the SHA-256 of the trimmed, lower-cased address)";
  }
  return null;
}

/** Every subject id that cannot be carried out, with its position in `subjectIds`. */
export function subjectProblems(type: SubjectType, ids: readonly unknown[]): SubjectProblem[] {
  const problems: SubjectProblem[] = [];
  ids.forEach((raw, index) => {
    const reason = subjectProblem(type, raw);
    if (reason) problems.push({ index, reason });
  });
  return problems;
}

export type CheckedRegulation =
  | { ok: true; request: RegulationRequest }
  | { ok: false; message: string; details: { path?: string; subjects?: SubjectProblem[] } };

/** Checks a whole regulation request before anything is recorded: all of it is carried out, or none. */
export function checkRegulation(body: unknown): CheckedRegulation {
  const parsed = regulationEnvelope.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: issue?.message ?? "invalid regulation", details: { path: issue?.path.join(".") } };
  }
  const { regulationType, subjectType, subjectIds } = parsed.data;
  const problems = subjectProblems(subjectType, subjectIds);
  if (problems.length > 0) {
    const n = problems.length;
    return {
      ok: false,
      message: `${n.toLocaleString("en-US")} subject id${n === 1 ? " is" : "s are"} invalid (see details.subjects); fix or remove ${n === 1 ? "it" : "them"} and send the regulation again — nothing was recorded`,
      details: { subjects: problems },
    };
  }
  return {
    ok: true,
    request: { regulationType, subjectType, subjectIds: subjectIds.map((id) => String(id).trim()) },
  };
}

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

/** E-mail subjects and their hashes are compared trimmed and lower-cased, like the identifier directory. */
export function normalizeSubject(type: SubjectType, id: string): string {
  return type === "EMAIL" || type === "EMAIL_SHA256" ? id.trim().toLowerCase() : id;
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

/**
 * Cloudflare Queues' limits: 128 KB a message, 256 KB and 100 messages a
 * `sendBatch`. Jobs stay far below them (a margin for the envelope the Queue
 * adds and for any later growth of a job's fields), and a job's subjects stay
 * few so one job's work ends well within a consumer invocation.
 */
export const JOB_LIMITS = {
  subjectsPerJob: 10,
  jobBytes: 64 * 1024,
  batchBytes: 192 * 1024,
  batchMessages: 100,
  /** Counted per message on top of its body: what a batch carries besides the bodies. */
  messageOverheadBytes: 256,
} as const;

/**
 * Splits items, in order, into groups of at most `maxItems` items whose
 * `overhead + Σ (size(item) + separator)` stays within `maxBytes`. An item
 * that cannot fit a group on its own is refused: it would never fit the Queue.
 */
export function packBySize<T>(
  items: readonly T[],
  size: (item: T) => number,
  limit: { maxItems: number; maxBytes: number; overhead?: number; separator?: number },
): T[][] {
  const overhead = limit.overhead ?? 0;
  const separator = limit.separator ?? 0;
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = overhead;
  for (const item of items) {
    const itemBytes = size(item) + separator;
    if (overhead + itemBytes > limit.maxBytes) {
      throw new Error(`an item of ${itemBytes} bytes cannot fit a group of at most ${limit.maxBytes} bytes`);
    }
    if (group.length >= limit.maxItems || bytes + itemBytes > limit.maxBytes) {
      groups.push(group);
      group = [];
      bytes = overhead;
    }
    group.push(item);
    bytes += itemBytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** A job's subjects as its JSON body carries them. */
export interface JobSubject {
  position: number;
  id: string;
}

/**
 * Subjects packed into jobs whose JSON body — `envelope` (the job without
 * subjects) plus each subject and its comma — stays within one job's bytes.
 */
export function packSubjects(subjects: readonly JobSubject[], envelope: string): JobSubject[][] {
  return packBySize(subjects, (s) => utf8Bytes(JSON.stringify(s)), {
    maxItems: JOB_LIMITS.subjectsPerJob,
    maxBytes: JOB_LIMITS.jobBytes,
    overhead: utf8Bytes(envelope),
    separator: 1,
  });
}

/** Job bodies grouped into `sendBatch` calls within the Queue's per-call message and byte limits. */
export function packSends(bodies: readonly string[]): string[][] {
  return packBySize(bodies, utf8Bytes, {
    maxItems: JOB_LIMITS.batchMessages,
    maxBytes: JOB_LIMITS.batchBytes,
    separator: JOB_LIMITS.messageOverheadBytes,
  });
}
