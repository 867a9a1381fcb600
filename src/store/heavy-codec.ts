/**
 * A heavy-hitter summary (src/observe/heavy.ts) as stored bytes, so that two rows of one bucket
 * merge into the top sources of all their packets, not of two cut lists:
 *
 *   0x01, decremented (float64 BE), n (uint32 BE), n counts (float64 BE), then the n keys as a key
 *   list (key-list.ts), counts in the key list's order (IPv4 keys first)
 */
import type { AddressKey } from "../observe/address.js";
import type { HeavyState } from "../observe/heavy.js";
import { decodeKeys, encodeKeys, ipv4First } from "./key-list.js";

const SUMMARY = 0x01;

export function encodeHeavy(state: HeavyState): Uint8Array {
  const order = ipv4First(state.keys);
  const head = Buffer.allocUnsafe(13 + 8 * order.length);
  head[0] = SUMMARY;
  head.writeDoubleBE(state.decremented, 1);
  head.writeUInt32BE(order.length, 9);
  const keys: AddressKey[] = new Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const j = order[i]!;
    head.writeDoubleBE(state.counts[j] ?? 0, 13 + 8 * i);
    keys[i] = state.keys[j]!;
  }
  return Buffer.concat([head, encodeKeys(keys)]);
}

const isCount = (v: number) => Number.isFinite(v) && v >= 0;

/** Null when the bytes are not a summary this version wrote (the caller then merges the lists). */
export function decodeHeavy(bytes: Uint8Array): HeavyState | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 13 || buf[0] !== SUMMARY) return null;
  const decremented = buf.readDoubleBE(1);
  const n = buf.readUInt32BE(9);
  if (!isCount(decremented) || n > (buf.length - 13) / 8) return null;
  const counts: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const c = buf.readDoubleBE(13 + 8 * i);
    if (!isCount(c)) return null;
    counts[i] = c;
  }
  const keys = decodeKeys(buf, 13 + 8 * n);
  if (keys === null || keys.length !== n) return null;
  return { decremented, keys, counts };
}
