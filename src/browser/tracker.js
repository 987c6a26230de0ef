/*! edge-profiles tracker (GET /t.js): page(), track(), identify(), reset(), flush() */
// A classic script with no build step: the Worker serves this file's text as
// is (wrangler [[rules]] type = "Text"), so it is written in the ES2020 every
// current browser runs. Messages follow the Segment spec and go to /v1/batch
// as text/plain JSON with the write key in the body: the request sendBeacon
// sends, which needs no CORS preflight and survives the page going away.
((w, d) => {
  const stub = w.edgeProfiles;
  if (stub?.loaded) return;

  const script = d.currentScript ?? d.querySelector('script[src*="/t.js"]');
  const src = new URL(script?.src ?? location.href, location.href);
  const writeKey = script?.getAttribute("data-write-key") ?? src.searchParams.get("writeKey") ?? "";
  const endpoint = `${script?.getAttribute("data-api-host") ?? src.origin}/v1/batch`;

  // Batches stay well under sendBeacon's 64 KB in flight and the service's limits.
  const MAX_BATCH = 50;
  const MAX_BYTES = 48_000;
  const FLUSH_MS = 1000;
  const KEPT_MESSAGES = 500;
  const YEAR_SECONDS = 31_536_000;
  const KEYS = { anon: "ep_aid", user: "ep_uid", queue: "ep_queue" };

  const stored = (key) => {
    try {
      return w.localStorage.getItem(key);
    } catch {
      return null;
    }
  };
  const store = (key, value) => {
    try {
      if (value === null) w.localStorage.removeItem(key);
      else w.localStorage.setItem(key, value);
    } catch {
      // Storage refused (private mode, quota): the cookie still carries the anonymous id.
    }
  };
  const cookie = (name) => d.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`))?.[1] ?? null;
  const setCookie = (name, value) => {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    d.cookie = `${name}=${encodeURIComponent(value)}; Max-Age=${YEAR_SECONDS}; Path=/; SameSite=Lax${secure}`;
  };

  const uuid = () => {
    if (w.crypto.randomUUID) return w.crypto.randomUUID();
    // Plain-http pages have no randomUUID: build a version-4 id from random bytes.
    const b = w.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const hex = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };

  /** The visitor's first-party anonymous id: a cookie on the shop's own domain, mirrored in localStorage. */
  const anonymousId = (fresh) => {
    const id = (!fresh && (decodeURIComponent(cookie(KEYS.anon) ?? "") || stored(KEYS.anon))) || uuid();
    setCookie(KEYS.anon, id);
    store(KEYS.anon, id);
    return id;
  };

  /** Messages a previous page could not hand over. */
  const pending = () => {
    try {
      const kept = JSON.parse(stored(KEYS.queue) ?? "[]");
      return Array.isArray(kept) ? kept : [];
    } catch {
      return [];
    }
  };
  /** What could not be sent waits for the next page view, rather than being retried in a loop through an outage. */
  const keep = (batch) => store(KEYS.queue, JSON.stringify([...pending(), ...batch].slice(-KEPT_MESSAGES)));

  let anonId = anonymousId(false);
  let userId = stored(KEYS.user);
  let timer = null;
  const queue = pending();
  store(KEYS.queue, null);

  const pageContext = () => ({
    path: location.pathname,
    referrer: d.referrer,
    search: location.search,
    title: d.title,
    url: location.href,
  });

  const post = (batch, leaving) => {
    const body = JSON.stringify({ batch, sentAt: new Date().toISOString(), writeKey });
    if (navigator.sendBeacon?.(endpoint, body)) return;
    if (leaving || !w.fetch) return keep(batch);
    w.fetch(endpoint, {
      method: "POST",
      body,
      keepalive: true,
      credentials: "omit",
      headers: { "content-type": "text/plain" },
    })
      .then((res) => {
        // The service quarantines what it rejects; only an outage is worth trying again.
        if (res.status >= 500 || res.status === 429) keep(batch);
      })
      .catch(() => keep(batch));
  };

  /** Sends everything queued, in batches; `leaving` when the page is going away. */
  const flush = (leaving) => {
    clearTimeout(timer);
    timer = null;
    while (queue.length > 0) {
      const batch = [];
      let bytes = 0;
      while (queue.length > 0 && batch.length < MAX_BATCH) {
        const size = JSON.stringify(queue[0]).length;
        if (batch.length > 0 && bytes + size > MAX_BYTES) break;
        bytes += size;
        batch.push(queue.shift());
      }
      post(batch, leaving);
    }
  };

  const enqueue = (type, fields, moreContext) => {
    queue.push({
      type,
      messageId: uuid(),
      timestamp: new Date().toISOString(),
      anonymousId: anonId,
      ...(userId ? { userId } : {}),
      context: {
        page: pageContext(),
        library: { name: "edge-profiles.js", version: "1.0.0" },
        locale: navigator.language,
        userAgent: navigator.userAgent,
        screen: { width: w.screen.width, height: w.screen.height },
        ...moreContext,
      },
      ...fields,
    });
    if (queue.length >= MAX_BATCH) flush(false);
    else timer ??= setTimeout(() => flush(false), FLUSH_MS);
  };

  const isObject = (v) => typeof v === "object" && v !== null;

  const api = {
    loaded: true,
    /** page([name], [properties]) */
    page(name, properties) {
      const [n, p] = isObject(name) ? [undefined, name] : [name, properties];
      enqueue("page", { ...(n ? { name: String(n) } : {}), properties: { ...pageContext(), ...p } });
    },
    /** track(event, [properties]) */
    track(event, properties) {
      enqueue("track", { event: String(event), properties: { ...properties } });
    },
    /**
     * identify([userId], [traits], [options]): this browser's anonymous id belongs to the user from now on.
     * options.userHash: the user's identity-verification hash from the shop's server, needed to change
     * an existing user's traits from the browser.
     */
    identify(id, traits, options) {
      const [u, t, o] = isObject(id) ? [null, id, traits] : [id, traits, options];
      if (u !== null && u !== undefined && u !== "") {
        userId = String(u);
        store(KEYS.user, userId);
      }
      const hash = isObject(o) && typeof o.userHash === "string" ? o.userHash : null;
      enqueue("identify", { traits: { ...t } }, hash ? { userHash: hash } : {});
    },
    /** reset(): someone else uses this browser now; forget the user and start a new anonymous id. */
    reset() {
      flush(false);
      userId = null;
      store(KEYS.user, null);
      anonId = anonymousId(true);
    },
    flush() {
      flush(false);
    },
    anonymousId: () => anonId,
    userId: () => userId,
  };

  w.edgeProfiles = api;
  // Replay what the page asked for before this script arrived (the loader snippet queues calls).
  for (const call of Array.isArray(stub) ? stub : []) {
    if (Array.isArray(call) && typeof api[call[0]] === "function") api[call[0]](...call.slice(1));
  }
  if (queue.length > 0) flush(false);

  w.addEventListener("pagehide", () => flush(true));
  d.addEventListener("visibilitychange", () => {
    if (d.visibilityState === "hidden") flush(true);
  });
})(window, document);
