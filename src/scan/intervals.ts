/**
 * Sets of addresses as sorted, disjoint [first, last] intervals of one family. A target list, a scope
 * file and an exclude file are each a handful of intervals, so set algebra stays cheap however many
 * addresses they hold, and nothing is ever expanded into an array of addresses.
 */
import type { Family } from "../host/types.js";
import { bigToAddress } from "../net/address-range.js";

export interface Interval {
  family: Family;
  first: bigint;
  last: bigint;
}

function compare(a: Interval, b: Interval): number {
  if (a.family !== b.family) return a.family === "ipv4" ? -1 : 1;
  return a.first < b.first ? -1 : a.first > b.first ? 1 : 0;
}

/** Sorted (IPv4 first), overlapping and adjacent intervals merged. */
export function normalize(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort(compare);
  const out: Interval[] = [];
  for (const next of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.family === next.family && next.first <= last.last + 1n) {
      if (next.last > last.last) last.last = next.last;
    } else {
      out.push({ ...next });
    }
  }
  return out;
}

/** `from` minus `remove`; both normalized. */
export function subtract(from: readonly Interval[], remove: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const piece of from) {
    let start = piece.first;
    for (const cut of remove) {
      if (cut.family !== piece.family || cut.last < start || cut.first > piece.last) continue;
      if (cut.first > start) out.push({ family: piece.family, first: start, last: cut.first - 1n });
      start = cut.last + 1n;
      if (start > piece.last) break;
    }
    if (start <= piece.last) out.push({ family: piece.family, first: start, last: piece.last });
  }
  return out;
}

// Math.min and Math.max take numbers only.
function bigMax(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

function bigMin(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

/** The parts of `a` that are also in `b`. */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x.family !== y.family) continue;
      const first = bigMax(x.first, y.first);
      const last = bigMin(x.last, y.last);
      if (first <= last) out.push({ family: x.family, first, last });
    }
  }
  return normalize(out);
}

export function size(intervals: readonly Interval[]): bigint {
  let total = 0n;
  for (const i of intervals) total += i.last - i.first + 1n;
  return total;
}

export function within(inner: Interval, outer: Interval): boolean {
  return inner.family === outer.family && inner.first >= outer.first && inner.last <= outer.last;
}

export function formatInterval(interval: Interval): string {
  const first = bigToAddress(interval.family, interval.first);
  if (interval.first === interval.last) return first;
  const bits = interval.family === "ipv4" ? 32 : 128;
  const count = interval.last - interval.first + 1n;
  // A whole aligned block reads better as a CIDR.
  if ((count & (count - 1n)) === 0n && interval.first % count === 0n) {
    return `${first}/${bits - count.toString(2).length + 1}`;
  }
  return `${first}-${bigToAddress(interval.family, interval.last)}`;
}

/** IPv4 from its 32-bit number, without the generic (slower) path: the scanner makes one per target. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Every address, lazily, in order. */
export function* eachAddress(intervals: readonly Interval[]): Generator<string> {
  for (const interval of intervals) {
    if (interval.family === "ipv4") {
      const last = Number(interval.last);
      for (let v = Number(interval.first); v <= last; v++) yield formatIpv4(v);
    } else {
      for (let v = interval.first; v <= interval.last; v++) yield bigToAddress("ipv6", v);
    }
  }
}
