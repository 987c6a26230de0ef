import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalEmail,
  type DuplicatePair,
  e164,
  findDuplicates,
  jaro,
  jaroWinkler,
  levenshtein,
  MAX_BLOCK_SIZE,
  normalizedName,
  type PersonRecord,
} from "../../src/model/duplicates";
import { uniforms } from "../seeded-random";

describe("string metrics against published values", () => {
  // W. E. Winkler (1990), "String Comparator Metrics and Enhanced Decision Rules in the
  // Fellegi-Sunter Model of Record Linkage", the Jaro–Winkler column of its table of
  // name pairs; DIXON/DICKSONX is the worked example of the Wikipedia article
  // "Jaro–Winkler distance" and the usual textbook one.
  it.each([
    ["MARTHA", "MARHTA", 0.961],
    ["DWAYNE", "DUANE", 0.84],
    ["DIXON", "DICKSONX", 0.813],
    ["SHACKLEFORD", "SHACKELFORD", 0.982],
    ["JONES", "JOHNSON", 0.832],
    ["MASSEY", "MASSIE", 0.933],
    ["MICHELLE", "MICHAEL", 0.921],
    ["TANYA", "TONYA", 0.88],
    ["SEAN", "SUSAN", 0.805],
  ])("Jaro–Winkler of %s and %s is %s", (a, b, expected) => {
    expect(jaroWinkler(a, b)).toBeCloseTo(expected, 3);
  });

  it("Jaro alone gives MARTHA/MARHTA 0.944 and DWAYNE/DUANE 0.822 (Winkler 1990, Jaro column)", () => {
    expect(jaro("MARTHA", "MARHTA")).toBeCloseTo(0.944, 3);
    expect(jaro("DWAYNE", "DUANE")).toBeCloseTo(0.822, 3);
  });

  it("CRATE/TRACE has three matches and no transposition: Jaro 11/15 (Wikipedia, 'Jaro–Winkler distance')", () => {
    expect(jaro("CRATE", "TRACE")).toBeCloseTo(11 / 15, 10);
  });

  // The jellyfish README (github.com/jamesturk/jellyfish): jaro_similarity('jellyfish', 'smellyfish')
  // is 0.89629629629629637 and levenshtein_distance of the same pair is 2; with no common prefix,
  // Jaro–Winkler equals Jaro (JellyFish.jl's README prints 0.8962962962962964 for jaro_winkler).
  it("matches the jellyfish library's documented example", () => {
    expect(jaro("jellyfish", "smellyfish")).toBeCloseTo(0.8962962962962964, 12);
    expect(jaroWinkler("jellyfish", "smellyfish")).toBeCloseTo(0.8962962962962964, 12);
    expect(levenshtein("jellyfish", "smellyfish")).toBe(2);
  });

  // Levenshtein (1966); kitten/sitting is the Wikipedia article's example, flaw/lawn its second.
  it.each([
    ["kitten", "sitting", 3],
    ["flaw", "lawn", 2],
    ["", "abc", 3],
    ["abc", "", 3],
    ["", "", 0],
    ["same", "same", 0],
  ])("Levenshtein of %j and %j is %i", (a, b, expected) => {
    expect(levenshtein(a, b)).toBe(expected);
  });

  it("identical strings are 1, empty against non-empty is 0, two empty strings are identical", () => {
    expect(jaroWinkler("jane doe", "jane doe")).toBe(1);
    expect(jaroWinkler("", "")).toBe(1);
    expect(jaroWinkler("", "jane")).toBe(0);
    expect(jaroWinkler("abc", "xyz")).toBe(0);
  });
});

