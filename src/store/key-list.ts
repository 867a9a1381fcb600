/**
 * A list of address keys (src/observe/address.ts) as stored bytes, for the counter and heavy-hitter
 * states: n (uint32 BE), the n IPv4 keys (int32 BE), then the IPv6 texts as UTF-8 joined by "\n"
 * (addresses never contain "\n") to the end of the buffer. IPv4 keys come first, each part in the
 * list's order: whoever stores values alongside must order them the same way (`ipv4First`).
 */
import type { AddressKey } from "../observe/address.js";

/** The list's positions, IPv4 keys first: the order encodeKeys writes and decodeKeys returns. */
export function ipv4First(keys: readonly AddressKey[]): number[] {
  // Index loops: `entries()` allocates a pair per key, and this runs for every stored summary.
  const order: number[] = [];
  for (let i = 0; i < keys.length; i++) if (typeof keys[i] === "number") order.push(i);
  for (let i = 0; i < keys.length; i++) if (typeof keys[i] !== "number") order.push(i);
  return order;
}

export function encodeKeys(keys: readonly AddressKey[]): Buffer {
  let v4 = 0;
  const v6: string[] = [];
  for (const k of keys) {
    if (typeof k === "number") v4++;
    else v6.push(k);
  }
  const text = v6.join("\n");
  const textStart = 4 + 4 * v4;
  const out = Buffer.allocUnsafe(textStart + Buffer.byteLength(text, "utf8"));
  out.writeUInt32BE(v4, 0);
  let at = 4;
  for (const k of keys) {
    if (typeof k !== "number") continue;
    out.writeInt32BE(k, at);
    at += 4;
  }
  out.write(text, textStart, "utf8");
  return out;
}

/** The keys stored from `at` to the end of `buf`; null if the IPv4 count does not fit the bytes. */
export function decodeKeys(buf: Buffer, at: number): AddressKey[] | null {
  if (buf.length - at < 4) return null;
  const v4 = buf.readUInt32BE(at);
  // Checked before anything is allocated: a bogus count is refused, not trusted.
  if (v4 > (buf.length - at - 4) / 4) return null;
  const keys: AddressKey[] = new Array(v4);
  for (let i = 0; i < v4; i++) keys[i] = buf.readInt32BE(at + 4 + 4 * i);
  const text = buf.toString("utf8", at + 4 + 4 * v4);
  if (text.length > 0) for (const t of text.split("\n")) keys.push(t);
  return keys;
}
