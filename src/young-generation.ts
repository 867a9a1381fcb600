/**
 * How far V8's young generation (where new objects start) may grow. V8 reads the growth factor at
 * every young-generation collection, so it can change while a command runs; node offers no other
 * handle on the heap's sizes once it is set up.
 */
import { setFlagsFromString } from "node:v8";

/**
 * The young generation stays at its first 1 MB instead of doubling up to 2 x 16 MB. Every run
 * starts with it (src/cli/load-program.ts): fresh pages cost a short run more than the extra
 * collections do. observe's ingest keeps it for its memory (src/observe/memory-budget.ts).
 */
export const SMALL_YOUNG_GENERATION = "--semi-space-growth-factor=1";

/**
 * V8's own growth (doubling, up to 2 x 16 MB), for a command that allocates at a steady high rate
 * for seconds: a 262,144-probe scan took ~9% more CPU with the young generation kept small.
 */
export function letYoungGenerationGrow(): void {
  setFlagsFromString("--semi-space-growth-factor=2");
}