describe("canonicalEmail", () => {
  it.each([
    ["Jane.Doe@gmail.com", "janedoe@gmail.com"],
    ["j.a.n.e.d.o.e+newsletter@gmail.com", "janedoe@gmail.com"],
    ["jane.doe@googlemail.com", "janedoe@gmail.com"],
    ["  JANE.DOE@Example.COM ", "jane.doe@example.com"],
    ["jane.doe+shop@fastmail.com", "jane.doe@fastmail.com"],
    ["jane@mail.example.co.uk", "jane@mail.example.co.uk"],
  ])("%j is %j", (raw, canonical) => {
    expect(canonicalEmail(raw)).toBe(canonical);
  });

  it.each(["", "jane", "jane@", "@gmail.com", "jane@localhost", "jane doe@gmail.com", "a@b@c.com", "+tag@gmail.com"])(
    "%j is not an address",
    (raw) => {
      expect(canonicalEmail(raw)).toBeNull();
    },
  );
});

describe("e164", () => {
  it.each([
    ["(415) 555-2671", "US", "+14155552671"],
    ["+1 415-555-2671", "GB", "+14155552671"],
    ["+44 20 7946 0018", "US", "+442079460018"],
    ["020 7946 0018", "GB", "+442079460018"],
    ["0049 30 123456", "DE", "+4930123456"],
    ["+49 30 123456", "US", "+4930123456"],
    ["011 49 30 123456", "US", "+4930123456"],
  ] as const)("%j read in %s is %s", (raw, country, expected) => {
    expect(e164(raw, country)).toBe(expected);
  });

  it("defaults to the US", () => {
    expect(e164("415.555.2671")).toBe("+14155552671");
  });

  it.each(["", "12", "555-1234", "not a phone", "0049 30 123456"])("%j is not a valid US number", (raw) => {
    expect(e164(raw, "US")).toBeNull();
  });
});

describe("normalizedName", () => {
  it("prefers name, falls back to first and last name in either Segment spelling", () => {
    expect(normalizedName({ name: "  Jane   DOE " })).toBe("jane doe");
    expect(normalizedName({ firstName: "Jane", lastName: "Doe" })).toBe("jane doe");
    expect(normalizedName({ first_name: "Jane", last_name: "Doe" })).toBe("jane doe");
    expect(normalizedName({ firstName: "Jane" })).toBe("jane");
  });

  it("folds accents and turns punctuation into spaces", () => {
    expect(normalizedName({ name: "José García" })).toBe("jose garcia");
    expect(normalizedName({ name: "Zoë Ø'Brien-Müller" })).toBe("zoe ø brien muller");
    expect(normalizedName({ name: "Doe, Jane." })).toBe("doe jane");
  });

  it("is null when there is no name", () => {
    expect(normalizedName({})).toBeNull();
    expect(normalizedName({ name: " ,. ", firstName: 42 })).toBeNull();
  });
});

// The planted set: pairs built from a name list, each kind a way real duplicates (or real
// look-alikes) arise. Every person has their own e-mail and phone unless the kind shares them.
const FIRST = ["Jane", "Oliver", "Maria", "Ahmed", "Sofia", "Lucas", "Chloe", "Mateo", "Hannah", "Viktor"];
const OTHER_FIRST = ["Robert", "Kate", "Dmitri", "Paula", "Gustav", "Ines", "Frank", "Yuki", "Carmen", "Boris"];
const LAST = ["Doe", "Nakamura", "Okafor", "Lindqvist", "Fernandes", "Kowalski", "Whitfield", "Abernathy"];
const NEAR_LAST = ["Castellano", "Hargreaves", "Baptiste", "Ivanova", "Mbeki", "Thornton", "Quigley", "Rasmussen"];
const OTHER_LAST = ["Pemberton", "Oyelaran", "Zielinski", "Marchetti", "Gallagher"];
const ACCENTED = [
  ["José García", "Jose Garcia"],
  ["Zoë Müller", "Zoe Muller"],
  ["Renée Dubois", "Renee Dubois"],
  ["François Lefèvre", "Francois Lefevre"],
  ["Åsa Ström", "Asa Strom"],
] as const;

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;
/** A keyboard slip: the last two letters swapped ("jane" → "jaen"). */
const slip = (word: string): string => word.slice(0, -2) + word.slice(-1) + word.slice(-2, -1);
const phoneNumber = (n: number): string => `415555${2000 + n}`;
const usFormats = (digits: string) => ({
  paren: `(${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6)}`,
  plus: `+1 ${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`,
  dots: `${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6)}`,
});

