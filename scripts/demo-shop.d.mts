/** Types for scripts/demo-shop.mjs, used by the browser end-to-end test. */
export declare function startDemoShop(options: {
  service: string;
  writeKey: string;
  port?: number;
}): Promise<{ url: string; stop(): Promise<void> }>;
