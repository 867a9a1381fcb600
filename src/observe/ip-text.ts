/**
 * Hand-rolled address text for the decode hot loop (ipaddr.js is the reference in the tests).
 * IPv4 text is cached in a direct-mapped table: a telescope sees the same destinations over and over,
 * and a hit costs one compare instead of building a string. IPv6 follows RFC 5952 (lower-case hex,
 * longest run of two or more zero groups as "::", the first on a tie), like ipaddr.js's
 * toRFC5952String, without mixed dotted notation.
 */
const OCTET = Array.from({ length: 256 }, (_, i) => String(i));
const CACHE_BITS = 16;
const cacheKeys = new Int32Array(1 << CACHE_BITS).fill(-1);
const cacheText: string[] = new Array<string>(1 << CACHE_BITS).fill("");

export function ipv4Text(buf: Buffer, at: number): string {
  const value = buf.readInt32BE(at);
  const slot = (value ^ (value >>> CACHE_BITS)) & ((1 << CACHE_BITS) - 1);
  // -1 is 255.255.255.255, which the fill value would wrongly claim as cached: check the text.
  if (cacheKeys[slot] === value && cacheText[slot] !== "") return cacheText[slot]!;
  const text = `${OCTET[buf[at]!]}.${OCTET[buf[at + 1]!]}.${OCTET[buf[at + 2]!]}.${OCTET[buf[at + 3]!]}`;
  cacheKeys[slot] = value;
  cacheText[slot] = text;
  return text;
}

const groups = new Uint16Array(8);

export function ipv6Text(buf: Buffer, at: number): string {
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    const group = (buf[at + 2 * i]! << 8) | buf[at + 2 * i + 1]!;
    groups[i] = group;
    if (group === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLength) {
        bestStart = runStart;
        bestLength = i - runStart + 1;
      }
    } else runStart = -1;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += i === 0 ? "::" : ":";
      i += bestLength - 1;
      continue;
    }
    text += groups[i]!.toString(16);
    if (i < 7) text += ":";
  }
  return text;
}
