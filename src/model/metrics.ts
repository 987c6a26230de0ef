/**
 * The service's metrics in the Prometheus text exposition format (version
 * 0.0.4: `# HELP`, `# TYPE`, one sample per line, histograms as cumulative
 * `_bucket{le=…}` series with `_sum` and `_count`).
 *
 * Counting is split from rendering so that the numbers are global: each
 * isolate counts into a `MetricsTally` and adds it to D1 now and then
 * (observability/metrics-recorder.ts); `GET /metrics` renders the summed rows
 * with the gauges read at scrape time. Label sets are written once, in a
 * canonical order, so the same series from two isolates lands in one row.
 */

export const METRIC_PREFIX = "edge_profiles_";

/** Request latency buckets in seconds: from a warm merge call (ms) to an ingest batch near its budget. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricInfo {
  type: MetricType;
  help: string;
}

/** Every metric this service exposes: the exposition's HELP and TYPE lines, and the dashboard's inventory. */
export const METRICS = {
  events_accepted_total: { type: "counter", help: "Messages accepted by the ingestion routes." },
  events_rejected_total: { type: "counter", help: "Messages rejected and quarantined, by reason code." },
  events_flagged_total: { type: "counter", help: "Messages stored with tracking-plan violations marked on them." },
  events_suppressed_total: {
    type: "counter",
    help: "Events dropped because a privacy regulation suppresses their person.",
  },
  events_throttled_total: { type: "counter", help: "Messages refused because their person sent faster than allowed." },
  requests_overloaded_total: {
    type: "counter",
    help: "Requests answered 503 or 429 because the service was saturated.",
  },
  merge_calls_total: { type: "counter", help: "ESP merge-tag calls, by recommendation strategy." },
  http_request_duration_seconds: { type: "histogram", help: "Time to answer a request, by route family." },
  sink_batches_total: { type: "counter", help: "Queue batches the sink consumer applied to the warehouse." },
  sink_rows_written_total: { type: "counter", help: "Warehouse rows the sink inserted or updated, by table." },
  sink_lag_seconds: { type: "gauge", help: "Age of the oldest change in the last applied batch when it was written." },
  sink_last_batch_age_seconds: { type: "gauge", help: "Time since the sink consumer last applied a batch." },
  sink_dead_letters: { type: "gauge", help: "Change messages that failed every retry and wait in dead_letters." },
  outbox_pending_runs: {
    type: "gauge",
    help: "Outbox runs (one actor's change records each) held in the sink buffers on their way to the Queue.",
  },
  lake_pending_events: { type: "gauge", help: "Warehouse events not yet written to the raw lake." },
  quarantine_messages: { type: "gauge", help: "Quarantined messages waiting for an operator, by reason code." },
  quality_check_status: { type: "gauge", help: "Latest quality run per check: 0 pass, 1 warn, 2 fail." },
  quality_last_run_timestamp_seconds: { type: "gauge", help: "When the latest quality run finished." },
  experiments: { type: "gauge", help: "Experiments, by status." },
  audiences: { type: "gauge", help: "Audiences defined." },
  audience_members: { type: "gauge", help: "People in each audience now." },
  alerts_open: { type: "gauge", help: "Alert incidents open now." },
} as const satisfies Record<string, MetricInfo>;

export type MetricName = keyof typeof METRICS;

export type Labels = Readonly<Record<string, string>>;

/** A label value as the exposition format escapes it: backslash, double quote and line feed. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `{a="1",b="2"}` with names sorted, or "" for no labels: the canonical key of a series. */
export function labelText(labels: Labels): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return "";
  return `{${names.map((n) => `${n}="${escapeLabel(labels[n] ?? "")}"`).join(",")}}`;
}

/** One summed row as D1 keeps it. */
export interface CounterRow {
  name: string;
  labels: string;
  value: number;
}

/**
 * What one isolate counted since its last flush. Histograms are kept as
 * per-bucket counts (not cumulative) so rows from many isolates add up;
 * `render` makes them cumulative.
 */
export class MetricsTally {
  private readonly rows = new Map<string, CounterRow>();

  get size(): number {
    return this.rows.size;
  }

  add(name: MetricName, labels: Labels = {}, value = 1): void {
    this.bump(name, labelText(labels), value);
  }

