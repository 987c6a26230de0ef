/**
 * The Prometheus exposition (text format 0.0.4): counters summed from many
 * isolates' tallies, histograms made cumulative with every bucket present,
 * label values escaped, and every metric announced with HELP and TYPE.
 */
import { describe, expect, it } from "vitest";
import { labelText, METRICS, MetricsTally, renderExposition } from "../../src/model/metrics";

function linesOf(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

describe("the metrics exposition", () => {
  it("sums what two isolates counted into one series per label set", () => {
    const a = new MetricsTally();
    const b = new MetricsTally();
    a.add("events_rejected_total", { reason: "invalid_fields" }, 2);
    b.add("events_rejected_total", { reason: "invalid_fields" });
    b.add("events_rejected_total", { reason: "oversize" });
    const text = renderExposition([...a.drain(), ...b.drain()].reduce(merge, []), []);
    expect(linesOf(text, "edge_profiles_events_rejected_total")).toEqual([
      'edge_profiles_events_rejected_total{reason="invalid_fields"} 3',
      'edge_profiles_events_rejected_total{reason="oversize"} 1',
    ]);
  });

  it("makes latency buckets cumulative, ending in +Inf equal to the count", () => {
    const t = new MetricsTally();
    for (const s of [0.003, 0.004, 0.02, 0.3, 12]) t.observe("http_request_duration_seconds", { family: "merge" }, s);
    const text = renderExposition(t.drain(), []);
    const buckets = linesOf(text, "edge_profiles_http_request_duration_seconds_bucket");
    expect(buckets).toContain('edge_profiles_http_request_duration_seconds_bucket{family="merge",le="0.005"} 2');
    expect(buckets).toContain('edge_profiles_http_request_duration_seconds_bucket{family="merge",le="0.025"} 3');
    expect(buckets).toContain('edge_profiles_http_request_duration_seconds_bucket{family="merge",le="0.5"} 4');
    expect(buckets).toContain('edge_profiles_http_request_duration_seconds_bucket{family="merge",le="10"} 4');
    expect(buckets.at(-1)).toBe('edge_profiles_http_request_duration_seconds_bucket{family="merge",le="+Inf"} 5');
    expect(buckets).toHaveLength(12);
    expect(linesOf(text, "edge_profiles_http_request_duration_seconds_count")).toEqual([
      'edge_profiles_http_request_duration_seconds_count{family="merge"} 5',
    ]);
    const sum = linesOf(text, "edge_profiles_http_request_duration_seconds_sum")[0] ?? "";
    expect(Number(sum.split(" ")[1])).toBeCloseTo(12.327, 6);
  });

  it("announces every metric once with HELP and TYPE, a counter nobody counted at 0", () => {
    const text = renderExposition([], [{ name: "sink_dead_letters", value: 4 }]);
    for (const [name, info] of Object.entries(METRICS)) {
      expect(text).toContain(`# TYPE edge_profiles_${name} ${info.type}\n`);
    }
    expect(text).toContain("\nedge_profiles_events_accepted_total 0\n");
    expect(text).toContain("\nedge_profiles_sink_dead_letters 4\n");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("escapes label values and orders label names, so one series has one key", () => {
    expect(labelText({ z: "1", a: 'say "hi"\\\n' })).toBe('{a="say \\"hi\\"\\\\\\n",z="1"}');
    expect(labelText({})).toBe("");
  });

  it("puts back counts whose flush failed", () => {
    const t = new MetricsTally();
    t.add("merge_calls_total", { strategy: "personalized" }, 3);
    const rows = t.drain();
    expect(t.size).toBe(0);
    t.restore(rows);
    t.add("merge_calls_total", { strategy: "personalized" });
    expect(t.drain()).toEqual([{ name: "merge_calls_total", labels: '{strategy="personalized"}', value: 4 }]);
  });
});

/** What D1's upsert does with rows of the same series. */
function merge(
  acc: { name: string; labels: string; value: number }[],
  row: { name: string; labels: string; value: number },
) {
  const held = acc.find((r) => r.name === row.name && r.labels === row.labels);
  if (held) held.value += row.value;
  else acc.push({ ...row });
  return acc;
}
