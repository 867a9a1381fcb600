/**
 * Keeps the JavaScript heap of a long ingest (a 10-million-packet file, a live capture that runs
 * for days) close to the data it holds. The data is small (a heap snapshot mid-ingest holds ~27 MB),
 * but the ingest allocates ~1.5 KB per packet, nearly all short-lived, and by default V8 lets the
 * young generation grow to 2 x 16 MB and the old one to ~4x its live size before collecting: ~150 MB
 * of heap for ~30 MB of data. Node offers no API for these sizes once running (the command-line
 * flags are read when the heap is set up), but V8 reads two growth settings at every collection:
 * the young generation stays at its initial 1 MB (`--semi-space-growth-factor=1`), and the old one
 * may grow by half its live size before a full collection (`--heap-growing-percent=50`).
 *
 * Process-wide, so the commands that run an ingest call it (src/cli/observe*.ts), not the ingest.
 * DuckDB's side of the budget is the store's (src/store/duckdb-store.ts). Measured on the 10M-packet
 * benchmark capture: bench/observe/README.md. The price is CPU: more, smaller collections.
 */
import { setFlagsFromString } from "node:v8";
import { SMALL_YOUNG_GENERATION } from "../young-generation.js";

export const V8_HEAP_FLAGS = [SMALL_YOUNG_GENERATION, "--heap-growing-percent=50"] as const;

/** Call early, before the ingest allocates. Calling it again changes nothing. */
export function keepIngestMemorySmall(): void {
  for (const flag of V8_HEAP_FLAGS) setFlagsFromString(flag);
}
