/**
 * A distinct counter that is exact while small and bounded when large: a Set up to `bound` values,
 * then a HyperLogLog sketch. Most (bucket, port) keys at a telescope see a handful of sources, so
 * they stay exact and cheap; a flood of unique (often spoofed) sources costs 2^precision bytes, never more.
 * Values are address keys (address.ts): an IPv4 address is one integer, never its text.
 */
import { type AddressKey, keyOfText } from "./address.js";
import { HyperLogLog } from "./hll.js";

export interface DistinctOptions {
  /** Largest exact set kept before switching to the sketch. */
  bound?: number;
  /** HyperLogLog precision once switched. */
  precision?: number;
}

/** What the store keeps (src/store/distinct-codec.ts): the exact values, or the sketch's registers. */
export type DistinctState = { exact: AddressKey[] } | { precision: number; registers: Uint8Array };

export const DEFAULT_BOUND = 4096;
export const DEFAULT_PRECISION = 14;

export class Distinct {
  readonly bound: number;
  readonly precision: number;
  private exact: Set<AddressKey> | null = new Set();
  private sketch: HyperLogLog | null = null;

  constructor(options: DistinctOptions = {}) {
    this.bound = options.bound ?? DEFAULT_BOUND;
    this.precision = options.precision ?? DEFAULT_PRECISION;
  }

  add(value: AddressKey): void {
    if (this.exact !== null) {
      this.exact.add(value);
      if (this.exact.size > this.bound) this.toSketch();
    } else {
      this.sketch!.add(value);
    }
  }

  count(): number {
    return this.exact !== null ? this.exact.size : this.sketch!.count();
  }

  /** True while the count is exact. */
  isExact(): boolean {
    return this.exact !== null;
  }

  /** Values held: the set's size while exact, 0 once it is a sketch (whose size is fixed). */
  storedValues(): number {
    return this.exact?.size ?? 0;
  }

  /** Union into this counter. */
  merge(other: Distinct): void {
    if (other.exact !== null) {
      for (const v of other.exact) this.add(v);
      return;
    }
    if (this.exact !== null) this.toSketch();
    this.sketch!.merge(other.sketch!);
  }

  toState(): DistinctState {
    if (this.exact !== null) return { exact: [...this.exact] };
    const s = this.sketch!;
    return { precision: s.precision, registers: s.registers.slice() };
  }

  /** A counter from a stored state; addresses given as text count as their keys (IPv4 text → integer). */
  static fromState(state: DistinctState, options: DistinctOptions = {}): Distinct {
    if ("exact" in state) {
      const d = new Distinct(options);
      for (const v of state.exact) d.add(typeof v === "string" ? keyOfText(v) : v);
      return d;
    }
    const d = new Distinct({ ...options, precision: state.precision });
    d.exact = null;
    d.sketch = new HyperLogLog(state.precision, Uint8Array.from(state.registers));
    return d;
  }

  private toSketch(): void {
    const sketch = new HyperLogLog(this.precision);
    for (const v of this.exact!) sketch.add(v);
    this.sketch = sketch;
    this.exact = null;
  }
}
