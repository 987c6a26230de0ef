/**
 * Forgetting a person everywhere, and telling them what is held: a person is
 * built through anonymous browsing, an identify, an e-mail click and an order;
 * once the sink has drained, `DELETE /v1/profiles/:id` must leave no trace of
 * their user id, anonymous id, e-mail address or its hash in any actor, D1
 * table or lake object, and their next event is dropped while everyone else's
 * events stand. Regulations do the same for many subjects through their Queue.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emailDirectoryName } from "../../src/model/profile-id";
import { call, eventually, productFixture, putCatalog, read, readJson, sendBatch, uid } from "./helpers";

const auth = { authorization: "Bearer test-api-key", "content-type": "application/json" };

const actor = (name: string) => env.PROFILES.get(env.PROFILES.idFromName(name));

/** Every row of every table of an actor (a profile actor, or with `directory` an e-mail directory entry), as text. */
function actorText(name: string, directory = false): Promise<string> {
  const stub = directory ? env.DIRECTORY.get(env.DIRECTORY.idFromName(name)) : actor(name);
  return runInDurableObject(stub, (_i: unknown, state: DurableObjectState) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
      )
      .toArray();
    return JSON.stringify(tables.map((t) => state.storage.sql.exec(`SELECT * FROM "${t.name}"`).toArray()));
  });
}

/** Every row of every warehouse table, as text. */
async function warehouseText(): Promise<string> {
  const { results } = await env.WAREHOUSE.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
  ).all<{ name: string }>();
  const rows = await Promise.all(results.map((t) => env.WAREHOUSE.prepare(`SELECT * FROM "${t.name}"`).all()));
  return JSON.stringify(rows.map((r) => r.results));
}

/** Every lake object, as text. */
async function lakeText(): Promise<string> {
  const listed = await env.LAKE.list({ prefix: "" });
  const bodies = await Promise.all(listed.objects.map(async (o) => (await env.LAKE.get(o.key))?.text() ?? ""));
  return bodies.join("\n");
}

async function d1Count(sql: string, ...binds: unknown[]): Promise<number> {
  return (
    (
      await env.WAREHOUSE.prepare(sql)
        .bind(...binds)
        .first<{ n: number }>()
    )?.n ?? 0
  );
}

/** Flushes the actors' outboxes and waits until the warehouse and lake hold `events` rows for these profiles. */
async function drain(actors: string[], profileIds: string[], events: number) {
  for (const name of actors) await runDurableObjectAlarm(actor(name));
  await eventually(
    async () =>
      (await d1Count(
        "SELECT COUNT(*) AS n FROM events WHERE lake_key IS NOT NULL AND profile_id IN (SELECT value FROM json_each(?))",
        JSON.stringify(profileIds),
      )) >= events,
    `${events} events in D1 and the lake`,
  );
}

/** A person built the way shoppers are: browsing anonymously, signing in, clicking an e-mail, buying. */
async function buildPerson(tag: string) {
  const anonymousId = uid("anon");
  const userId = uid("user");
  const email = `${userId}@example.com`;
  await putCatalog([productFixture(`${tag}-1`, { categories: [`Cat ${tag}`] })]);
  await sendBatch([
    { type: "page", anonymousId, properties: { url: "https://shop.example/" } },
    {
      type: "track",
      anonymousId,
      event: "Product Viewed",
      properties: { product_id: `${tag}-1`, category: `Cat ${tag}` },
    },
  ]);
  await sendBatch([{ type: "identify", userId, anonymousId, traits: { email, firstName: "Erin" } }]);
  const merge = await readJson<{ recommendations: { clickUrl: string }[] }>(`/v1/merge/user_id:${userId}`);
  const click = merge.recommendations[0]?.clickUrl;
  if (!click) throw new Error("the merge answer should carry a click URL");
  expect((await call(new URL(click).pathname, { redirect: "manual" })).status).toBe(302);
  await sendBatch([
    {
      type: "track",
      userId,
      anonymousId,
      event: "Order Completed",
      properties: { order_id: `o-${tag}`, revenue: 49.5, products: [{ product_id: `${tag}-1`, price: 49.5 }] },
    },
  ]);
  return { anonymousId, userId, email };
}

