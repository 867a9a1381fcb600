/**
 * Hand-rolled IPv6 text for the decode hot loop (ipaddr.js is the reference in the tests): RFC 5952
 * (lower-case hex, longest run of two or more zero groups as "::", the first on a tie), like
 * ipaddr.js's toRFC5952String, without mixed dotted notation. IPv4 stays a number (address.ts).
 */
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
