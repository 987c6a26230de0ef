/**
 * The operators' Grafana dashboard (docs/grafana/edge-profiles.json) against
 * what `GET /metrics` exposes: every query names a series and labels the
 * service emits, every metric is on some panel, counters are graphed as
 * rates, and the dashboard imports with one Prometheus data source.
 */
import { describe, expect, it } from "vitest";
import dashboard from "../../docs/grafana/edge-profiles.json";
import { METRIC_PREFIX, METRICS, type MetricName } from "../../src/model/metrics";
import { routeFamily } from "../../src/model/route-families";

interface DataSourceRef {
  type: string;
  uid: string;
}

interface Target {
  expr: string;
  legendFormat?: string;
  datasource?: DataSourceRef;
}

interface ThresholdStep {
  color: string;
  value: number | null;
}

interface ValueMapping {
  type: string;
  options: Readonly<Record<string, { text?: string; color?: string }>>;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: DataSourceRef;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: readonly Target[];
  fieldConfig?: { defaults: { thresholds?: { steps: readonly ThresholdStep[] }; mappings?: readonly ValueMapping[] } };
}

interface Dashboard {
  __inputs: readonly { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  panels: readonly Panel[];
  templating: { list: readonly { name: string; datasource: DataSourceRef; definition: string }[] };
}

const board: Dashboard = dashboard;
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, replaced when the dashboard is imported.
const DATASOURCE: DataSourceRef = { type: "prometheus", uid: "${DS_PROMETHEUS}" };

/**
 * The labels each metric is emitted with: src/app.ts (request latency and
 * overload answers), src/routes/ingest-pipeline.ts (events), src/routes/merge.ts
 * (merge calls) and src/routes/metrics.ts (sink counters and every gauge).
 * Keyed by `MetricName`, so a metric added to `METRICS` fails to compile here
 * until its labels are written down.
 */
const LABELS: Record<MetricName, readonly string[]> = {
  events_accepted_total: [],
  events_rejected_total: ["reason"],
  events_flagged_total: [],
  events_suppressed_total: [],
  events_throttled_total: [],
  requests_overloaded_total: ["family", "status"],
  merge_calls_total: ["strategy"],
  http_request_duration_seconds: ["family", "code"],
  sink_batches_total: [],
  sink_rows_written_total: ["table"],
  sink_lag_seconds: [],
  sink_last_batch_age_seconds: [],
  sink_dead_letters: [],
  outbox_pending_runs: [],
  lake_pending_events: [],
  quarantine_messages: ["reason"],
  quality_check_status: ["check"],
  quality_last_run_timestamp_seconds: [],
  experiments: ["status"],
  audiences: [],
  audience_members: ["audience"],
  alerts_open: [],
};

interface Series {
  metric: MetricName;
  /** A counter, or a histogram's `_bucket`/`_sum`/`_count`: only meaningful as a rate. */
  monotonic: boolean;
  labels: readonly string[];
}

/** Every series name the exposition can hold, as Prometheus stores it. */
const SERIES = new Map<string, Series>();
for (const [name, info] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
  const labels = LABELS[name];
  if (info.type === "histogram") {
    SERIES.set(`${METRIC_PREFIX}${name}_bucket`, { metric: name, monotonic: true, labels: [...labels, "le"] });
    SERIES.set(`${METRIC_PREFIX}${name}_sum`, { metric: name, monotonic: true, labels });
    SERIES.set(`${METRIC_PREFIX}${name}_count`, { metric: name, monotonic: true, labels });
  } else {
    SERIES.set(`${METRIC_PREFIX}${name}`, { metric: name, monotonic: info.type === "counter", labels });
  }
}

interface Query {
  where: string;
  expr: string;
  legend?: string;
}

const panels = board.panels.filter((p) => p.type !== "row");
const panelQueries: Query[] = panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr, legend: t.legendFormat })),
);
/** Panels' queries and the variables' `label_values(…)`, which list label values rather than graph samples. */
const queries: Query[] = [
  ...panelQueries,
  ...board.templating.list.map((v) => ({ where: `$${v.name}`, expr: v.definition })),
];

