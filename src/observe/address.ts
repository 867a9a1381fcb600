/**
 * How observe holds an address on the hot path: an IPv4 address is its 32 bits as a signed integer
 * (a small integer to V8: no string built, no allocation, a cheap Set key), an IPv6 address its
 * RFC 5952 text (6% of a telescope's packets, and 128 bits fit no JavaScript number). Text is made
 * only for what is shown: top sources, victims.
 */
export type AddressKey = number | string;

/** The IPv4 address at `at`, as a key. */
export function ipv4Key(buf: Buffer, at: number): number {
  return buf.readInt32BE(at);
}

export function addressText(key: AddressKey): string {
  if (typeof key === "string") return key;
  return `${(key >>> 24) & 255}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
}

/** Dotted-quad text to its unsigned 32-bit value; -1 if it is not one. */
export function ipv4ToUint32(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** The key of an address given as text (IPv4 dotted quad → its integer; anything else stays text). */
export function keyOfText(text: string): AddressKey {
  const v4 = ipv4ToUint32(text);
  return v4 < 0 ? text : v4 | 0;
}
