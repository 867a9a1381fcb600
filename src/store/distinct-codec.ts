/**
 * Distinct-counter state as stored bytes. The state is what lets the store merge two rows of one
 * bucket (two captures of the same hour, a live capture restarted mid-bucket) without counting a
 * source twice.
 *
 *   0x03, n (uint32 BE), n IPv4 keys (int32 BE), then the IPv6 texts as UTF-8 joined by "\n"
 *   0x02, precision, then the HyperLogLog registers, deflated (mostly small numbers: compress well)
 *
 * Why not deflate everything (the first version): most rows hold a handful of addresses, and
 * setting up zlib for each of them was a third of ingest time. Why binary IPv4 (0x01 was all text):
 * four bytes per address and no text to build or parse on the way in or out.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { AddressKey } from "../observe/address.js";
import type { DistinctState } from "../observe/distinct.js";
import { MAX_PRECISION, MIN_PRECISION } from "../observe/hll.js";

const SKETCH = 0x02;
const EXACT = 0x03;

export function encodeDistinct(state: DistinctState): Uint8Array {
  if ("exact" in state) {
    let v4 = 0;
    const v6: string[] = [];
    for (const k of state.exact) {
      if (typeof k === "number") v4++;
      else v6.push(k);
    }
    const text = v6.join("\n");
    const textStart = 5 + 4 * v4;
    const out = Buffer.allocUnsafe(textStart + Buffer.byteLength(text, "utf8"));
    out[0] = EXACT;
    out.writeUInt32BE(v4, 1);
    let at = 5;
    for (const k of state.exact) {
      if (typeof k !== "number") continue;
      out.writeInt32BE(k, at);
      at += 4;
    }
    out.write(text, textStart, "utf8");
    return out;
  }
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
    if (buf.length < 5) return null;
    const v4 = buf.readUInt32BE(1);
    // Checked before anything is allocated: a bogus count is refused, not trusted.
    if (v4 > (buf.length - 5) / 4) return null;
    const exact: AddressKey[] = new Array(v4);
    for (let i = 0; i < v4; i++) exact[i] = buf.readInt32BE(5 + 4 * i);
    const text = buf.toString("utf8", 5 + 4 * v4);
    if (text.length > 0) for (const t of text.split("\n")) exact.push(t);
    return { exact };
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
