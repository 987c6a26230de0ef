/**
 * Native memory of a running workerd process, for the soak: what SQLite
 * holds (`sqlite3_memory_used`), what tcmalloc has handed out and holds, and
 * optionally tcmalloc's sampled heap profile grouped by owner (SQLite page
 * cache, prepared statements, V8, workerd's own structures…). It attaches
 * gdb (bench/workerd-native.py), which stops the process for a few seconds,
 * so the soak only does it when asked (SOAK_NATIVE=1). Needs gdb and the
 * right to ptrace the process (root, or the same user with ptrace allowed).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const script = join(dirname(fileURLToPath(import.meta.url)), "workerd-native.py");
const MiB = 1048576;

/** Who owns a sampled allocation, judged by the first matching frame pattern of its stack. */
const OWNERS = [
  ["sqlite page cache", /pcache1|sqlite3PcacheFetch/],
  ["sqlite prepared statements", /sqlite3Prepare|sqlite3Vdbe|sqlite3RunParser|sqlite3GenerateColumnNames|yy_reduce/],
  ["sqlite schema and connections", /sqlite3InitOne|sqlite3Init|openDatabase|sqlite3BtreeOpen|sqlite3PagerOpen/],
  ["sqlite other", /sqlite3/],
  ["workerd SqlStorage", /SqlStorage/],
  ["V8 ArrayBuffer contents", /BackingStore/],
  ["V8 handles", /GlobalHandles|TracedHandles/],
  ["V8 compiler", /compiler::|Compiler|Maglev|baseline::/],
  ["V8 other", /v8::/],
  ["workerd actors", /ActorCache|ActorSqlite|Worker::Actor|ActorContainer|ActorNamespace/],
  ["workerd other", /workerd::/],
  ["kj/capnp", /capnp::|kj::/],
];

/** Frames of the allocator itself and of generic containers, skipped when naming a stack. */
const PLUMBING =
  /tcmalloc|^operator new|^(malloc|calloc|realloc|posix_memalign)$|sqlite3(Db)?Malloc|sqlite3MemMalloc|sqlite3Realloc|sqlite3_malloc|dbMallocRaw|dbReallocFinish|mallocWithAlarm|^kj::(heap|str|_::)|^std::|^absl::/;

function ownerOf(stack) {
  const joined = stack.join("\n");
  return OWNERS.find(([, pattern]) => pattern.test(joined))?.[0] ?? "other";
}

let symbolsFile = null;

/**
 * `nm` of the workerd binary, written once per run (about 60 MB, removed when
 * the process exits): the gdb script looks functions up in it.
 */
function symbolsOf(pid) {
  if (symbolsFile) return symbolsFile;
  const binary = readlinkSync(`/proc/${pid}/exe`);
  const nm = spawnSync("nm", ["-C", "--defined-only", binary], { encoding: "utf8", maxBuffer: 256 * MiB });
  if (nm.status !== 0) throw new Error(`nm failed on ${binary}: ${nm.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), "workerd-native-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  symbolsFile = join(dir, "symbols.txt");
  writeFileSync(symbolsFile, nm.stdout);
  return symbolsFile;
}

export function gdbAvailable() {
  return spawnSync("gdb", ["--version"]).status === 0;
}

/**
 * @param {number} pid workerd's process id
 * @param {{ profile?: boolean, samplingInterval?: number, release?: boolean }} [options]
 *   `samplingInterval` sets tcmalloc's heap-sampling interval (bytes) from now on:
 *   smaller is finer, the default 2 MiB gives a coarse profile. `release` first has tcmalloc
 *   return the free pages it keeps for reuse to the system.
 * @returns {{ sqliteMiB: number, sqliteSoftLimitMiB: number, mallocInUseMiB: number, mallocPhysicalMiB: number,
 *   mallocFreeMiB: number, samplingInterval: number, owners?: Record<string, number>,
 *   topStacks?: { MiB: number, frames: string[] }[] } | null}
 */
export function nativeMemory(pid, options = {}) {
  const out = join(mkdtempSync(join(tmpdir(), "workerd-native-")), "answer.json");
  try {
    const env = {
      ...process.env,
      NATIVE_OUT: out,
      NATIVE_SYMBOLS: symbolsOf(pid),
      NATIVE_PROFILE: options.profile ? "1" : "0",
      NATIVE_INTERVAL: options.samplingInterval ? String(options.samplingInterval) : "",
      NATIVE_RELEASE: options.release ? "1" : "0",
    };
    const run = spawnSync("gdb", ["-p", String(pid), "-batch", "-nx", "-x", script], {
      env,
      encoding: "utf8",
      timeout: 120_000,
    });
    let answer;
    try {
      answer = JSON.parse(readFileSync(out, "utf8"));
    } catch {
      console.warn(`workerd-native: gdb gave no answer (${run.status}): ${(run.stderr || run.stdout).slice(-500)}`);
      return null;
    }
    const mib = (bytes) => (bytes == null ? null : Math.round((bytes / MiB) * 10) / 10);
    const result = {
      sqliteMiB: mib(answer.sqliteBytes),
      sqliteSoftLimitMiB: mib(answer.sqliteSoftLimit),
      mallocInUseMiB: mib(answer.mallocInUse),
      mallocPhysicalMiB: mib(answer.mallocPhysical),
      mallocFreeMiB: mib(answer.mallocFree),
      samplingInterval: answer.samplingInterval,
    };
    if (answer.profile) {
      const owners = {};
      const stacks = new Map();
      for (const { bytes, stack } of answer.profile) {
        const owner = ownerOf(stack);
        owners[owner] = (owners[owner] ?? 0) + bytes;
        const frames = stack.filter((f) => !PLUMBING.test(f)).slice(0, 4);
        const key = frames.join(" <- ");
        stacks.set(key, (stacks.get(key) ?? 0) + bytes);
      }
      result.owners = Object.fromEntries(
        Object.entries(owners)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, mib(v)]),
      );
      result.topStacks = [...stacks]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([key, bytes]) => ({ MiB: mib(bytes), frames: key.split(" <- ").map((f) => f.slice(0, 160)) }));
    }
    return result;
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
}
