/**
 * What a million ingested events and a million merge calls would cost on
 * Cloudflare's Workers Paid plan, from the work the benchmark measured and
 * the published prices (beyond the plan's included amounts), as of 2026-12:
 *
 *   - Workers: $0.30 per million requests, $0.02 per million CPU milliseconds
 *     (developers.cloudflare.com/workers/platform/pricing/);
 *   - Durable Objects: $0.15 per million requests, each RPC call one request;
 *     duration $12.50 per million GB-s, billed only while a call runs for an
 *     object that can hibernate (developers.cloudflare.com/durable-objects/platform/pricing/);
 *   - Queues: $0.40 per million operations, a message being written, read and
 *     deleted (three per message up to 64 KB) (developers.cloudflare.com/queues/platform/pricing/);
 *   - D1: $1.00 per million rows written (developers.cloudflare.com/d1/platform/pricing/).
 *
 * CPU is the local workerd's process CPU per unit of work, which includes
 * what Cloudflare runs outside the Worker (Miniflare's D1, Queue and R2
 * simulators live in the same process): an upper bound on the billed CPU.
 * Not counted: actor duration (a few ms per call at 128 MB: under $0.01 per
 * million calls), actor SQLite rows written, R2 writes of the raw lake (one
 * object per consumer batch), and the plan's $5 a month.
 */
const PRICE = {
  workerRequest: 0.3 / 1e6,
  workerCpuMs: 0.02 / 1e6,
  actorRequest: 0.15 / 1e6,
  queueOperation: 0.4 / 1e6,
  d1RowWritten: 1 / 1e6,
};

const dollars = (x) => Math.round(x * 1000) / 1000;

function line(what, perUnit) {
  const parts = {
    workerRequests: perUnit.workerRequests * PRICE.workerRequest * 1e6,
    workerCpu: (perUnit.cpuMicros / 1000) * PRICE.workerCpuMs * 1e6,
    actorRequests: perUnit.actorRequests * PRICE.actorRequest * 1e6,
    queueOperations: perUnit.queueOperations * PRICE.queueOperation * 1e6,
    d1RowsWritten: perUnit.d1Rows * PRICE.d1RowWritten * 1e6,
  };
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { what, ...Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, dollars(v)])), total: dollars(total) };
}

/**
 * Per event of browser-like ingest (20 events a request): one Worker request
 * and one actor call per 20 events; the actor sends one Queue message per
 * call, and the consumer confirms it with one more actor call; D1 rows per
 * event as the consumer wrote them under server-like load.
 */
export function billPerMillion(results) {
  const rowsPerEvent = results.sinkAfterServerLike.rowsPerEvent ?? 1;
  return [
    line("events, browser-like (20 per request)", {
      workerRequests: 1 / 20,
      cpuMicros: results.ingestBrowser.cpu.microsPerUnit,
      actorRequests: 2 / 20,
      queueOperations: 3 / 20,
      d1Rows: rowsPerEvent,
    }),
    line("events, server-like (100 across 50 people)", {
      workerRequests: 1 / 100,
      cpuMicros: results.ingestServer.cpu.microsPerUnit,
      actorRequests: (2 * 50) / 100,
      queueOperations: (3 * 50) / 100,
      d1Rows: rowsPerEvent,
    }),
    line("merge calls by user id", {
      workerRequests: 1,
      cpuMicros: results.merge.cpu.microsPerUnit,
      actorRequests: 1,
      queueOperations: 0,
      d1Rows: 0,
    }),
  ];
}
