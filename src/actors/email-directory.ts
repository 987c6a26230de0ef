/**
 * EmailDirectory: one small Durable Object per e-mail address, named
 * `email:<sha256 of the trimmed, lower-cased address>` (so no address is
 * kept in the clear), that says which person an `email:` or `email_sha256:`
 * lookup means, and remembers everyone who ever claimed the address.
 *
 * Who may move the lookup (the "current" claim):
 * - a trusted claim (a server write key, or a browser call carrying the
 *   user's identity-verification hash) always takes it: the newest wins;
 * - an untrusted claim (a public browser key) takes it only while it names
 *   nobody, a visitor, a person who no longer holds the address, or the
 *   claimant already; otherwise it is refused and reported as a conflict —
 *   anyone can read the browser key from a web page, and a lookup that
 *   anyone can repoint would let them put their own text into another
 *   person's e-mail.
 *
 * Every claimant is remembered, refused or not, so erasure, export and
 * suppression by e-mail reach everyone who ever claimed the address.
 *
 * Storage is plain SQL on two tiny tables: lookups run once per e-mail
 * recipient at send time, and a query builder adds nothing here.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { emailDirectoryName } from "../model/profile-id";
import { settingsOf } from "../model/settings";
import { profileActor } from "./client";
import { IdleRelease } from "./idle-release";

/**
 * Claimants kept per address. Past it, a new untrusted claimant that does
 * not take the lookup is not remembered (a flood of made-up visitors cannot
 * push out the people who claimed the address before them); any other
 * newcomer makes room by forgetting the oldest untrusted claimant first.
 */
export const MAX_CLAIMANTS = 1000;

export type ClaimOutcome =
  | { outcome: "pointed" | "unchanged" }
  /** The address names another known person: the lookup stays theirs. */
  | { outcome: "refused"; holder: string };

