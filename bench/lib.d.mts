// Types of bench/lib.mjs, so TypeScript benchmarks and generators share its statistics and PRNG.

/** Median, min and max of a list of timings. */
export function stats(values: readonly number[]): { median: number; min: number; max: number };

/** mulberry32: a small seeded PRNG, floats in [0, 1). */
export function prng(seed: number): () => number;