describe("erasing a person", () => {
  it("leaves no trace in actors, D1 or the lake, and drops their next event while others' stand", async () => {
    const tag = uid("gdpr").slice(0, 12);
    const person = await buildPerson(tag);
    const bystander = uid("user");
    await sendBatch([{ type: "identify", userId: bystander, traits: { email: `${bystander}@example.com` } }]);
    const profileIds = [`user_id:${person.userId}`, `anonymous_id:${person.anonymousId}`];
    await drain([`user:${person.userId}`, `anon:${person.anonymousId}`, `user:${bystander}`], profileIds, 5);
    const emailHash = (await emailDirectoryName(person.email)).slice("email:".length);
    const needles = [person.userId, person.anonymousId, person.email, emailHash];
    // The scan finds the person before the erasure, so it can find them.
    const before = `${await warehouseText()}${await lakeText()}${await actorText(`user:${person.userId}`)}`;
    for (const n of [person.userId, person.anonymousId, person.email]) expect(before).toContain(n);
    expect(await actorText(`email:${emailHash}`, true)).toContain(person.userId);

    const res = await call(`/v1/profiles/user_id:${person.userId}`, { method: "DELETE", headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; removed: { warehouseRows: number; lakeLinesRemoved: number } };
    expect(body.status).toBe("FINISHED");
    expect(body.removed.warehouseRows).toBeGreaterThan(5);
    expect(body.removed.lakeLinesRemoved).toBe(5);

    const after = [
      await warehouseText(),
      await lakeText(),
      await actorText(`user:${person.userId}`),
      await actorText(`anon:${person.anonymousId}`),
      await actorText(`email:${emailHash}`),
      await actorText(`email:${emailHash}`, true),
    ].join("\n");
    for (const n of needles) expect(after).not.toContain(n);
    // Everyone else is untouched.
    expect(after).toContain(bystander);
    expect((await read(`/v1/profiles/user_id:${bystander}`)).status).toBe(200);

    for (const id of [`user_id:${person.userId}`, `anonymous_id:${person.anonymousId}`, `email:${person.email}`]) {
      expect((await read(`/v1/profiles/${id}`)).status).toBe(404);
    }
    // Their next events — by user id, and by the anonymous id merged into them — are dropped, not stored.
    const next = await sendBatch([
      { type: "track", userId: person.userId, event: "Came Back" },
      { type: "page", anonymousId: person.anonymousId },
      { type: "track", userId: bystander, event: "Still Here" },
    ]);
    expect(next.accepted).toBe(3);
    expect((await read(`/v1/profiles/user_id:${person.userId}`)).status).toBe(404);
    expect((await read(`/v1/profiles/anonymous_id:${person.anonymousId}`)).status).toBe(404);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${bystander}`)).counts.events).toBe(2);
    const status = await readJson<{ suppressedEvents: number }>("/v1/sink/status");
    expect(status.suppressedEvents).toBeGreaterThanOrEqual(2);
    const leftover = await actorText(`user:${person.userId}`);
    for (const n of needles) expect(leftover).not.toContain(n);
  });

  it("drops change records that were still in flight when the person was erased", async () => {
    const userId = uid("user");
    await sendBatch([{ type: "track", userId, event: "In Flight" }]);
    // Sent to the Queue but not yet applied when the erasure runs: the consumer sees them afterwards.
    const records = await runInDurableObject(actor(`user:${userId}`), (_i, state) =>
      state.storage.sql.exec<{ record: string }>("SELECT record FROM outbox ORDER BY seq").toArray(),
    );
    expect((await call(`/v1/profiles/user_id:${userId}`, { method: "DELETE", headers: auth })).status).toBe(200);
    const batches = () => d1Count("SELECT CAST(value AS INTEGER) AS n FROM sink_stats WHERE name = 'batches'");
    const before = await batches();
    await env.SINK_QUEUE.send(
      JSON.stringify({
        v: 1,
        actor: `user:${userId}`,
        firstSeq: 1,
        lastSeq: records.length,
        records: records.map((r) => JSON.parse(r.record)),
      }),
    );
    await eventually(async () => (await batches()) > before, "the consumer to apply the late message");
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE user_id = ?", userId)).toBe(0);
    expect(await d1Count("SELECT COUNT(*) AS n FROM profiles WHERE profile_id = ?", `user_id:${userId}`)).toBe(0);
  });

  it("is for operators only", async () => {
    expect((await call(`/v1/profiles/user_id:${uid()}`, { method: "DELETE" })).status).toBe(401);
    expect((await call(`/v1/profiles/user_id:${uid()}/export`)).status).toBe(401);
  });
});

describe("exporting a person", () => {
  it("returns everything still held about them as one document", async () => {
    const tag = uid("exp").slice(0, 12);
    const person = await buildPerson(tag);
    await drain([`user:${person.userId}`, `anon:${person.anonymousId}`], [`user_id:${person.userId}`], 3);
    const res = await read(`/v1/profiles/email:${person.email}/export`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      identifiers: { userIds: string[]; anonymousIds: string[]; emails: string[] };
      profile: { profile: { traits: Record<string, unknown> }; recentEvents: unknown[]; sessions: unknown[] };
      warehouse: { events: unknown[]; eventsTotal: number; profiles: unknown[] };
    };
    expect(doc.identifiers).toEqual({
      userIds: [person.userId],
      anonymousIds: [person.anonymousId],
      emails: [person.email],
    });
    expect(doc.profile.profile.traits).toMatchObject({ email: person.email, firstName: "Erin" });
    expect(doc.profile.recentEvents.length).toBeGreaterThanOrEqual(5);
    expect(doc.warehouse.eventsTotal).toBe(doc.warehouse.events.length);
    expect(doc.warehouse.eventsTotal).toBeGreaterThanOrEqual(5);
    expect((await read(`/v1/profiles/user_id:${uid()}/export`)).status).toBe(404);
  });
});

describe("regulations", () => {
  async function regulate(body: unknown) {
    return call("/v1/regulations", { method: "POST", headers: auth, body: JSON.stringify(body) });
  }
  async function finished(id: string) {
    let last: { overallStatus: string; counts: Record<string, number> } | null = null;
    await eventually(async () => {
      last = (
        await readJson<{ data: { regulation: { overallStatus: string; counts: Record<string, number> } } }>(
          `/v1/regulations/${id}`,
        )
      ).data.regulation;
      return last.overallStatus === "FINISHED" || last.overallStatus === "FAILED";
    }, `regulation ${id} to finish`);
    return last as unknown as { overallStatus: string; counts: Record<string, number> };
  }

  it("erases several subjects through the Queue and reports each one's status", async () => {
    const users = [uid("user"), uid("user"), uid("user")];
    await sendBatch(users.map((userId) => ({ type: "identify", userId, traits: { plan: "pro" } })));
    const res = await regulate({ regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: users });
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: { regulateId: string } };
    expect(data.regulateId).toMatch(/^reg_/);
    const done = await finished(data.regulateId);
    expect(done).toMatchObject({ overallStatus: "FINISHED", counts: { FINISHED: 3, FAILED: 0 } });
    for (const userId of users) expect((await read(`/v1/profiles/user_id:${userId}`)).status).toBe(404);
    // DELETE_ONLY does not suppress: the person can come back as new.
    await sendBatch([{ type: "identify", userId: users[0], traits: { plan: "free" } }]);
    expect((await readJson<{ traits: unknown }>(`/v1/profiles/user_id:${users[0]}`)).traits).toEqual({ plan: "free" });
  });

  it("suppresses without erasing, and unsuppresses", async () => {
    const userId = uid("user");
    await sendBatch([{ type: "track", userId, event: "Before" }]);
    const suppress = (await (
      await regulate({ regulationType: "SUPPRESS_ONLY", subjectType: "USER_ID", subjectIds: [userId] })
    ).json()) as {
      data: { regulateId: string };
    };
    expect((await finished(suppress.data.regulateId)).overallStatus).toBe("FINISHED");
    await sendBatch([{ type: "track", userId, event: "While Suppressed" }]);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(1);
    const lift = (await (
      await regulate({ regulationType: "UNSUPPRESS", subjectType: "USER_ID", subjectIds: [userId] })
    ).json()) as {
      data: { regulateId: string };
    };
    expect((await finished(lift.data.regulateId)).overallStatus).toBe("FINISHED");
    await sendBatch([{ type: "track", userId, event: "After" }]);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(2);
  });

  it("unsuppressing an erased person's user id lets their merged anonymous id back in too", async () => {
    const anonymousId = uid("anon");
    const userId = uid("user");
    await sendBatch([{ type: "page", anonymousId, properties: { url: "https://shop.example/" } }]);
    await sendBatch([{ type: "identify", userId, anonymousId, traits: { plan: "pro" } }]);
    expect((await call(`/v1/profiles/user_id:${userId}`, { method: "DELETE", headers: auth })).status).toBe(200);
    await sendBatch([{ type: "page", anonymousId }]);
    expect((await read(`/v1/profiles/anonymous_id:${anonymousId}`)).status).toBe(404);

    const lift = (await (
      await regulate({ regulationType: "UNSUPPRESS", subjectType: "USER_ID", subjectIds: [userId] })
    ).json()) as { data: { regulateId: string } };
    expect((await finished(lift.data.regulateId)).overallStatus).toBe("FINISHED");
    await sendBatch([
      { type: "page", anonymousId },
      { type: "track", userId, event: "Came Back" },
    ]);
    const visitor = await readJson<{ counts: { events: number } }>(`/v1/profiles/anonymous_id:${anonymousId}`);
    expect(visitor.counts.events).toBe(1);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(1);
  });

  it("refuses a malformed regulation with 400 saying what is wrong", async () => {
    const cases: [unknown, RegExp][] = [
      [{ regulationType: "FORGET", subjectType: "USER_ID", subjectIds: ["a"] }, /regulationType must be one of/],
      [{ regulationType: "DELETE_ONLY", subjectType: "PHONE", subjectIds: ["a"] }, /subjectType must be one of/],
      [{ regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: [] }, /subjectIds is empty/],
      [
        {
          regulationType: "DELETE_ONLY",
          subjectType: "USER_ID",
          subjectIds: Array.from({ length: 5001 }, (_, i) => `u${i}`),
        },
        /more than 5,000/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await regulate(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
    expect((await read("/v1/regulations/reg_nothing")).status).toBe(404);
  });
});