type Traits = Record<string, unknown>;
interface Planted {
  kind: string;
  a: Traits;
  b: Traits;
}

function trueDuplicate(i: number): Planted {
  const first = pick(FIRST, i);
  const last = pick(LAST, i * 3 + Math.floor(i / 8));
  const name = `${first} ${last}`;
  const handle = `${first}.${last}${i}`.toLowerCase();
  const phone = usFormats(phoneNumber(i));
  switch (i % 10) {
    case 0:
      return {
        kind: "gmail dots and case",
        a: { name, email: `${handle}@gmail.com` },
        b: { name: name.toLowerCase(), email: `${handle.replace(".", "")}@Gmail.com`.toUpperCase() },
      };
    case 1:
      return {
        kind: "+tag and a slip of the finger",
        a: { name, email: `${handle}@fastmail.com` },
        b: { firstName: slip(first), lastName: last, email: `${handle}+shop@fastmail.com` },
      };
    case 2:
      return {
        kind: "googlemail is gmail",
        a: { firstName: first, lastName: last, email: `${handle}@googlemail.com` },
        b: { name, email: `${handle}@gmail.com`, phone: phone.plus },
      };
    case 3:
      return {
        kind: "one phone in two formats, a new e-mail",
        a: { name, email: `${handle}@work.example`, phone: phone.paren },
        b: { name, email: `${handle}@home.example`, phone: phone.plus },
      };
    case 4:
      return {
        kind: "name written surname first, same phone",
        a: { name: `${last}, ${first}`, phone: phone.dots },
        b: { name, phone: phone.plus },
      };
    case 5: {
      const [accented, plain] = pick(ACCENTED, i);
      return {
        kind: "accents",
        a: { name: accented, email: `p${i}@example.org` },
        b: { name: plain, email: ` P${i}@Example.org ` },
      };
    }
    case 6:
      return {
        kind: "same local part at another domain",
        a: { name, email: `${handle}@gmail.com` },
        b: { name, email: `${handle.replace(".", "_")}@yahoo.com` },
      };
    case 7:
      return {
        kind: "surname typo, same phone",
        a: { name, phone: phone.paren, email: `${handle}@a.example` },
        b: { name: `${first} ${slip(last)}`, phone: phone.dots },
      };
    case 8: {
      const address = { street: `${100 + i} Valencia Street`, city: "San Francisco", postalCode: "94110" };
      return {
        kind: "same name at the same address",
        a: { name, address },
        b: { name: name.toUpperCase(), address: { ...address, street: `${100 + i} Valencia St.` } },
      };
    }
    default:
      return {
        kind: "an initial and the same e-mail",
        a: { name: `${first.charAt(0)}. ${last}`, email: `${handle}@corp.example` },
        b: { name, email: `${handle}@CORP.example` },
      };
  }
}

