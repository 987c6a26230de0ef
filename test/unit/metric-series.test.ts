import { describe, expect, it } from "vitest";
import { alignSeries, MINUTE_MS, parseLabelText } from "../../src/model/metric-series";
import { labelText } from "../../src/model/metrics";

const T0 = Date.UTC(2026, 11, 7, 10, 0);

describe("per-minute series", () => {
  it("reads back the exposition's label text, escapes included", () => {
    const labels = { reason: 'say "hi"\\now', family: "ingest" };
    expect(parseLabelText(labelText(labels))).toEqual(labels);
    expect(parseLabelText("")).toEqual({});
  });

  it("lays sparse rows on whole minutes: a counter's quiet minute is 0, a gauge's unsampled minute is a gap", () => {
    const rows = [
      { minute: T0, name: "events_accepted_total", labels: "", value: 5 },
      { minute: T0 + 2 * MINUTE_MS, name: "events_accepted_total", labels: "", value: 7 },
      { minute: T0 + MINUTE_MS, name: "sink_dead_letters", labels: "", value: 3 },
      { minute: T0 + MINUTE_MS, name: "events_rejected_total", labels: '{reason="invalid_fields"}', value: 1 },
      // Outside the window, and a metric the series do not keep: left out.
      { minute: T0 - MINUTE_MS, name: "events_accepted_total", labels: "", value: 100 },
      { minute: T0, name: "http_request_duration_seconds_count", labels: "", value: 9 },
    ];
    const { minutes, series } = alignSeries(rows, T0 + 30_000, T0 + 2 * MINUTE_MS + 59_000);
    expect(minutes).toEqual([T0 / 1000, T0 / 1000 + 60, T0 / 1000 + 120]);
    expect(series).toEqual([
      { metric: "events_accepted_total", type: "counter", labels: {}, values: [5, 0, 7] },
      { metric: "events_rejected_total", type: "counter", labels: { reason: "invalid_fields" }, values: [0, 1, 0] },
      { metric: "sink_dead_letters", type: "gauge", labels: {}, values: [null, 3, null] },
    ]);
  });
});
