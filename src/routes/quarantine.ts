/**
 * The quarantine an operator can act on (secret API key): `GET
 * /v1/quarantine` lists rejected messages newest first, with counts by
 * reason and of what was counted rather than kept (rows evicted or expired,
 * requests without a valid key); `POST /v1/quarantine/replay` re-submits
 * them — as stored, or corrected — through the same validation and
 * ingestion as live traffic.
 * A replayed message is stored under `replay-<id>` unless it names its own
 * messageId, so replaying the same row twice applies it once.
 */
import { and, desc, eq, inArray, isNotNull, isNull, like, lt, or, sql } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { warehouseDb } from "../catalog/store";
import { QUARANTINE_COUNTERS } from "../model/quarantine-policy";
import { REJECTION_CODES, type RejectionCode } from "../model/validate";
import { badEvents, sinkStats } from "../sink/warehouse-schema";
import type { AppEnv } from "./app-env";
import type { WriteKeyClass } from "./auth";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError } from "./errors";
import { ingestMessages } from "./ingest-pipeline";
import { beforeParam, limitParam } from "./profiles";

export const quarantineRoutes = new Hono<AppEnv>();
quarantineRoutes.use("/v1/quarantine", requireApiKey());
quarantineRoutes.use("/v1/quarantine/*", requireApiKey());

const STATUSES = ["open", "replayed", "all"] as const;
const MAX_REPLAY = 100;

function isCode(v: string): v is RejectionCode {
  return (REJECTION_CODES as readonly string[]).includes(v);
}

/** A stored payload as JSON when it parses (it may be raw pixel data, or truncated), else the text. */
function storedPayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

quarantineRoutes.get("/v1/quarantine", async (c) => {
  const limit = limitParam(c.req.query("limit"), 50, 500);
  const reason = c.req.query("reason");
  if (reason !== undefined && !isCode(reason)) {
    throw new ApiError(400, "invalid_reason", `reason must be one of ${REJECTION_CODES.join(", ")}`);
  }
  const status = c.req.query("status") ?? "open";
  if (!(STATUSES as readonly string[]).includes(status)) {
    throw new ApiError(400, "invalid_status", `status must be one of ${STATUSES.join(", ")}`);
  }
  const before = beforeParam(c.req.query("before"));

  const db = warehouseDb(c.env.WAREHOUSE);
  const where = and(
    reason ? eq(badEvents.code, reason) : undefined,
    status === "open"
      ? isNull(badEvents.replayedAt)
      : status === "replayed"
        ? isNotNull(badEvents.replayedAt)
        : undefined,
    before !== null ? lt(badEvents.id, before) : undefined,
  );
  const [rows, counts, counters] = await db.batch([
    db
      .select()
      .from(badEvents)
      .where(where)
      .orderBy(desc(badEvents.id))
      .limit(limit + 1),
    db
      .select({
        code: badEvents.code,
        total: sql<number>`COUNT(*)`,
        open: sql<number>`SUM(CASE WHEN ${badEvents.replayedAt} IS NULL THEN 1 ELSE 0 END)`,
      })
      .from(badEvents)
      .groupBy(badEvents.code),
    db
      .select()
      .from(sinkStats)
      .where(
        or(
          inArray(sinkStats.name, [QUARANTINE_COUNTERS.evicted, QUARANTINE_COUNTERS.expired]),
          like(sinkStats.name, `${QUARANTINE_COUNTERS.unauthenticatedPrefix}%`),
        ),
      ),
  ]);
  const counter = new Map(counters.map((r) => [r.name, r.value]));
  const unauthenticated = Object.fromEntries(
    counters
      .filter((r) => r.name.startsWith(QUARANTINE_COUNTERS.unauthenticatedPrefix))
      .map((r) => [r.name.slice(QUARANTINE_COUNTERS.unauthenticatedPrefix.length), r.value]),
  );
  const page = rows.slice(0, limit);
  const byReason = Object.fromEntries(counts.map((r) => [r.code, { total: r.total, open: r.open }]));
  return c.json({
    items: page.map((r) => ({
      id: r.id,
      receivedAt: new Date(r.receivedAt).toISOString(),
      source: r.source,
      reason: r.code,
      message: r.reason,
      index: r.messageIndex,
      payload: storedPayload(r.payload),
      replayedAt: r.replayedAt === null ? null : new Date(r.replayedAt).toISOString(),
      replayedMessageId: r.replayedMessageId,
    })),
    counts: {
      total: counts.reduce((n, r) => n + r.total, 0),
      open: counts.reduce((n, r) => n + r.open, 0),
      byReason,
      /** Rows no longer kept: beyond the per-reason cap, or past retention. */
      evicted: counter.get(QUARANTINE_COUNTERS.evicted) ?? 0,
      expired: counter.get(QUARANTINE_COUNTERS.expired) ?? 0,
      /** Requests without a valid write key or token, by reason: all counted, few stored. */
      unauthenticated,
    },
    next: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
  });
});

