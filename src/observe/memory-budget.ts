/**
 * Keeps a long ingest (a 10-million-packet file, a live capture that runs for days) within a small
 * memory footprint. The data moat keeps is small (a heap snapshot mid-ingest holds ~27 MB); what
 * made a 10M-packet ingest peak at ~400 MB was slack around it, in two places:
 *
 * - V8's heap. The ingest allocates ~1.5 KB per packet, nearly all short-lived. By default V8 lets
 *   the young generation grow to 2 x 16 MB and the old one to ~4x its live size before collecting,
 *   ~150 MB of heap for ~30 MB of data. Node offers no API for these sizes once running (the
 *   command-line flags are read when the heap is set up), but V8 reads two growth settings at every
 *   collection: the young generation stays at its initial 1 MB (`--semi-space-growth-factor=1`),
 *   and the old one may grow by half its live size before a full collection
 *   (`--heap-growing-percent=50`).
 * - DuckDB's allocator (its own jemalloc). A commit and a checkpoint allocate and free tens of MB;
 *   jemalloc keeps freed pages for a while to reuse them, ~50 MB resident at any time. With decay 0
 *   it returns them at once. DuckDB reads DUCKDB_JE_MALLOC_CONF when its library loads, so this
 *   must run before the first `import("@duckdb/node-api")`; a value the user set is kept.
 *
 * Measured on the 10M-packet benchmark capture (bench/observe): see bench/observe/README.md.
 * The price is CPU: more, smaller collections and page faults.
 */
import { setFlagsFromString } from "node:v8";

export const V8_HEAP_FLAGS = ["--semi-space-growth-factor=1", "--heap-growing-percent=50"] as const;
export const DUCKDB_ALLOCATOR_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0";

/** Call early, before the ingest allocates and before DuckDB loads. Calling it again changes nothing. */
export function keepIngestMemorySmall(env: NodeJS.ProcessEnv = process.env): void {
  for (const flag of V8_HEAP_FLAGS) setFlagsFromString(flag);
  env.DUCKDB_JE_MALLOC_CONF ??= DUCKDB_ALLOCATOR_CONF;
}
