/** Bindings and variables the Worker and its actors receive (wrangler.toml, .dev.vars). */
import type { ProfileActor } from "./actors/profile-actor";
import type { SettingsSource } from "./model/settings";

export interface Env extends SettingsSource {
  PROFILES: DurableObjectNamespace<ProfileActor>;
  WAREHOUSE: D1Database;
  /** Comma-separated write keys (public, used by pixels and SDKs). */
  WRITE_KEYS?: string;
  /** Comma-separated secret API keys for reads and the catalog. */
  API_KEYS?: string;
  /** HMAC secret for signed email links. */
  LINK_SIGNING_SECRET?: string;
  /** Absolute origin used in emailed links when requests arrive on another host. */
  PUBLIC_BASE_URL?: string;
}
