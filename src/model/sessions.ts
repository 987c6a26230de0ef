/**
 * Sessionization: a visit ends after a period of inactivity (30 minutes by
 * default, as in Google Analytics and Segment Personas). Each session keeps
 * its start, last activity, event and page counts, revenue and landing page.
 */

export interface Session {
  /** Sequence number within the profile, starting at 1. */
  number: number;
  startedAt: number;
  endedAt: number;
  events: number;
  pages: number;
  revenue: number;
  landingPage: string | null;
}

export interface SessionActivity {
  at: number;
  isPage: boolean;
  url: string | null;
  revenue: number;
}

export type SessionUpdate =
  | { kind: "extended"; session: Session }
  | { kind: "opened"; session: Session; closed: Session | null }
  /** An event older than the current session by more than the timeout: counted on the profile, not on a session. */
  | { kind: "late" };

/** Applies one activity to the current session, opening a new one after inactivity. */
export function applyActivity(current: Session | null, a: SessionActivity, timeoutMs: number): SessionUpdate {
  if (current && a.at >= current.startedAt - timeoutMs && a.at <= current.endedAt + timeoutMs) {
    const startsEarlier = a.at < current.startedAt;
    return {
      kind: "extended",
      session: {
        ...current,
        startedAt: Math.min(current.startedAt, a.at),
        endedAt: Math.max(current.endedAt, a.at),
        events: current.events + 1,
        pages: current.pages + (a.isPage ? 1 : 0),
        revenue: roundCents(current.revenue + a.revenue),
        landingPage: a.isPage && (startsEarlier || !current.landingPage) ? a.url : current.landingPage,
      },
    };
  }
  if (current && a.at < current.startedAt) return { kind: "late" };
  return {
    kind: "opened",
    closed: current,
    session: {
      number: (current?.number ?? 0) + 1,
      startedAt: a.at,
      endedAt: a.at,
      events: 1,
      pages: a.isPage ? 1 : 0,
      revenue: roundCents(a.revenue),
      landingPage: a.isPage ? a.url : null,
    },
  };
}

/** Whether the session is still open at `now` (activity within the timeout). */
export function isActive(s: Session, now: number, timeoutMs: number): boolean {
  return now - s.endedAt <= timeoutMs;
}

function roundCents(n: number): number {
  return Math.round(n * 100) / 100;
}
