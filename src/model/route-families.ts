/**
 * Route families: the `family` label of the request metrics (`console`: the
 * operator console's page and files). A handful of
 * fixed values, never the path itself, so a scan of made-up URLs cannot grow
 * the number of series.
 */
const INGEST = /^\/v1\/(batch|import|track|identify|page|screen|group|alias)$/;

const PREFIXES: readonly [string, string][] = [
  ["/v1/pixel/", "pixel"],
  ["/o/", "email"],
  ["/c/", "email"],
  ["/v1/merge/", "merge"],
  ["/v1/profiles", "profiles"],
  ["/v1/catalog/", "catalog"],
  ["/v1/experiments", "experiments"],
  ["/v1/audiences", "audiences"],
  ["/v1/computed-traits", "audiences"],
  ["/v1/tracking-plan", "quality"],
  ["/v1/quality", "quality"],
  ["/v1/sink/", "operations"],
  ["/v1/quarantine", "operations"],
  ["/v1/regulations", "operations"],
  ["/v1/identity", "operations"],
  ["/metrics", "metrics"],
  ["/healthz", "health"],
  ["/t.js", "tracker"],
  ["/console/", "console"],
];

export function routeFamily(path: string): string {
  if (INGEST.test(path)) return "ingest";
  if (path === "/") return "console";
  for (const [prefix, family] of PREFIXES) if (path.startsWith(prefix)) return family;
  return "other";
}

/** `2xx`, `4xx`, …: the status label, by class. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
