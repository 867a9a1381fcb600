/**
 * Distinct-counter state as stored bytes. The state is what lets the store merge two rows of one
 * bucket (two captures of the same hour, a live capture restarted mid-bucket) without counting a
 * source twice.
 *
 *   0x03, then the addresses as a key list (key-list.ts: binary IPv4, then IPv6 text)
 *   0x02, precision, then the HyperLogLog registers, deflated (mostly small numbers: compress well)
 *
 * Why not deflate everything (the first version): most rows hold a handful of addresses, and
 * setting up zlib for each of them was a third of ingest time. Why binary IPv4 (0x01 was all text):
 * four bytes per address and no text to build or parse on the way in or out.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { DistinctState } from "../observe/distinct.js";
import { MAX_PRECISION, MIN_PRECISION } from "../observe/hll.js";
import { decodeKeys, encodeKeys } from "./key-list.js";

const SKETCH = 0x02;
const EXACT = 0x03;

export function encodeDistinct(state: DistinctState): Uint8Array {
  if ("exact" in state) return Buffer.concat([Buffer.from([EXACT]), encodeKeys(state.exact)]);
  // Level 1: nearly the ratio of the default at a fraction of the time (registers are small numbers).
  const registers = deflateRawSync(state.registers, { level: 1 });
  const out = Buffer.allocUnsafe(2 + registers.length);
  out[0] = SKETCH;
  out[1] = state.precision;
  registers.copy(out, 2);
  return out;
}

/** Null when the bytes are not a state this version wrote (the caller then falls back to counts). */
export function decodeDistinct(bytes: Uint8Array): DistinctState | null {
  if (bytes.length === 0) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[0] === EXACT) {
    const exact = decodeKeys(buf, 1);
    return exact === null ? null : { exact };
  }
  if (buf[0] === SKETCH && buf.length >= 2) {
    const precision = buf[1]!;
    if (precision < MIN_PRECISION || precision > MAX_PRECISION) return null;
    try {
      // Bounded: never inflate more than the registers can be (a deflate bomb stops there).
      const registers = inflateRawSync(buf.subarray(2), { maxOutputLength: 1 << precision });
      if (registers.length !== 1 << precision) return null;
      return { precision, registers: new Uint8Array(registers) };
    } catch {
      return null;
    }
  }
  return null;
}
