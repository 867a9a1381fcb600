/**
 * Space-Saving (Metwally, Agrawal, El Abbadi 2005): the top-k heavy hitters of a stream in k entries.
 * Any item seen more than total/k times is guaranteed to be held; each count overestimates by at most
 * its `error`. Entries live in a min-heap by count so replacing the smallest is O(log k), not O(k):
 * under a flood of unique sources every packet replaces the minimum.
 */

export interface HeavyHitter {
  key: string;
  count: number;
  /** The count may exceed the true count by up to this much (what the evicted entry had). */
  error: number;
}

export class SpaceSaving {
  readonly capacity: number;
  private readonly keys: string[] = [];
  private readonly counts: number[] = [];
  private readonly errors: number[] = [];
  private readonly index = new Map<string, number>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.keys.length;
  }

  add(key: string, weight = 1): void {
    const at = this.index.get(key);
    if (at !== undefined) {
      this.counts[at]! += weight;
      this.siftDown(at);
      return;
    }
    if (this.keys.length < this.capacity) {
      const i = this.keys.length;
      this.keys.push(key);
      this.counts.push(weight);
      this.errors.push(0);
      this.index.set(key, i);
      this.siftUp(i);
      return;
    }
    // Evict the minimum: the newcomer inherits its count as possible overestimate.
    const min = this.counts[0]!;
    this.index.delete(this.keys[0]!);
    this.keys[0] = key;
    this.counts[0] = min + weight;
    this.errors[0] = min;
    this.index.set(key, 0);
    this.siftDown(0);
  }

  /** Entries by count, largest first (ties by key, for stable output). */
  top(n = this.capacity): HeavyHitter[] {
    return this.keys
      .map((key, i) => ({ key, count: this.counts[i]!, error: this.errors[i]! }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i]!;
    const c = this.counts[i]!;
    const e = this.errors[i]!;
    this.keys[i] = this.keys[j]!;
    this.counts[i] = this.counts[j]!;
    this.errors[i] = this.errors[j]!;
    this.keys[j] = k;
    this.counts[j] = c;
    this.errors[j] = e;
    this.index.set(this.keys[i]!, i);
    this.index.set(k, j);
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.counts[parent]! <= this.counts[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < n && this.counts[l]! < this.counts[smallest]!) smallest = l;
      if (r < n && this.counts[r]! < this.counts[smallest]!) smallest = r;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }
}