interface Claimant {
  actorKey: string;
  trusted: boolean;
  lastAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS claimants (actor_key TEXT PRIMARY KEY, trusted INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lookup (id INTEGER PRIMARY KEY CHECK (id = 1), target TEXT NOT NULL, at INTEGER NOT NULL);
`;

export class EmailDirectory extends DurableObject<Env> {
  private target: string | null = null;
  private claimants = new Map<string, Claimant>();
  /** False until this entry has stored something (or checked the pre-directory location once). */
  private stored = false;
  /** Self-hosted: resets this entry once idle (see IdleRelease). */
  private readonly idle: IdleRelease;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.idle = new IdleRelease(ctx, settingsOf(env).actorRelease);
    ctx.blockConcurrencyWhile(async () => this.load());
  }

  private load() {
    const sql = this.ctx.storage.sql;
    this.stored = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lookup'").toArray().length > 0;
    if (!this.stored) return;
    this.target = sql.exec<{ target: string }>("SELECT target FROM lookup WHERE id = 1").toArray()[0]?.target ?? null;
    this.claimants = new Map(
      sql
        .exec<{ actor_key: string; trusted: number; last_at: number }>(
          "SELECT actor_key, trusted, last_at FROM claimants",
        )
        .toArray()
        .map((r) => [r.actor_key, { actorKey: r.actor_key, trusted: r.trusted === 1, lastAt: r.last_at }]),
    );
  }

  /**
   * Entries written before the directory had its own class live in a
   * ProfileActor of the same name; the first call here that finds nothing
   * stored takes that pointer over as a trusted claim and clears it there,
   * so that an entry later emptied (its claimants released) never takes the
   * old pointer back.
   */
  private async adoptEarlierEntry(name: string) {
    if (this.stored) return;
    const legacy = profileActor(this.env, name);
    const earlier = await legacy.directoryTarget();
    if (!earlier) return;
    if (!this.stored) this.write(earlier, true, Date.now(), true);
    await legacy.wipe(false);
  }

  private write(actorKey: string, trusted: boolean, at: number, point: boolean) {
    const sql = this.ctx.storage.sql;
    if (!this.stored) {
      sql.exec(SCHEMA);
      this.stored = true;
    }
    const seen = this.claimants.get(actorKey);
    if (!seen && !trusted && !point && this.claimants.size >= MAX_CLAIMANTS) return;
    const keepTrusted = trusted || seen?.trusted === true;
    sql.exec(
      `INSERT INTO claimants (actor_key, trusted, first_at, last_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (actor_key) DO UPDATE SET trusted = excluded.trusted, last_at = excluded.last_at`,
      actorKey,
      keepTrusted ? 1 : 0,
      at,
      at,
    );
    this.claimants.set(actorKey, { actorKey, trusted: keepTrusted, lastAt: at });
    if (this.claimants.size > MAX_CLAIMANTS) this.forgetOldest();
    if (point && this.target !== actorKey) {
      sql.exec(
        "INSERT INTO lookup (id, target, at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET target = excluded.target, at = excluded.at",
        actorKey,
        at,
      );
      this.target = actorKey;
    }
  }

  private forgetOldest() {
    const candidates = [...this.claimants.values()].filter((c) => c.actorKey !== this.target);
    const untrusted = candidates.filter((c) => !c.trusted);
    const pool = untrusted.length > 0 ? untrusted : candidates;
    const oldest = pool.sort((a, b) => a.lastAt - b.lastAt)[0];
    if (!oldest) return;
    this.ctx.storage.sql.exec("DELETE FROM claimants WHERE actor_key = ?", oldest.actorKey);
    this.claimants.delete(oldest.actorKey);
  }

  /** The person an `email:` lookup means, or null. */
  async lookup(name: string): Promise<string | null> {
    return this.idle.around(async () => {
      await this.adoptEarlierEntry(name);
      return this.target;
    });
  }

  /**
   * `actorKey` says the address is theirs. `name` is this entry's own name
   * (`email:<hex>`), used to ask the current holder whether they still hold
   * the address.
   */
  async claim(name: string, actorKey: string, trusted: boolean): Promise<ClaimOutcome> {
    return this.idle.around(async () => {
      await this.adoptEarlierEntry(name);
      const now = Date.now();
      const holder = this.target;
      if (holder === actorKey) {
        this.write(actorKey, trusted, now, false);
        return { outcome: "unchanged" };
      }
      if (!trusted && holder?.startsWith("user:") && (await this.stillHolds(holder, name))) {
        // Another claim may have moved the lookup while the holder was asked: decide again on what is there now.
        if (this.target !== holder) return this.claim(name, actorKey, trusted);
        this.write(actorKey, false, now, false);
        return { outcome: "refused", holder };
      }
      this.write(actorKey, trusted, now, true);
      return { outcome: "pointed" };
    });
  }

  /** Whether the person `holder` still has this address among their traits. */
  private async stillHolds(holder: string, name: string): Promise<boolean> {
    const person = await profileActor(this.env, holder).identity();
    if (!person) return false;
    const names = await Promise.all(person.emails.map((e) => emailDirectoryName(e)));
    return names.includes(name);
  }

  /** Everyone who ever claimed the address (actor keys), the current holder first. */
  async allClaimants(name: string): Promise<string[]> {
    return this.idle.around(async () => {
      await this.adoptEarlierEntry(name);
      const rest = [...this.claimants.keys()].filter((k) => k !== this.target);
      return this.target ? [this.target, ...rest] : rest;
    });
  }

  /**
   * Forgets these claimants (an erasure, or a visitor's claim withdrawn).
   * When the holder goes, the newest remaining trusted claimant takes the
   * lookup; with nobody left, the entry keeps nothing at all. `name` is this
   * entry's own name, as for `claim`.
   */
  async release(name: string, actorKeys: string[]): Promise<void> {
    return this.idle.around(async () => {
      await this.adoptEarlierEntry(name);
      if (!this.stored) return;
      for (const key of actorKeys) this.claimants.delete(key);
      if (this.claimants.size === 0) {
        await this.ctx.storage.deleteAll();
        this.target = null;
        this.stored = false;
        return;
      }
      const sql = this.ctx.storage.sql;
      for (const key of actorKeys) sql.exec("DELETE FROM claimants WHERE actor_key = ?", key);
      if (this.target && actorKeys.includes(this.target)) {
        const next = [...this.claimants.values()].filter((c) => c.trusted).sort((a, b) => b.lastAt - a.lastAt)[0];
        if (next) {
          sql.exec("UPDATE lookup SET target = ?, at = ? WHERE id = 1", next.actorKey, Date.now());
          this.target = next.actorKey;
        } else {
          sql.exec("DELETE FROM lookup");
          this.target = null;
        }
      }
    });
  }
}
