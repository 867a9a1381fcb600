/**
 * How observe holds an address on the hot path: an IPv4 address is its 32 bits as a signed integer
 * (a small integer to V8: no string built, no allocation, a cheap Set key), an IPv6 address its
 * RFC 5952 text (6% of a telescope's packets, and 128 bits fit no JavaScript number). Text is made
 * only for what is shown: top sources, victims.
 */
import { parseIpv4Number } from "../net/cidr.js";

export type AddressKey = number | string;

/** The IPv4 address at `at`, as a key. */
export function ipv4Key(buf: Buffer, at: number): number {
  return buf.readInt32BE(at);
}

export function addressText(key: AddressKey): string {
  if (typeof key === "string") return key;
  return `${(key >>> 24) & 255}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
}

/** The key of an address given as text (IPv4 dotted quad → its integer; anything else stays text). */
export function keyOfText(text: string): AddressKey {
  const v4 = parseIpv4Number(text);
  return v4 < 0 ? text : v4 | 0;
}
