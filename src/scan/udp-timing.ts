/**
 * The UDP engine's clocks: the smoothed round trip that sets its waits, and the FIFO of requests
 * waiting out one of them (see udp-engine.ts, whose file comment explains the waits).
 */

/** Smoothed round trip and variance, RFC 6298 §2 (nmap's `adjust_timeouts2`). */
export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  samples = 0;
  sample(rtt: number): void {
    const r = Math.max(0, rtt);
    if (this.samples++ === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
  }
  /** srtt + 4 · rttvar, clamped: the wait that covers this round trip and its variation. */
  bound(min: number, max: number): number {
    return clamp(this.srtt + 4 * this.rttvar, min, max);
  }
}

/** What a WaitQueue needs of an entry: its phase and when its current wait began (-1: none). */
export interface Waiting {
  phase: number;
  since: number;
}

/**
 * A FIFO of (entry, start of its wait) in two arrays: no object per entry. Starts are pushed in
 * increasing order and every entry waits the same duration, so the due ones are a prefix; one
 * pushed out of order only expires late, never early (the sweep stops at the first not due).
 */
export class WaitQueue<T extends Waiting> {
  private entries: T[] = [];
  private starts: number[] = [];
  private head = 0;
  constructor(private readonly phase: number) {}
  push(entry: T, start: number): void {
    this.entries.push(entry);
    this.starts.push(start);
  }
  get size(): number {
    return this.entries.length - this.head;
  }
  /** Calls `expire` for each entry whose wait began at or before `cutoff` and is still current. */
  sweep(cutoff: number, expire: (entry: T) => void): void {
    while (this.head < this.entries.length && this.starts[this.head]! <= cutoff) {
      const entry = this.entries[this.head]!;
      const start = this.starts[this.head]!;
      this.head++;
      if (entry.phase === this.phase && entry.since === start) expire(entry);
    }
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.starts = this.starts.slice(this.head);
      this.head = 0;
    }
  }
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
