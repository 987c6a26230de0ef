/** Types for scripts/local-server.mjs, used by the TypeScript end-to-end tests. */
export declare const E2E_KEYS: {
  writeKey: string;
  browserKey: string;
  identitySecret: string;
  apiKey: string;
  linkSecret: string;
  metricsKey: string;
};
export declare function freePort(): Promise<number>;
export interface LocalServer {
  url: string;
  port: number;
  persistDir: string;
  pid: number;
  stop(): Promise<void>;
}
export declare function startLocalServer(options?: {
  port?: number;
  persistDir?: string;
  vars?: Record<string, string>;
  /** Extra `wrangler dev` arguments, e.g. `["--log-level", "warn"]`. */
  args?: string[];
  log?: (line: string) => void;
}): Promise<LocalServer>;
/** `npm start`'s production runtime (scripts/start.mjs) on a free port with its own state directory. */
export declare function startProductionServer(options?: {
  port?: number;
  persistDir?: string;
  vars?: Record<string, string>;
  log?: (line: string) => void;
}): Promise<LocalServer>;