function nearMiss(i: number): Planted {
  const first = pick(FIRST, i + 3);
  const other = pick(OTHER_FIRST, i);
  const last = pick(NEAR_LAST, i * 3 + Math.floor(i / 8));
  const name = `${first} ${last}`;
  const handle = `${first.charAt(0)}${last}${i}`.toLowerCase();
  const [mine, theirs] = [usFormats(phoneNumber(100 + 2 * i)), usFormats(phoneNumber(101 + 2 * i))];
  const email = (who: string, domain: string) => `${who.toLowerCase()}${i}@${domain}`;
  const address = { street: `${10 + 2 * i} Oak Street`, postalCode: "10001" };
  switch (i % 10) {
    case 0:
      return {
        kind: "same surname, different first name",
        a: { name, email: email(first, "a.example"), phone: mine.paren },
        b: { name: `${other} ${last}`, email: email(other, "b.example"), phone: theirs.paren },
      };
    case 1:
      return {
        kind: "same name, nothing else in common",
        a: { name, email: email(first, "a.example"), phone: mine.paren },
        b: { name, email: email(last, "b.example"), phone: theirs.plus },
      };
    case 2:
      return {
        kind: "family phone, different first names",
        a: { name, email: email(first, "a.example"), phone: mine.paren },
        b: { name: `${other} ${last}`, email: email(other, "a.example"), phone: mine.plus },
      };
    case 3:
      return {
        kind: "twins: one phone, one address, different first names",
        a: { name, phone: mine.dots, address },
        b: { name: `${other} ${last}`, phone: mine.paren, address },
      };
    case 4:
      return {
        kind: "same local part at another domain, different first name",
        a: { name, email: `${handle}@a.example` },
        b: { name: `${other} ${last}`, email: `${handle}@b.example` },
      };
    case 5:
      return {
        kind: "flatmates: one phone, same first name, different surname",
        a: { name, phone: mine.paren },
        b: { name: `${first} ${pick(OTHER_LAST, i)}`, phone: mine.plus },
      };
    case 6:
      return {
        kind: "a slip-of-the-finger name, different e-mail and phone",
        a: { name, email: email(first, "a.example"), phone: mine.paren },
        b: { name: `${slip(first)} ${last}`, email: email(last, "b.example"), phone: theirs.paren },
      };
    case 7:
      return {
        kind: "household mailbox, different first names",
        a: { name, email: `the.${last}s${i}@gmail.com` },
        b: { name: `${other} ${last}`, email: `The${last}s${i}@gmail.com` },
      };
    case 8:
      return {
        kind: "namesakes on one street, different house numbers",
        a: { name, address },
        b: { name, address: { ...address, street: `${11 + 2 * i} Oak Street` } },
      };
    default:
      return {
        kind: "same local part at another domain, no names",
        a: { email: `${handle}@a.example` },
        b: { email: `${handle}@b.example` },
      };
  }
}

/** Profile ids in a shuffled order, so `a` is sometimes the first-built record and sometimes the second. */
function plantedSet() {
  const truths = Array.from({ length: 50 }, (_, i) => trueDuplicate(i));
  const misses = Array.from({ length: 50 }, (_, i) => nearMiss(i));
  const singletons: Traits[] = Array.from({ length: 30 }, (_, i) => ({
    name: `${pick(OTHER_FIRST, i + 5)} ${pick(OTHER_LAST, i)}son`,
    email: `solo${i}@solo.example`,
    phone: usFormats(phoneNumber(300 + i)).paren,
  }));
  const traits = [...truths.flatMap((p) => [p.a, p.b]), ...misses.flatMap((p) => [p.a, p.b]), ...singletons];
  const random = uniforms(20260301);
  const ids = traits.map((_, n) => n);
  for (let n = ids.length - 1; n > 0; n--) {
    const m = Math.floor(random() * (n + 1));
    [ids[n], ids[m]] = [ids[m] as number, ids[n] as number];
  }
  const idOf = (n: number) => `user_id:${1000 + (ids[n] as number)}`;
  const people: PersonRecord[] = traits.map((t, n) => ({ profileId: idOf(n), traits: t }));
  const key = (x: string, y: string) => (x < y ? `${x} ${y}` : `${y} ${x}`);
  const truth = new Map(truths.map((p, k) => [key(idOf(2 * k), idOf(2 * k + 1)), p.kind]));
  const decoys = new Map(misses.map((p, k) => [key(idOf(100 + 2 * k), idOf(101 + 2 * k)), p.kind]));
  return { people, truth, decoys, key };
}