  /** One observation of a histogram: its bucket, its sum and its count. */
  observe(name: MetricName, labels: Labels, seconds: number): void {
    const bucket = LATENCY_BUCKETS.find((b) => seconds <= b);
    this.bump(`${name}_bucket`, labelText({ ...labels, le: bucket === undefined ? "+Inf" : String(bucket) }), 1);
    const base = labelText(labels);
    this.bump(`${name}_sum`, base, seconds);
    this.bump(`${name}_count`, base, 1);
  }

  /** Everything counted, emptied: the caller adds it to the shared rows. */
  drain(): CounterRow[] {
    const out = [...this.rows.values()];
    this.rows.clear();
    return out;
  }

  /** Puts back rows whose flush failed, so no count is lost with a D1 error. */
  restore(rows: readonly CounterRow[]): void {
    for (const r of rows) this.bump(r.name, r.labels, r.value);
  }

  private bump(name: string, labels: string, value: number) {
    const key = `${name}${labels}`;
    const held = this.rows.get(key);
    if (held) held.value += value;
    else this.rows.set(key, { name, labels, value });
  }
}

/** A gauge's value read at scrape time. */
export interface GaugeSample {
  name: MetricName;
  labels?: Labels;
  value: number;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/** The `le` of a stored bucket row, for ordering (`+Inf` last). */
function leOf(labels: string): number {
  const m = /le="([^"]*)"/.exec(labels);
  return m?.[1] === undefined || m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]);
}

function withoutLe(labels: string): string {
  const rest = labels
    .slice(1, -1)
    .split(/,(?=[a-z_]+=")/)
    .filter((p) => p !== "" && !p.startsWith("le="));
  return rest.length === 0 ? "" : `{${rest.join(",")}}`;
}

/** Histogram bucket rows made cumulative, every bucket present for every series. */
function cumulativeBuckets(name: string, rows: readonly CounterRow[]): string[] {
  const series = new Map<string, Map<number, number>>();
  for (const r of rows) {
    const base = withoutLe(r.labels);
    const buckets = series.get(base) ?? new Map<number, number>();
    buckets.set(leOf(r.labels), (buckets.get(leOf(r.labels)) ?? 0) + r.value);
    series.set(base, buckets);
  }
  const lines: string[] = [];
  for (const [base, buckets] of [...series].sort(([a], [b]) => a.localeCompare(b))) {
    let total = 0;
    for (const le of [...LATENCY_BUCKETS, Number.POSITIVE_INFINITY]) {
      total += buckets.get(le) ?? 0;
      const leLabel = `le="${le === Number.POSITIVE_INFINITY ? "+Inf" : String(le)}"`;
      const labels = base === "" ? `{${leLabel}}` : `${base.slice(0, -1)},${leLabel}}`;
      lines.push(`${METRIC_PREFIX}${name}_bucket${labels} ${formatValue(total)}`);
    }
  }
  return lines;
}

/**
 * The exposition: every known metric with its HELP and TYPE, then its
 * samples. Counters and histograms come from the summed rows, gauges from
 * the scrape. A counter nobody has counted yet is shown at 0 (unlabelled)
 * so a query over it finds the series from the first scrape.
 */
export function renderExposition(counters: readonly CounterRow[], gauges: readonly GaugeSample[]): string {
  const byName = new Map<string, CounterRow[]>();
  for (const r of counters) {
    const list = byName.get(r.name);
    if (list) list.push(r);
    else byName.set(r.name, [r]);
  }
  const lines: string[] = [];
  for (const [name, info] of Object.entries(METRICS) as [MetricName, MetricInfo][]) {
    const full = `${METRIC_PREFIX}${name}`;
    lines.push(`# HELP ${full} ${info.help}`, `# TYPE ${full} ${info.type}`);
    if (info.type === "counter") {
      const rows = byName.get(name) ?? [{ name, labels: "", value: 0 }];
      for (const r of [...rows].sort((a, b) => a.labels.localeCompare(b.labels))) {
        lines.push(`${full}${r.labels} ${formatValue(r.value)}`);
      }
    } else if (info.type === "histogram") {
      lines.push(...cumulativeBuckets(name, byName.get(`${name}_bucket`) ?? []));
      for (const suffix of ["_sum", "_count"]) {
        for (const r of byName.get(`${name}${suffix}`) ?? []) {
          lines.push(`${full}${suffix}${r.labels} ${formatValue(r.value)}`);
        }
      }
    } else {
      for (const g of gauges.filter((s) => s.name === name)) {
        lines.push(`${full}${labelText(g.labels ?? {})} ${formatValue(g.value)}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}
