/**
 * Distinct-counter state as stored bytes. The state is what lets the store merge two rows of one
 * bucket (two captures of the same hour, a live capture restarted mid-bucket) without counting a
 * source twice.
 *
 *   0x01, then the exact values as UTF-8 joined by "\n"      (addresses never contain "\n")
 *   0x02, precision, then the HyperLogLog registers, deflated (mostly small numbers: compress well)
 *
 * Why not deflate everything (the first version): most rows hold a handful of addresses, and
 * setting up zlib for each of them was a third of ingest time.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { DistinctState } from "../observe/distinct.js";
import { MAX_PRECISION, MIN_PRECISION } from "../observe/hll.js";

const EXACT = 0x01;
const SKETCH = 0x02;

export function encodeDistinct(state: DistinctState): Uint8Array {
  if ("exact" in state) {
    const text = Buffer.from(state.exact.join("\n"), "utf8");
    const out = Buffer.allocUnsafe(1 + text.length);
    out[0] = EXACT;
    text.copy(out, 1);
    return out;
  }
  // Level 1: nearly the ratio of the default at a fraction of the time (registers are small numbers).
  const registers = deflateRawSync(Buffer.from(state.registers, "base64"), { level: 1 });
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
    const text = buf.toString("utf8", 1);
    return { exact: text.length === 0 ? [] : text.split("\n") };
  }
  if (buf[0] === SKETCH && buf.length >= 2) {
    const precision = buf[1]!;
    if (precision < MIN_PRECISION || precision > MAX_PRECISION) return null;
    try {
      // Bounded: never inflate more than the registers can be (a deflate bomb stops there).
      const registers = inflateRawSync(buf.subarray(2), { maxOutputLength: 1 << precision });
      if (registers.length !== 1 << precision) return null;
      return { precision, registers: registers.toString("base64") };
    } catch {
      return null;
    }
  }
  return null;
}
