/**
 * Duplicate people among customer profiles: which pairs are probably one
 * person registered twice (`Jane.Doe@gmail.com` / `janedoe@gmail.com`,
 * `jane doe` / `Doe, Jane`), scored and explained so an operator can merge
 * them. It owns the comparison of Segment spec traits (`email`, `phone`,
 * `name` or `firstName` + `lastName`, `address`), the string metrics under it
 * (Jaro, Jaro–Winkler, Levenshtein), blocking and the scoring rule; it reads
 * and merges nothing. As in record linkage (Fellegi–Sunter; Winkler 1990),
 * agreeing fields are evidence, contradicting ones count against, and a
 * missing field says nothing: see `scorePair`.
 */
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";

/** One profile as the matcher sees it. */
export interface PersonRecord {
  profileId: string;
  traits: Record<string, unknown>;
}

export type EvidenceKind = "email" | "email_local" | "phone" | "name" | "address";
export interface Evidence {
  kind: EvidenceKind;
  a: string;
  b: string;
  similarity: number;
  detail: string;
}
export interface DuplicatePair {
  a: string;
  b: string;
  score: number;
  evidence: Evidence[];
}

export interface DuplicateOptions {
  /** Pairs scoring below this are left out; default 0.8. */
  threshold?: number;
  /** Country for phone numbers written without `+`; default "US". */
  defaultCountry?: CountryCode;
  /** At most this many pairs, best first; default 100. */
  limit?: number;
}

/**
 * A block (people sharing one key) larger than this is skipped as
 * uninformative: 60 people on one phone is a switchboard, `info@` is many
 * people. They can still meet through their other keys.
 */
export const MAX_BLOCK_SIZE = 50;

/** What each agreement alone says about "same person"; agreements combine as 1 − Π(1 − w). */
export const AGREEMENT_WEIGHT = {
  email: 0.95,
  phone: 0.82,
  emailLocal: 0.65,
  address: 0.55,
  nearIdenticalName: 0.6,
  similarName: 0.5,
} as const;

/** Name similarity bands: at least `nearIdentical`, at least `similar`, or below `different` (a conflict). */
export const NAME_BANDS = { nearIdentical: 0.97, similar: 0.9, different: 0.85 } as const;

/** A clearly different name on a shared phone or mailbox is a household, not one person. */
const NAME_CONFLICT_FACTOR = 0.6;
/** By the number of contact fields that contradict (different valid phones; unrelated e-mails). */
const CONTACT_CONFLICT_FACTOR = [1, 0.95, 0.7] as const;
/** A single letter ("J") agrees with a name starting with it, but only weakly. */
const INITIAL_SIMILARITY = 0.85;
const STREET_AGREES = 0.9;
/** Role mailboxes and very short local parts are shared by unrelated people at other domains. */
const ROLE_LOCAL_PARTS = new Set(["info", "admin", "contact", "hello", "sales", "support", "office", "mail", "team"]);
const MIN_LOCAL_LENGTH = 4;
const GMAIL_DOMAINS = new Set(["gmail.com", "googlemail.com"]);
const EMAIL_SHAPE = /^([^\s@]+)@([^\s@.]+(?:\.[^\s@.]+)+)$/;

/** Jaro similarity (Jaro 1989): shared characters within a window, discounted for transpositions. */
export function jaro(a: string, b: string): number {
  // The greedy matching depends on which string leads; fixing the order makes the measure symmetric.
  const [s, t] = a <= b ? [Array.from(a), Array.from(b)] : [Array.from(b), Array.from(a)];
  if (s.length === 0 && t.length === 0) return 1;
  if (s.length === 0 || t.length === 0) return 0;
  const window = Math.max(0, Math.floor(Math.max(s.length, t.length) / 2) - 1);
  const taken = new Array<boolean>(t.length).fill(false);
  const matchedS: string[] = [];
  s.forEach((char, i) => {
    for (let j = Math.max(0, i - window); j <= Math.min(t.length - 1, i + window); j++) {
      if (!taken[j] && t[j] === char) {
        taken[j] = true;
        matchedS.push(char);
        return;
      }
    }
  });
  const m = matchedS.length;
  if (m === 0) return 0;
  const matchedT = t.filter((_, j) => taken[j]);
  const halfTranspositions = matchedS.filter((char, k) => char !== matchedT[k]).length;
  return (m / s.length + m / t.length + (m - halfTranspositions / 2) / m) / 3;
}