const SERIES_NAME = new RegExp(`\\b${METRIC_PREFIX}[a-z_]+`, "g");

function seriesIn(expr: string): { name: string; at: number }[] {
  return [...expr.matchAll(SERIES_NAME)].map((m) => ({ name: m[0], at: m.index }));
}

/** Label names inside `by (…)` / `without (…)` clauses, one list per clause. */
function groupings(expr: string): string[][] {
  return [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].map((m) => names(m[1] ?? ""));
}

function names(list: string): string[] {
  return list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The function whose argument list holds position `at`, e.g. `rate` for `sum(rate(x[5m]))` at x. */
function enclosingFunction(expr: string, at: number): string | undefined {
  let depth = 0;
  for (let i = at - 1; i >= 0; i--) {
    if (expr[i] === ")") depth++;
    else if (expr[i] === "(") {
      if (depth === 0) return /([a-z_]+)\s*$/.exec(expr.slice(0, i))?.[1];
      depth--;
    }
  }
  return undefined;
}

function panelQuerying(metric: string): Panel {
  const panel = panels.find((p) => (p.targets ?? []).some((t) => t.expr.includes(`${METRIC_PREFIX}${metric}`)));
  if (!panel) throw new Error(`no panel queries ${metric}`);
  return panel;
}

describe("the operators' Grafana dashboard", () => {
  it("imports with one Prometheus data source input that every panel, query and variable uses", () => {
    expect(board.schemaVersion).toBe(39);
    expect(board.__inputs).toEqual([
      expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }),
    ]);
    const same = (ref: DataSourceRef | undefined) => ref?.type === DATASOURCE.type && ref.uid === DATASOURCE.uid;
    const elsewhere = [
      ...panels.filter((p) => !same(p.datasource)).map((p) => p.title),
      ...panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource && !same(t.datasource)).map(() => p.title)),
      ...board.templating.list.filter((v) => !same(v.datasource)).map((v) => `$${v.name}`),
    ];
    expect(elsewhere).toEqual([]);
  });

  it("gives every panel a unique id, a title, a description and at least one query", () => {
    const ids = board.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const lacking = panels
      .filter((p) => !p.title || !p.description?.trim() || (p.targets ?? []).every((t) => !t.expr.trim()))
      .map((p) => p.title || `panel ${p.id}`);
    expect(lacking).toEqual([]);
  });

  it("lays panels out within 24 columns, none covering another", () => {
    const overlaps: string[] = [];
    board.panels.forEach((a, i) => {
      expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
      for (const b of board.panels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        if (!apart) overlaps.push(`${a.title} / ${b.title}`);
      }
    });
    expect(overlaps).toEqual([]);
  });

  it("queries only series the service exposes", () => {
    const unknown = queries.flatMap((q) =>
      seriesIn(q.expr)
        .filter((s) => !SERIES.has(s.name))
        .map((s) => `${q.where}: ${s.name}`),
    );
    expect(unknown).toEqual([]);
  });

  it("shows every metric the service exposes on at least one panel", () => {
    const shown = new Set(
      panels.flatMap((p) => (p.targets ?? []).flatMap((t) => seriesIn(t.expr).map((s) => SERIES.get(s.name)?.metric))),
    );
    expect(Object.keys(METRICS).filter((m) => !shown.has(m as MetricName))).toEqual([]);
  });

  it("filters and groups only by labels the metric carries", () => {
    const wrong: string[] = [];
    for (const q of queries) {
      const used = seriesIn(q.expr);
      for (const m of q.expr.matchAll(new RegExp(`(${SERIES_NAME.source})\\{([^}]*)\\}`, "g"))) {
        const carried = SERIES.get(m[1] ?? "")?.labels ?? [];
        for (const label of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) {
          if (!carried.includes(label[1] ?? "")) wrong.push(`${q.where}: ${m[1]}{${label[1]}}`);
        }
      }
      const carried = new Set(used.flatMap((s) => SERIES.get(s.name)?.labels ?? []));
      for (const label of groupings(q.expr).flat()) {
        if (!carried.has(label)) wrong.push(`${q.where}: by (${label})`);
      }
      const variable = /label_values\(\s*[a-z_]+\s*,\s*([a-z_]+)\s*\)/.exec(q.expr);
      if (variable && !carried.has(variable[1] ?? "")) wrong.push(`${q.where}: label_values(…, ${variable[1]})`);
    }
    expect(wrong).toEqual([]);
  });

  it("names in legends only labels the query keeps", () => {
    const empty = queries.flatMap((q) => {
      const clauses = groupings(q.expr);
      const kept = (label: string) =>
        clauses.length > 0
          ? clauses.every((c) => c.includes(label))
          : seriesIn(q.expr).some((s) => SERIES.get(s.name)?.labels.includes(label));
      return [...(q.legend ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)]
        .filter((m) => !kept(m[1] ?? ""))
        .map((m) => `${q.where}: {{${m[1]}}}`);
    });
    expect(empty).toEqual([]);
  });

  it("graphs counters and histogram series only as a rate or increase over a range", () => {
    const raw = panelQueries.flatMap((q) =>
      seriesIn(q.expr)
        .filter((s) => SERIES.get(s.name)?.monotonic)
        .filter((s) => {
          const fn = enclosingFunction(q.expr, s.at);
          const ranged = /^(\{[^}]*\})?\[[^\]]+\]/.test(q.expr.slice(s.at + s.name.length));
          return !(fn === "rate" || fn === "increase") || !ranged;
        })
        .map((s) => `${q.where}: ${s.name}`),
    );
    expect(raw).toEqual([]);
  });

  it("takes latency quantiles from bucket rates summed by le", () => {
    const quantiles = queries.filter((q) => q.expr.includes("histogram_quantile("));
    expect(quantiles.length).toBeGreaterThan(0);
    for (const q of quantiles) {
      expect(
        seriesIn(q.expr).every((s) => s.name.endsWith("_bucket")),
        q.where,
      ).toBe(true);
      expect(groupings(q.expr)[0], q.where).toContain("le");
    }
  });

  it("defines every $variable a query uses", () => {
    const defined = new Set(["__rate_interval", "__interval", ...board.templating.list.map((v) => v.name)]);
    const undefinedVars = queries.flatMap((q) =>
      [...q.expr.matchAll(/\$(\w+)/g)].filter((m) => !defined.has(m[1] ?? "")).map((m) => `${q.where}: $${m[1]}`),
    );
    expect(undefinedVars).toEqual([]);
  });

  it("reads the merge p95 stat from the family the merge route is counted under", () => {
    const stat = panels.find((p) => p.type === "stat" && p.title.toLowerCase().includes("merge"));
    expect(stat?.targets?.[0]?.expr).toContain(`family="${routeFamily("/v1/merge/person-1")}"`);
    expect(stat?.targets?.[0]?.expr).toContain("histogram_quantile(0.95,");
  });

  it("colours each quality check 0 pass green, 1 warn yellow, 2 fail red", () => {
    const mapping = panelQuerying("quality_check_status").fieldConfig?.defaults.mappings?.find(
      (m) => m.type === "value",
    );
    expect(mapping?.options).toEqual({
      0: expect.objectContaining({ text: "pass", color: "green" }),
      1: expect.objectContaining({ text: "warn", color: "yellow" }),
      2: expect.objectContaining({ text: "fail", color: "red" }),
    });
  });

  it("turns dead letters and open alerts red from the first one", () => {
    for (const metric of ["sink_dead_letters", "alerts_open"]) {
      const panel = panelQuerying(metric);
      expect(panel.type, metric).toBe("stat");
      expect(panel.fieldConfig?.defaults.thresholds?.steps, metric).toEqual([
        { color: "green", value: null },
        { color: "red", value: 1 },
      ]);
    }
  });

  it("shows the quality run's age, not its timestamp", () => {
    const expr = panelQuerying("quality_last_run_timestamp_seconds").targets?.[0]?.expr ?? "";
    expect(expr).toMatch(/^time\(\) - \w*\(?edge_profiles_quality_last_run_timestamp_seconds\)?$/);
  });
});
