/**
 * Top-k heavy hitters of a stream (top sources, top victims) in bounded memory: Misra–Gries with
 * batched decrements. Up to 2k counters are held; when a new key would make 2k + 1, every counter
 * drops by the (k+1)-th largest count and those at or below zero go, which leaves at most k. Each
 * such step removes that amount from at least k + 1 counters, so the total decrement D stays below
 * N / (k + 1): any key seen more than N / k times is always held, and its reported count
 * (counter + D) overestimates by at most D.
 *
 * Why not Space-Saving with a heap (the first version): under a flood of unique, spoofed sources
 * every packet evicted the minimum and sifted it through the heap, a quarter of ingest time; here a
 * new key is one Map insert, and the sort every k new keys costs O(log k) per key.
 */

import { type AddressKey, addressText } from "./address.js";

export interface HeavyHitter {
  /** The address as text. */
  key: string;
  /** Upper bound of the key's true count. */
  count: number;
  /** The count may exceed the true count by up to this much: `count - error` is a lower bound. */
  error: number;
}

/** What the store keeps of a summary, so that rows of one bucket from two ingests merge exactly. */
export interface HeavyState {
  decremented: number;
  keys: AddressKey[];
  counts: number[];
}

export class HeavyHitters {
  readonly capacity: number;
  private counters = new Map<AddressKey, number>();
  private decremented = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Counters held (at most 2 × capacity). */
  get size(): number {
    return this.counters.size;
  }

  add(key: AddressKey, weight = 1): void {
    const count = this.counters.get(key);
    if (count !== undefined) {
      this.counters.set(key, count + weight);
      return;
    }
    if (this.counters.size >= 2 * this.capacity) this.shrink();
    this.counters.set(key, weight);
  }

  /**
   * Union with another summary (Agarwal et al., "Mergeable Summaries", 2012): counters summed and cut
   * back as in `add`, decrements summed, so the bound still holds for the combined stream.
   */
  merge(other: HeavyHitters): void {
    // forEach, not for-of over entries: no [key, count] pair allocated per counter.
    other.counters.forEach((count, key) => {
      this.add(key, count);
    });
    this.decremented += other.decremented;
  }

  toState(): HeavyState {
    return {
      decremented: this.decremented,
      keys: [...this.counters.keys()],
      counts: [...this.counters.values()],
    };
  }

  /** A summary from a stored state; more counters than `capacity` allows are cut back as `add` would. */
  static fromState(state: HeavyState, capacity: number): HeavyHitters {
    const h = new HeavyHitters(capacity);
    for (let i = 0; i < state.keys.length; i++) h.add(state.keys[i]!, state.counts[i] ?? 0);
    h.decremented += state.decremented;
    return h;
  }

  /** The largest entries, largest first (ties by text, for stable output); at most `capacity`. */
  top(n = this.capacity): HeavyHitter[] {
    const limit = Math.min(n, this.capacity);
    if (limit <= 0 || this.counters.size === 0) return [];
    // Text only for the entries that can make the list: those counting at least the limit-th largest.
    const counts = Float64Array.from(this.counters.values()).sort();
    const floor = counts[Math.max(0, counts.length - limit)]!;
    const d = this.decremented;
    const entries: HeavyHitter[] = [];
    this.counters.forEach((count, key) => {
      if (count >= floor) entries.push({ key: addressText(key), count: count + d, error: d });
    });
    // Ties by text, as merged rows order them (merge-rows.ts).
    return entries
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
  }

  private shrink(): void {
    const values = Float64Array.from(this.counters.values()).sort();
    const cut = values[values.length - 1 - this.capacity]!;
    // A fresh map of the survivors: cheaper than deleting most keys of the old one.
    const kept = new Map<AddressKey, number>();
    this.counters.forEach((count, key) => {
      if (count > cut) kept.set(key, count - cut);
    });
    this.counters = kept;
    this.decremented += cut;
  }
}
