/**
 * HyperLogLog (Flajolet et al. 2007) over a 64-bit hash, with Ertl's improved estimator ("New
 * cardinality estimation algorithms for HyperLogLog sketches", 2017): unbiased from 0 to far beyond
 * what a telescope sees, without the empirical bias tables of HLL++. Registers are one byte each:
 * precision 14 = 16 KiB and a standard error of 1.04/sqrt(2^14) ≈ 0.8%.
 */

import type { AddressKey } from "./address.js";

// The 64-bit hash is kept as two uint32 words: BigInt is far too slow for a per-packet hash.
let outHi = 0;
let outLo = 0;

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** An IPv4 key (a 32-bit integer): two differently seeded murmur3 finalisers, no loop. */
function hashNumber(value: number): void {
  outHi = fmix32(value ^ 0x9747b28c) >>> 0;
  outLo = fmix32(Math.imul(value, 0x5bd1e995) ^ 0x0bcaa747) >>> 0;
}

/**
 * Two murmur3 lanes over the string's UTF-16 code units (addresses are ASCII), cross-mixed and
 * finalised as in murmur3_x86_128; into outHi/outLo. Math.imul keeps it to 32-bit integer
 * operations: the previous FNV-1a 64 on 16-bit limbs cost a quarter of observe's ingest time.
 * HLL reads every bit, so both words go through the finaliser.
 */
function hashInto(text: string): void {
  let h1 = 0x9747b28c;
  let h2 = 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0;
    h2 ^= Math.imul(k, 0x38b34ae5);
    h2 = (Math.imul((h2 << 17) | (h2 >>> 15), 5) + 0x0bcaa747) | 0;
  }
  h1 ^= text.length;
  h2 ^= text.length;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  outHi = h1 >>> 0;
  outLo = h2 >>> 0;
}

// The aggregator adds each packet's source and destination to several counters in a row: the same
// two strings (same objects, so === is a pointer compare) hashed again and again. Remember two.
let memoText1 = "";
let memoHi1 = 0;
let memoLo1 = 0;
let memoText2 = "";
let memoHi2 = 0;
let memoLo2 = 0;
let memoValid = false;

function hashMemo(text: string): void {
  if (memoValid) {
    if (text === memoText1) {
      outHi = memoHi1;
      outLo = memoLo1;
      return;
    }
    if (text === memoText2) {
      outHi = memoHi2;
      outLo = memoLo2;
      return;
    }
  }
  hashInto(text);
  memoText2 = memoText1;
  memoHi2 = memoHi1;
  memoLo2 = memoLo1;
  memoText1 = text;
  memoHi1 = outHi;
  memoLo1 = outLo;
  memoValid = true;
}

function hashKey(key: AddressKey): void {
  if (typeof key === "number") hashNumber(key);
  else hashMemo(key);
}

/** The 64-bit hash as a 16-digit hex string (for tests and debugging). */
export function hash64Hex(key: AddressKey): string {
  hashKey(key);
  return outHi.toString(16).padStart(8, "0") + outLo.toString(16).padStart(8, "0");
}

/** Ertl's sigma and tau series (Algorithm 6 of the paper). */
function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const prev = z;
    z += x * y;
    y += y;
    if (z === prev) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === prev) return z / 3;
  }
}

export const MIN_PRECISION = 4;
export const MAX_PRECISION = 18;

export class HyperLogLog {
  readonly precision: number;
  readonly registers: Uint8Array;

  constructor(precision = 14, registers?: Uint8Array) {
    if (!Number.isInteger(precision) || precision < MIN_PRECISION || precision > MAX_PRECISION) {
      throw new RangeError(
        `HyperLogLog precision must be an integer in ${MIN_PRECISION}..${MAX_PRECISION}, got ${precision}`,
      );
    }
    this.precision = precision;
    const m = 1 << precision;
    if (registers !== undefined && registers.length !== m) {
      throw new RangeError(
        `HyperLogLog of precision ${precision} needs ${m} registers, got ${registers.length}`,
      );
    }
    this.registers = registers ?? new Uint8Array(m);
  }

  add(key: AddressKey): void {
    hashKey(key);
    const p = this.precision;
    const index = outHi >>> (32 - p);
    // Rank = position of the first 1 in the remaining 64 - p bits.
    const rest = (outHi << p) >>> 0;
    let rank: number;
    if (rest !== 0) rank = Math.clz32(rest) + 1;
    else if (outLo !== 0) rank = 32 - p + Math.clz32(outLo) + 1;
    else rank = 64 - p + 1;
    if (rank > this.registers[index]!) this.registers[index] = rank;
  }

  /** Union: register-wise maximum. Both sketches must have the same precision. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) {
      throw new RangeError(
        `cannot merge HyperLogLog sketches of precision ${this.precision} and ${other.precision}`,
      );
    }
    const r = this.registers;
    const o = other.registers;
    for (let i = 0; i < r.length; i++) if (o[i]! > r[i]!) r[i] = o[i]!;
  }

  count(): number {
    const m = this.registers.length;
    const q = 64 - this.precision;
    const histogram = new Float64Array(q + 2);
    for (const v of this.registers) histogram[v]!++;
    let z = m * tau(1 - histogram[q + 1]! / m);
    for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]!);
    z += m * sigma(histogram[0]! / m);
    const alphaInf = 1 / (2 * Math.LN2);
    return Math.round((alphaInf * m * m) / z);
  }

  clone(): HyperLogLog {
    return new HyperLogLog(this.precision, Uint8Array.from(this.registers));
  }
}