describe("findDuplicates on a planted set", () => {
  const { people, truth, decoys, key } = plantedSet();
  const found = findDuplicates(people, { limit: 1000 });
  const foundKeys = new Set(found.map((p) => key(p.a, p.b)));

  it("finds the planted duplicates and passes over the look-alikes (precision and recall ≥ 0.9)", () => {
    const hits = [...foundKeys].filter((k) => truth.has(k)).length;
    const precision = found.length ? hits / found.length : 1;
    const recall = hits / truth.size;
    const missed = [...truth].filter(([k]) => !foundKeys.has(k)).map(([, kind]) => kind);
    const wrong = found.filter((p) => !truth.has(key(p.a, p.b))).map((p) => decoys.get(key(p.a, p.b)) ?? "unplanted");
    console.log(
      `duplicates: ${truth.size} planted, ${decoys.size} look-alikes, ${people.length} people; ` +
        `precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)}; missed ${JSON.stringify(missed)}; wrong ${JSON.stringify(wrong)}`,
    );
    expect(truth.size).toBeGreaterThanOrEqual(40);
    expect(decoys.size).toBeGreaterThanOrEqual(40);
    expect(precision).toBeGreaterThanOrEqual(0.9);
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });

  it("explains each pair with the evidence that agreed", () => {
    const gmail = found.find((p) => truth.get(key(p.a, p.b)) === "gmail dots and case");
    const sameAddress = gmail?.evidence.find((e) => e.kind === "email");
    expect(sameAddress?.a).toMatch(/^[a-z]+\d+@gmail\.com$/);
    expect(sameAddress).toMatchObject({
      b: sameAddress?.a,
      similarity: 1,
      detail: expect.stringContaining("Gmail dots"),
    });
    const phones = found.find((p) => truth.get(key(p.a, p.b)) === "one phone in two formats, a new e-mail");
    const samePhone = phones?.evidence.find((e) => e.kind === "phone");
    expect(samePhone?.a).toMatch(/^\+1415555\d{4}$/);
    expect(samePhone).toMatchObject({
      b: samePhone?.a,
      detail: expect.stringMatching(/^"(\(415\) |\+1 415-).*" and "(\(415\) |\+1 415-).*" are the same number$/),
    });
    const address = found.find((p) => truth.get(key(p.a, p.b)) === "same name at the same address");
    expect(address?.evidence.map((e) => e.kind).sort()).toEqual(["address", "name"]);
  });
});

describe("scoring", () => {
  const pair = (a: Traits, b: Traits, threshold = 0): DuplicatePair | undefined =>
    findDuplicates(
      [
        { profileId: "user_id:1", traits: a },
        { profileId: "user_id:2", traits: b },
      ],
      { threshold },
    )[0];

  it("an identical canonical e-mail alone is at least 0.95", () => {
    expect(pair({ email: "Jane.Doe@gmail.com" }, { email: "janedoe+x@googlemail.com" })?.score).toBeGreaterThanOrEqual(
      0.95,
    );
  });

  it("the same local part at another domain needs the names to agree", () => {
    const a = { email: "jane.doe@gmail.com", name: "Jane Doe" };
    expect(pair(a, { email: "janedoe@yahoo.com" })?.score).toBeLessThan(0.8);
    expect(pair(a, { email: "janedoe@yahoo.com", name: "Jane Doe" })?.score).toBeGreaterThanOrEqual(0.8);
  });

  it("names alone never pass; near-identical names pass only with a matching address", () => {
    expect(pair({ name: "Jane Doe" }, { name: "jane doe" })?.score).toBeLessThan(0.8);
    const address = { street: "12 Oak Street", postalCode: "94110" };
    expect(pair({ name: "Jane Doe", address }, { name: "Jane Doe", address })?.score).toBeGreaterThanOrEqual(0.8);
    expect(pair({ name: "Jane Doe", address }, { name: "Jnae Doe", address })?.score).toBeLessThan(0.8);
  });

  it("different valid phones and different e-mails pull a pair down", () => {
    const a = { name: "Jane Doe", phone: "(415) 555-2671", email: "jane@a.example" };
    const agreeing = pair(a, { name: "Jane Doe", phone: "415 555 2671", email: "jane@a.example" })?.score ?? 0;
    const silent = pair(a, { name: "Jane Doe" })?.score ?? 0;
    const conflicting = pair(a, { name: "Jane Doe", phone: "(415) 555-2672", email: "jd@b.example" })?.score ?? 0;
    expect(agreeing).toBeGreaterThan(silent);
    expect(silent).toBeGreaterThan(conflicting);
  });

  it("scores lie in [0, 1] with three decimals", () => {
    const p = pair({ name: "Jane Doe", phone: "(415) 555-2671" }, { name: "Jane Deo", phone: "+14155552671" });
    expect(p?.score).toBeGreaterThanOrEqual(0);
    expect(p?.score).toBeLessThanOrEqual(1);
    expect(Math.round((p?.score ?? 0) * 1000) / 1000).toBe(p?.score);
  });
});

