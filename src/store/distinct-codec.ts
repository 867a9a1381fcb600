/**
 * Distinct-counter state as stored bytes. The state is what lets the store merge two rows of one
 * bucket (two captures of the same hour, a live capture restarted mid-bucket) without counting a
 * source twice.
 *
 *   0x03, then the addresses as a key list (key-list.ts: binary IPv4, then IPv6 text)
 *   0x04, precision, n (uint32 BE), then n registers as uint32 BE (index << 8 | value): a sketch
 *         whose registers are mostly zero (most ports' sketches hold a few thousand sources)
 *   0x05, precision, then the 2^precision registers as they are
 *
 * Why no zlib: deflating the sketches (level 1) was 4% of a 10M-packet ingest, and the sparse form
 * is smaller than the deflated one for the sketches that are mostly zero. Why binary IPv4: four
 * bytes per address and no text to build or parse.
 */
import type { DistinctState } from "../observe/distinct.js";
import { MAX_PRECISION, MIN_PRECISION } from "../observe/hll.js";
import { decodeKeys, encodeKeys } from "./key-list.js";

const EXACT = 0x03;
const SPARSE = 0x04;
const DENSE = 0x05;

export function encodeDistinct(state: DistinctState): Uint8Array {
  if ("exact" in state) return Buffer.concat([Buffer.from([EXACT]), encodeKeys(state.exact)]);
  const { precision, registers } = state;
  let used = 0;
  for (let i = 0; i < registers.length; i++) if (registers[i] !== 0) used++;
  // Four bytes per register that is set against one per register: sparse while under a quarter set.
  if (used * 4 < registers.length) {
    const out = Buffer.allocUnsafe(6 + 4 * used);
    out[0] = SPARSE;
    out[1] = precision;
    out.writeUInt32BE(used, 2);
    let at = 6;
    for (let i = 0; i < registers.length; i++) {
      if (registers[i] === 0) continue;
      out.writeUInt32BE(((i << 8) | registers[i]!) >>> 0, at);
      at += 4;
    }
    return out;
  }
  const out = Buffer.allocUnsafe(2 + registers.length);
  out[0] = DENSE;
  out[1] = precision;
  out.set(registers, 2);
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
  if ((buf[0] !== SPARSE && buf[0] !== DENSE) || buf.length < 2) return null;
  const precision = buf[1]!;
  if (precision < MIN_PRECISION || precision > MAX_PRECISION) return null;
  const m = 1 << precision;
  // A register holds a rank: at most 64 - precision + 1.
  const maxRank = 65 - precision;
  if (buf[0] === DENSE) {
    if (buf.length !== 2 + m) return null;
    const registers = new Uint8Array(buf.subarray(2));
    for (const r of registers) if (r > maxRank) return null;
    return { precision, registers };
  }
  if (buf.length < 6) return null;
  const used = buf.readUInt32BE(2);
  if (buf.length !== 6 + 4 * used || used > m) return null;
  const registers = new Uint8Array(m);
  for (let at = 6; at < buf.length; at += 4) {
    const entry = buf.readUInt32BE(at);
    const index = entry >>> 8;
    const value = entry & 0xff;
    if (index >= m || value === 0 || value > maxRank) return null;
    registers[index] = value;
  }
  return { precision, registers };
}
