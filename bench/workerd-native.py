# gdb script (Python) behind bench/workerd-native.mjs: reads native memory
# figures out of a running workerd process, which links Google's tcmalloc
# and SQLite with their symbols.
#
#   gdb -p PID -batch -nx -x bench/workerd-native.py
#
# Environment:
#   NATIVE_OUT       where to write the JSON answer (required)
#   NATIVE_SYMBOLS   `nm -C --defined-only` output of the workerd binary
#   NATIVE_INTERVAL  if set, tcmalloc's heap-sampling interval in bytes
#   NATIVE_PROFILE   "1": also take tcmalloc's sampled heap profile
#   NATIVE_RELEASE   "1": first ask tcmalloc to return its free pages to the
#                    system (what it keeps for reuse would otherwise stay resident)
#
# The process is stopped only while gdb is attached (a few seconds); stacks
# are symbolized after it is detached.
import bisect
import json
import os
import struct

import gdb

MAGIC = 0x5EED
out_path = os.environ["NATIVE_OUT"]
symbol_lines = open(os.environ["NATIVE_SYMBOLS"]).read().splitlines()


def offset_of(name):
    for line in symbol_lines:
        if line.endswith(" " + name):
            return int(line.split(" ", 1)[0], 16)
    raise RuntimeError("workerd has no symbol " + name)


def value(expr):
    """Evaluates `expr` in the process. Its functions carry no debug
    information, so gdb passes each argument at the width it is written in:
    every argument below is cast to its full width (a bare -1 would arrive as
    4294967295)."""
    return int(gdb.parse_and_eval(expr))


answer = {}
scratch = value("(long)malloc((long)8)")


def numeric_property(name):
    # bool MallocExtension_Internal_GetNumericProperty(const char*, size_t, size_t*)
    ok = value('(int)MallocExtension_Internal_GetNumericProperty("%s", (long)%d, (long)%d)' % (name, len(name), scratch))
    return value("*(unsigned long*)%d" % scratch) if ok & 1 else None


if os.environ.get("NATIVE_RELEASE") == "1":
    gdb.parse_and_eval("(void)MallocExtension_Internal_ReleaseMemoryToSystem((unsigned long)-1)")

answer["sqliteBytes"] = value("(long long)sqlite3_memory_used()")
answer["sqliteSoftLimit"] = value("(long long)sqlite3_soft_heap_limit64((long long)-1)")
answer["mallocInUse"] = numeric_property("generic.current_allocated_bytes")
answer["mallocPhysical"] = numeric_property("generic.physical_memory_used")
answer["mallocFree"] = numeric_property("tcmalloc.page_heap_free")
gdb.parse_and_eval("(void)free((long)%d)" % scratch)

if os.environ.get("NATIVE_INTERVAL"):
    gdb.parse_and_eval("(void)MallocExtension_Internal_SetProfileSamplingInterval((long)%d)" % int(os.environ["NATIVE_INTERVAL"]))
answer["samplingInterval"] = value("(long)MallocExtension_Internal_GetProfileSamplingInterval()")

raw_samples = []
base = value("(long)&MallocExtension_Internal_SnapshotCurrent") - offset_of("MallocExtension_Internal_SnapshotCurrent")
if os.environ.get("NATIVE_PROFILE") == "1":
    iterate = base + offset_of(
        "tcmalloc::tcmalloc_internal::StackTraceTable::Iterate("
        "absl::lts_20260107::FunctionRef<void (tcmalloc::Profile::Sample const&)>) const"
    )
    getpid = value("(long)&getpid")

    # ProfileBase::Iterate takes an absl::FunctionRef, two words: an object
    # pointer and an invoker called as invoker(object, sample). The invoker
    # here is libc's getpid, which ignores both; a breakpoint on it copies the
    # sample out and lets it run on. MAGIC as the object tells our calls from
    # the process's own calls to getpid.
    class CopySample(gdb.Breakpoint):
        def stop(self):
            if value("$rdi") == MAGIC:
                raw_samples.append(bytes(gdb.selected_inferior().read_memory(value("$rsi"), 1200)))
            return False

    breakpoint = CopySample("*%d" % getpid, internal=True)
    profile = value("((long(*)(int))MallocExtension_Internal_SnapshotCurrent)(0)")  # ProfileType::kHeap
    vtable = value("*(long*)%d" % profile)
    gdb.parse_and_eval("((void(*)(long,long,long))%d)(%d,%d,%d)" % (iterate, profile, MAGIC, getpid))
    breakpoint.delete()
    # Free the snapshot through its deleting destructor, vtable slot 1, once
    # slot 2 is confirmed to be Iterate (the layout this script assumes).
    if value("*(long*)%d" % (vtable + 16)) == iterate:
        gdb.parse_and_eval("((void(*)(long))*(long*)%d)(%d)" % (vtable + 8, profile))

gdb.execute("detach")

if raw_samples:
    text_end = base + 0x10000000
    functions = sorted(
        (int(line[:16], 16), line[19:])
        for line in symbol_lines
        if len(line) > 19 and line[17] in "tTwW"
    )
    starts = [f[0] for f in functions]

    def name_of(address):
        i = bisect.bisect_right(starts, address - base - 1) - 1
        return functions[i][1] if i >= 0 else hex(address)

    def is_code(q):
        return base <= q < text_end

    samples = []
    for raw in raw_samples:
        words = struct.unpack("<150Q", raw)
        # Profile::Sample starts with `sum` (bytes this stack holds, scaled up
        # from the sampling); its stack is the first run of code addresses.
        first = next((i for i in range(2, 148) if is_code(words[i]) and is_code(words[i + 1])), None)
        if first is None:
            continue
        last = first
        while last < 150 and is_code(words[last]):
            last += 1
        samples.append({"bytes": words[0], "stack": [name_of(a) for a in words[first:last]]})
    answer["profile"] = samples

with open(out_path, "w") as f:
    json.dump(answer, f)