describe("blocking and output", () => {
  it(`skips a block of more than ${MAX_BLOCK_SIZE} people sharing one phone and nothing else`, () => {
    const switchboard = Array.from({ length: 60 }, (_, i) => ({
      profileId: `user_id:${i}`,
      traits: { phone: i % 2 ? "(415) 555-2671" : "+1 415 555 2671" },
    }));
    expect(findDuplicates(switchboard, { threshold: 0 })).toEqual([]);
    const smallBlock = switchboard.slice(0, 3);
    expect(findDuplicates(smallBlock, { threshold: 0 })).toHaveLength(3);
  });

  it("people sharing no key are never compared", () => {
    const strangers = [
      { profileId: "user_id:1", traits: { name: "Jane Doe" } },
      { profileId: "user_id:2", traits: { name: "Jane" } },
      { profileId: "user_id:3", traits: { email: "x@y.example" } },
    ];
    expect(findDuplicates(strangers, { threshold: 0 })).toEqual([]);
  });

  it("orders pairs by score, then a, then b; a < b; never a profile with itself; limit and threshold hold", () => {
    const people: PersonRecord[] = [
      { profileId: "user_id:9", traits: { email: "jane.doe@gmail.com", name: "Jane Doe" } },
      { profileId: "user_id:3", traits: { email: "janedoe@gmail.com", name: "Jane Doe" } },
      { profileId: "user_id:3", traits: { email: "janedoe@gmail.com", name: "Jane Doe" } },
      { profileId: "user_id:5", traits: { email: "jane_doe@yahoo.com", name: "Jane Doe" } },
      { profileId: "user_id:7", traits: { phone: "(212) 555-0142" } },
      { profileId: "user_id:1", traits: { phone: "+1 212 555 0142" } },
    ];
    const all = findDuplicates(people);
    expect(all.map((p) => [p.a, p.b])).toEqual([
      ["user_id:3", "user_id:9"],
      ["user_id:3", "user_id:5"],
      ["user_id:5", "user_id:9"],
      ["user_id:1", "user_id:7"],
    ]);
    expect(all.map((p) => p.score)).toEqual([...all.map((p) => p.score)].sort((x, y) => y - x));
    expect(all.every((p) => p.a < p.b)).toBe(true);
    expect(findDuplicates(people, { limit: 2 })).toEqual(all.slice(0, 2));
    expect(findDuplicates(people, { threshold: 0.9 }).every((p) => p.score >= 0.9)).toBe(true);
    expect(findDuplicates(people, { threshold: 0.9 }).length).toBeLessThan(all.length);
  });

  it("reads numbers without + in the default country", () => {
    const people = [
      { profileId: "user_id:1", traits: { phone: "020 7946 0018" } },
      { profileId: "user_id:2", traits: { phone: "+44 20 7946 0018" } },
    ];
    expect(findDuplicates(people)).toEqual([]);
    expect(findDuplicates(people, { defaultCountry: "GB" })).toHaveLength(1);
  });
});

describe("metric properties", () => {
  const word = fc.string({ maxLength: 12 });

  it("Jaro–Winkler is symmetric and lies in [0, 1]", () => {
    fc.assert(
      fc.property(word, word, (a, b) => {
        const s = jaroWinkler(a, b);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
        expect(jaroWinkler(b, a)).toBe(s);
      }),
    );
  });

  it("Levenshtein is symmetric, 0 exactly for equal strings, and obeys the triangle inequality", () => {
    fc.assert(
      fc.property(word, word, word, (a, b, c) => {
        expect(levenshtein(a, b)).toBe(levenshtein(b, a));
        expect(levenshtein(a, b) === 0).toBe(a === b);
        expect(levenshtein(a, c)).toBeLessThanOrEqual(levenshtein(a, b) + levenshtein(b, c));
      }),
    );
  });
});