/** Jaro–Winkler (Winkler 1990): Jaro boosted by the common prefix, scale 0.1, prefix up to 4. */
export function jaroWinkler(a: string, b: string): number {
  const j = jaro(a, b);
  const [s, t] = [Array.from(a), Array.from(b)];
  let prefix = 0;
  while (prefix < 4 && prefix < s.length && s[prefix] === t[prefix]) prefix++;
  return j + prefix * 0.1 * (1 - j);
}

/** Levenshtein edit distance: insertions, deletions and substitutions, one each. */
export function levenshtein(a: string, b: string): number {
  const [s, t] = [Array.from(a), Array.from(b)];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (s[i - 1] === t[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[t.length] ?? 0;
}

/** The address mail actually reaches: Gmail ignores dots and `googlemail.com`; `+tag` is a sub-address everywhere. */
export function canonicalEmail(address: string): string | null {
  const shape = EMAIL_SHAPE.exec(address.trim().toLowerCase());
  if (!shape) return null;
  let local = (shape[1] ?? "").split("+")[0] ?? "";
  let domain = shape[2] ?? "";
  if (GMAIL_DOMAINS.has(domain)) {
    domain = "gmail.com";
    local = local.replaceAll(".", "");
  }
  return local ? `${local}@${domain}` : null;
}

/** The number in E.164 (`+14155552671`), or null when libphonenumber-js finds no valid number. */
export function e164(phone: string, defaultCountry: CountryCode = "US"): string | null {
  const parsed = parsePhoneNumberFromString(phone, defaultCountry);
  return parsed?.isValid() ? parsed.number : null;
}

/** Lower-cased, accents folded (NFKD without combining marks), punctuation to spaces, whitespace collapsed. */
function fold(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** The person's name from `name`, else `firstName`/`first_name` + `lastName`/`last_name`. */
export function normalizedName(traits: Record<string, unknown>): string | null {
  const whole = fold(text(traits.name));
  if (whole) return whole;
  const first = text(traits.firstName) || text(traits.first_name);
  const last = text(traits.lastName) || text(traits.last_name);
  return fold(`${first} ${last}`) || null;
}

/** A street line and where it is: postal code without spaces, else city. */
interface Place {
  street: string;
  place: string;
}

/** Street and place (postal code, else city) from Segment's `address` object, or a one-line string. */
function normalizedAddress(traits: Record<string, unknown>): Place | null {
  const address = traits.address;
  if (typeof address === "string") return fold(address) ? { street: fold(address), place: "" } : null;
  if (typeof address !== "object" || address === null) return null;
  const fields = address as Record<string, unknown>;
  const street = fold(text(fields.street));
  const postal = fold(text(fields.postalCode) || text(fields.postal_code)).replaceAll(" ", "");
  return street ? { street, place: postal || fold(text(fields.city)) } : null;
}

interface Person {
  id: string;
  rawEmail: string;
  email: string | null;
  /** Canonical local part without dots, underscores and hyphens; null when too short or a role mailbox. */
  local: string | null;
  rawPhone: string;
  phone: string | null;
  name: string | null;
  tokens: string[];
  address: Place | null;
}

function person(record: PersonRecord, country: CountryCode): Person {
  const rawEmail = text(record.traits.email);
  const email = canonicalEmail(rawEmail);
  const local = email?.split("@")[0]?.replace(/[._-]/g, "") ?? "";
  const rawPhone = text(record.traits.phone);
  const name = normalizedName(record.traits);
  return {
    id: record.profileId,
    rawEmail,
    email,
    local: local.length >= MIN_LOCAL_LENGTH && !ROLE_LOCAL_PARTS.has(local) ? local : null,
    rawPhone,
    phone: rawPhone ? e164(rawPhone, country) : null,
    name,
    tokens: name ? [...new Set(name.split(" "))].sort() : [],
    address: normalizedAddress(record.traits),
  };
}

/**
 * Blocking keys. The name key is every ordered pair "token + first letter of
 * another token" of the first four name tokens: "jane doe" gives `jane d` and
 * `doe j`, so a typo in one token ("jnae doe") still shares `doe j`, word
 * order does not matter ("doe jane"), and a middle name ("mary ann smith")
 * still meets "mary smith". A one-word name gives no key: too vague to block on.
 */
function blockingKeys(p: Person): string[] {
  const keys: string[] = [];
  if (p.email) keys.push(`email:${p.email}`);
  if (p.local) keys.push(`local:${p.local}`);
  if (p.phone) keys.push(`phone:${p.phone}`);
  const tokens = p.tokens.slice(0, 4);
  for (const token of tokens) {
    for (const other of tokens) if (other !== token) keys.push(`name:${token} ${other.charAt(0)}`);
  }
  return [...new Set(keys)];
}

function tokenSimilarity(a: string, b: string): number {
  if (a.length === 1 || b.length === 1) return a.charAt(0) === b.charAt(0) ? INITIAL_SIMILARITY : 0;
  return jaroWinkler(a, b);
}

/**
 * Jaro–Winkler over the token-sorted names, each token of the shorter name
 * aligned with its best partner, capped by the weakest token pair: a shared
 * surname must not hide a different first name ("john smith" vs "jane smith"
 * is 0.70, not the 0.88 the whole strings give). An extra token costs 5%.
 */
function nameSimilarity(a: readonly string[], b: readonly string[]): number {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  const unused = [...long];
  const aligned: string[] = [];
  let weakest = 1;
  for (const token of short) {
    const scores = unused.map((candidate) => tokenSimilarity(token, candidate));
    const best = Math.max(...scores);
    aligned.push(unused.splice(scores.indexOf(best), 1)[0] ?? "");
    weakest = Math.min(weakest, best);
  }
  const whole = jaroWinkler(short.join(" "), aligned.join(" "));
  return Math.min(whole, weakest) * (short.length === long.length ? 1 : 0.95);
}

/** Why two different spellings are one address, for the operator. */
function emailDetail(x: Person, y: Person): string {
  const [a, b] = [x.rawEmail.trim().toLowerCase(), y.rawEmail.trim().toLowerCase()];
  if (a === b) return x.rawEmail === y.rawEmail ? "same address" : "same address ignoring case and spaces";
  const locals = `${a.split("@")[0]} ${b.split("@")[0]}`;
  const steps = [
    x.email?.endsWith("@gmail.com") && locals.includes(".") ? "removing Gmail dots" : "",
    locals.includes("+") ? "removing the +tag" : "",
    `${a} ${b}`.includes("@googlemail.com") ? "reading googlemail.com as gmail.com" : "",
  ].filter(Boolean);
  return steps.length ? `same address after ${steps.join(", ")}` : "same address once normalized";
}

/** Same place and house number, and streets at least `STREET_AGREES` apart ("Oak St" vs "Oak Street"). */
function addressesMatch(x: Place | null, y: Place | null): number {
  if (!x || !y || x.place !== y.place) return 0;
  // House numbers must be equal: "12 oak street" and "14 oak street" are neighbours.
  if (x.street.replace(/\D/g, "") !== y.street.replace(/\D/g, "")) return 0;
  const similarity = jaroWinkler(x.street, y.street);
  return similarity >= STREET_AGREES ? similarity : 0;
}

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;
/** Profile ids compare by code units, as `a < b` does, not by locale. */
const byCodeUnits = (p: string, q: string): number => (p < q ? -1 : p > q ? 1 : 0);

/**
 * The rule, on the fields both profiles have:
 * - agreements (same canonical e-mail 0.95, same phone 0.82, same address
 *   0.55, near-identical names 0.6, similar names 0.5) combine as a noisy-OR;
 * - a same local part at another domain (0.65) counts only when the names
 *   are at least similar: on its own, `jsmith@` is many people;
 * - clearly different names (below 0.85) multiply by 0.6;
 * - contradicting contacts (different valid phones; e-mails that agree
 *   neither whole nor in the local part) multiply by 0.95 for one, 0.7 for both.
 * So names alone reach at most 0.6; near-identical names need another
 * agreement (an address gives 0.82) and similar names need a contact.
 */
function scorePair(x: Person, y: Person): { score: number; evidence: Evidence[] } {
  const evidence: Evidence[] = [];
  const weights: number[] = [];
  const agree = (weight: number, kind: EvidenceKind, a: string, b: string, similarity: number, detail: string) => {
    if (weight > 0) weights.push(weight);
    evidence.push({ kind, a, b, similarity: round(similarity, 3), detail });
  };
  let contactConflicts = 0;
  const nameScore = x.tokens.length && y.tokens.length ? nameSimilarity(x.tokens, y.tokens) : null;
  const namesAgree = nameScore !== null && nameScore >= NAME_BANDS.similar;
  if (nameScore !== null) {
    const { nearIdenticalName, similarName } = AGREEMENT_WEIGHT;
    const weight = nameScore >= NAME_BANDS.nearIdentical ? nearIdenticalName : namesAgree ? similarName : 0;
    agree(weight, "name", x.name ?? "", y.name ?? "", nameScore, `names ${nameScore.toFixed(2)} Jaro-Winkler`);
  }
  if (x.email && y.email) {
    if (x.email === y.email) agree(AGREEMENT_WEIGHT.email, "email", x.email, y.email, 1, emailDetail(x, y));
    else if (x.local && x.local === y.local) {
      const detail = `same local part "${x.local}" ignoring dots, underscores and hyphens`;
      agree(namesAgree ? AGREEMENT_WEIGHT.emailLocal : 0, "email_local", x.email, y.email, 1, detail);
    } else contactConflicts++;
  }
  if (x.phone && y.phone) {
    const detail = `"${x.rawPhone}" and "${y.rawPhone}" are the same number`;
    if (x.phone === y.phone) agree(AGREEMENT_WEIGHT.phone, "phone", x.phone, y.phone, 1, detail);
    else contactConflicts++;
  }
  const addressScore = addressesMatch(x.address, y.address);
  if (addressScore > 0) {
    const [a = "", b = ""] = [x.address, y.address].map((at) => `${at?.street ?? ""} ${at?.place ?? ""}`.trim());
    const detail = `same house number and place, streets ${addressScore.toFixed(2)} Jaro-Winkler`;
    agree(AGREEMENT_WEIGHT.address, "address", a, b, addressScore, detail);
  }
  let score = 1 - weights.reduce((disbelief, w) => disbelief * (1 - w), 1);
  if (nameScore !== null && nameScore < NAME_BANDS.different) score *= NAME_CONFLICT_FACTOR;
  score *= CONTACT_CONFLICT_FACTOR[Math.min(contactConflicts, 2)] ?? 1;
  return { score: round(score, 3), evidence };
}

/**
 * Pairs of profiles that are probably one person, best first. Only people
 * sharing a blocking key are compared, and blocks over `MAX_BLOCK_SIZE` are
 * skipped, so the work is at most people × keys per person (≤ 15) ×
 * (MAX_BLOCK_SIZE − 1) comparisons, each linear-to-quadratic in the names'
 * length — never every pair. A profile id listed twice counts once (first wins).
 */
export function findDuplicates(people: readonly PersonRecord[], options: DuplicateOptions = {}): DuplicatePair[] {
  const { threshold = 0.8, defaultCountry = "US", limit = 100 } = options;
  const byId = new Map<string, Person>();
  for (const record of people) {
    if (!byId.has(record.profileId)) byId.set(record.profileId, person(record, defaultCountry));
  }
  const everyone = [...byId.values()].sort((p, q) => byCodeUnits(p.id, q.id));
  const blocks = new Map<string, number[]>();
  everyone.forEach((p, index) => {
    for (const key of blockingKeys(p)) {
      const block = blocks.get(key);
      if (block) block.push(index);
      else blocks.set(key, [index]);
    }
  });
  const compared = new Set<number>();
  const pairs: DuplicatePair[] = [];
  for (const members of blocks.values()) {
    if (members.length < 2 || members.length > MAX_BLOCK_SIZE) continue;
    for (const [k, i] of members.entries()) {
      for (const j of members.slice(k + 1)) {
        const pairKey = i * everyone.length + j;
        const [x, y] = [everyone[i], everyone[j]];
        if (compared.has(pairKey) || !x || !y) continue;
        compared.add(pairKey);
        const { score, evidence } = scorePair(x, y);
        if (score >= threshold) pairs.push({ a: x.id, b: y.id, score, evidence });
      }
    }
  }
  pairs.sort((p, q) => q.score - p.score || byCodeUnits(p.a, q.a) || byCodeUnits(p.b, q.b));
  return pairs.slice(0, Math.max(0, limit));
}
