/**
 * Token bucket for packets per second. The bucket holds at most `burst` tokens, so however long the
 * sender was idle (a slow consumer, a paused event loop), it never sends more than `burst` packets
 * back to back. Time comes from a monotonic clock (performance.now), injectable for tests.
 */
import { InputError } from "../errors.js";

export type Clock = () => number;

export const DEFAULT_RATE = 1000;
/** Bursts span this much time at the configured rate: the event loop's timer granularity is ~1 ms. */
const BURST_MS = 10;

export interface RateOptions {
  /** Packets per second; Infinity for `--rate max`. */
  rate: number;
  /** Largest burst in packets; default: 10 ms worth, at least 1. */
  burst?: number;
  clock?: Clock;
}

export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor({ rate, burst, clock = () => performance.now() }: RateOptions) {
    if (!(rate > 0)) throw new Error(`rate must be positive, got ${rate}`);
    this.rate = rate;
    this.burst =
      burst ??
      (rate === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : Math.max(1, Math.ceil((rate * BURST_MS) / 1000)));
    this.clock = clock;
    this.last = clock();
    // Start full: the first burst goes out at once, later ones at the rate.
    this.tokens = this.burst;
  }

  private refill(): void {
    if (this.rate === Number.POSITIVE_INFINITY) return;
    const now = this.clock();
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.last = now;
    }
  }

  /** How many packets may go now (whole tokens), at most `want`. Does not consume. */
  available(want: number): number {
    if (this.rate === Number.POSITIVE_INFINITY) return want;
    this.refill();
    return Math.min(want, Math.floor(this.tokens));
  }

  /** Spend `n` tokens (after `available` said they were there). */
  take(n: number): void {
    if (this.rate !== Number.POSITIVE_INFINITY) this.tokens -= n;
  }

  /** Milliseconds until one more token, 0 when there is one. */
  waitMs(): number {
    if (this.rate === Number.POSITIVE_INFINITY) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.rate;
  }
}

/** `--rate`: a positive number of packets per second, or "max". */
export function parseRate(text: string): number {
  if (text === "max") return Number.POSITIVE_INFINITY;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0)
    throw new InputError(`--rate: "${text}" is not a rate; give packets per second (e.g. 1000) or "max"`);
  return Number(text);
}
