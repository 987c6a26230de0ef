import { describe, expect, it } from "vitest";
import { applyActivity, isActive, type Session, type SessionActivity } from "../../src/model/sessions";
import { MINUTE, T0 } from "./fixtures";

const TIMEOUT = 30 * MINUTE;

function activity(at: number, fields: Partial<SessionActivity> = {}): SessionActivity {
  return { at, isPage: false, url: null, revenue: 0, ...fields };
}

function page(at: number, url: string): SessionActivity {
  return activity(at, { isPage: true, url });
}

/** Feeds activities one by one, as the actor does, and returns the final session and every update kind. */
function replay(activities: readonly SessionActivity[], start: Session | null = null) {
  let current = start;
  const kinds: string[] = [];
  const sessions: Session[] = [];
  for (const a of activities) {
    const u = applyActivity(current, a, TIMEOUT);
    kinds.push(u.kind);
    if (u.kind !== "late") {
      current = u.session;
      if (u.kind === "opened") sessions.push(u.session);
      else sessions[sessions.length - 1] = u.session;
    }
  }
  return { current, kinds, sessions };
}

describe("sessionization", () => {
  it("the first activity opens session number 1", () => {
    const u = applyActivity(null, page(T0, "https://shop.example/"), TIMEOUT);
    expect(u).toEqual({
      kind: "opened",
      closed: null,
      session: {
        number: 1,
        startedAt: T0,
        endedAt: T0,
        events: 1,
        pages: 1,
        revenue: 0,
        landingPage: "https://shop.example/",
      },
    });
  });

  it("activity exactly one timeout after the last stays in the same session", () => {
    const { current, kinds } = replay([activity(T0), activity(T0 + TIMEOUT)]);
    expect(kinds).toEqual(["opened", "extended"]);
    expect(current).toMatchObject({ number: 1, startedAt: T0, endedAt: T0 + TIMEOUT, events: 2 });
  });

  it("activity one millisecond past the timeout opens a new session and closes the old one", () => {
    const first = replay([activity(T0), activity(T0 + 5 * MINUTE)]).current;
    const u = applyActivity(first, activity(T0 + 5 * MINUTE + TIMEOUT + 1), TIMEOUT);
    expect(u.kind).toBe("opened");
    if (u.kind !== "opened") return;
    expect(u.closed).toEqual(first);
    expect(u.session).toMatchObject({ number: 2, startedAt: T0 + 5 * MINUTE + TIMEOUT + 1, events: 1 });
  });

  it("the timeout counts from the last activity, so a long busy visit is one session", () => {
    const steps = Array.from({ length: 10 }, (_, i) => activity(T0 + i * 25 * MINUTE));
    const { sessions, current } = replay(steps);
    expect(sessions).toHaveLength(1);
    expect(current).toMatchObject({ startedAt: T0, endedAt: T0 + 9 * 25 * MINUTE, events: 10 });
  });

  it("session numbers increase by one with every new visit", () => {
    const visits = [0, 1, 2, 3].map((i) => activity(T0 + i * 2 * TIMEOUT));
    expect(replay(visits).sessions.map((s) => s.number)).toEqual([1, 2, 3, 4]);
  });

  it("a late event within the timeout before the session's start moves the start back", () => {
    const { current, kinds } = replay([activity(T0), activity(T0 - TIMEOUT)]);
    expect(kinds).toEqual(["opened", "extended"]);
    expect(current).toMatchObject({ number: 1, startedAt: T0 - TIMEOUT, endedAt: T0, events: 2 });
  });

  it("an event earlier than the session by more than the timeout is late and changes no session", () => {
    const { current } = replay([activity(T0), activity(T0 + MINUTE)]);
    const u = applyActivity(current, activity(T0 - TIMEOUT - 1), TIMEOUT);
    expect(u).toEqual({ kind: "late" });
  });

  it("counts pages separately from events", () => {
    const { current } = replay([activity(T0), page(T0 + MINUTE, "https://shop.example/a"), activity(T0 + 2 * MINUTE)]);
    expect(current).toMatchObject({ events: 3, pages: 1 });
  });
});

describe("landing page", () => {
  it("is the first page of the visit, not a later one", () => {
    const { current } = replay([page(T0, "https://shop.example/in"), page(T0 + MINUTE, "https://shop.example/next")]);
    expect(current?.landingPage).toBe("https://shop.example/in");
  });

  it("is the first page even when the visit began with a non-page event", () => {
    const { current } = replay([activity(T0), page(T0 + MINUTE, "https://shop.example/in")]);
    expect(current?.landingPage).toBe("https://shop.example/in");
  });

  it("is replaced by a page that arrives late but happened before the session's start", () => {
    const { current } = replay([
      page(T0, "https://shop.example/second"),
      page(T0 - MINUTE, "https://shop.example/first"),
    ]);
    expect(current?.landingPage).toBe("https://shop.example/first");
  });

  it("stays empty for a visit without pages", () => {
    expect(replay([activity(T0), activity(T0 + MINUTE)]).current?.landingPage).toBeNull();
  });

  it("belongs to each new session separately", () => {
    const { sessions } = replay([page(T0, "https://shop.example/a"), page(T0 + 2 * TIMEOUT, "https://shop.example/b")]);
    expect(sessions.map((s) => s.landingPage)).toEqual(["https://shop.example/a", "https://shop.example/b"]);
  });
});

describe("session revenue", () => {
  it("adds up order revenue in whole cents", () => {
    const { current } = replay([
      activity(T0, { revenue: 0.1 }),
      activity(T0 + MINUTE, { revenue: 0.2 }),
      activity(T0 + 2 * MINUTE, { revenue: 19.99 }),
    ]);
    expect(current?.revenue).toBe(20.29);
  });

  it("starts from zero in a new session", () => {
    const { sessions } = replay([activity(T0, { revenue: 50 }), activity(T0 + 2 * TIMEOUT, { revenue: 12.5 })]);
    expect(sessions.map((s) => s.revenue)).toEqual([50, 12.5]);
  });
});

describe("isActive", () => {
  const session: Session = {
    number: 1,
    startedAt: T0,
    endedAt: T0 + MINUTE,
    events: 2,
    pages: 0,
    revenue: 0,
    landingPage: null,
  };

  it("a session is still open exactly one timeout after its last activity", () => {
    expect(isActive(session, T0 + MINUTE + TIMEOUT, TIMEOUT)).toBe(true);
  });

  it("a session is over one millisecond later", () => {
    expect(isActive(session, T0 + MINUTE + TIMEOUT + 1, TIMEOUT)).toBe(false);
  });
});