const replayRequest = z.object({
  items: z
    .array(
      z.object({
        id: z.number().int().positive(),
        /** The corrected message; omitted, the stored payload is replayed as it is. */
        payload: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1)
    .max(MAX_REPLAY),
});

interface ReplayOutcome {
  id: number;
  status: "replayed" | "rejected" | "not_found" | "already_replayed";
  messageId?: string;
  reason?: string;
}

quarantineRoutes.post("/v1/quarantine/replay", async (c) => {
  // Up to 100 messages of at most 32 KB each, with room for the envelope.
  const body = await readJsonBody(c.req.raw, 4 * 1024 * 1024, "replay request");
  const parsed = replayRequest.safeParse(body);
  if (!parsed.success) {
    throw new ApiError(
      400,
      "invalid_replay",
      `body must be { items: [{ id, payload? }] } with 1 to ${MAX_REPLAY} items: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  }
  const db = warehouseDb(c.env.WAREHOUSE);
  const ids = [...new Set(parsed.data.items.map((i) => i.id))];
  const rows = new Map((await db.select().from(badEvents).where(inArray(badEvents.id, ids))).map((r) => [r.id, r]));

  const outcomes = new Map<number, ReplayOutcome>();
  const replays: {
    id: number;
    messageId: string;
    message: Record<string, unknown> | unknown;
    trust: WriteKeyClass;
  }[] = [];
  for (const item of parsed.data.items) {
    if (outcomes.has(item.id) || replays.some((r) => r.id === item.id)) continue;
    const row = rows.get(item.id);
    if (!row) {
      outcomes.set(item.id, { id: item.id, status: "not_found", reason: `no quarantined message has id ${item.id}` });
      continue;
    }
    if (row.replayedAt !== null) {
      outcomes.set(item.id, {
        id: item.id,
        status: "already_replayed",
        messageId: row.replayedMessageId ?? undefined,
        reason: `replayed before, as messageId ${row.replayedMessageId}`,
      });
      continue;
    }
    const message = item.payload ?? storedPayload(row.payload);
    const object = message !== null && typeof message === "object" && !Array.isArray(message);
    const messageId =
      object && typeof (message as Record<string, unknown>).messageId === "string"
        ? String((message as Record<string, unknown>).messageId)
        : `replay-${row.id}`;
    // A browser key's message replays as one: its identity claims are checked again (its `context.userHash` is kept).
    const trust: WriteKeyClass = row.writeKeyClass === "browser" ? "browser" : "server";
    replays.push({ id: row.id, messageId, message: object ? { ...message, messageId } : message, trust });
  }

  const now = Date.now();
  const updates = [];
  for (const trust of ["server", "browser"] as const) {
    const group = replays.filter((r) => r.trust === trust);
    if (group.length === 0) continue;
    const result = await ingestMessages(
      c.env,
      (p) => c.executionCtx.waitUntil(p),
      group.map((r) => r.message),
      // A server key's message (or one kept before key classes were) is vouched for by the operator replaying it.
      { source: "replay", trust, receivedAt: now, quarantineRejections: false },
    );
    const rejected = new Map(result.rejected.map((r) => [r.index, r]));
    for (const [index, r] of group.entries()) {
      const again = rejected.get(index);
      if (again) {
        outcomes.set(r.id, { id: r.id, status: "rejected", reason: again.reason });
        const code = isCode(again.code) ? again.code : "invalid_fields";
        updates.push(db.update(badEvents).set({ code, reason: again.reason }).where(eq(badEvents.id, r.id)));
        continue;
      }
      outcomes.set(r.id, { id: r.id, status: "replayed", messageId: r.messageId });
      updates.push(
        db.update(badEvents).set({ replayedAt: now, replayedMessageId: r.messageId }).where(eq(badEvents.id, r.id)),
      );
    }
  }
  const [first, ...rest] = updates;
  if (first) await db.batch([first, ...rest]);
  const results = ids.flatMap((id) => outcomes.get(id) ?? []);
  return c.json({
    replayed: results.filter((r) => r.status === "replayed").length,
    results,
  });
});
