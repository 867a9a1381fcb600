/**
 * IPv6 text without ipaddr.js, for the paths that format one address per socket or per packet (the
 * kernel's tables, netlink, captures): RFC 5952 (lower case, the longest run of two or more zero
 * groups as "::", the first on a tie), IPv4-mapped addresses as "::ffff:a.b.c.d" as ss and the rest
 * of moat write them. test/host/proc-net.test.ts checks it against ipaddr.js for any 16 bytes.
 */
const SCRATCH_GROUPS = new Uint16Array(8);

/** RFC 5952 text of the 16 address bytes at `at`. */
export function formatIpv6Bytes(b: Uint8Array, at = 0): string {
  const g = SCRATCH_GROUPS;
  for (let i = 0; i < 8; i++) g[i] = (b[at + i * 2]! << 8) | b[at + i * 2 + 1]!;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never shortened
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) {
    let all = g[0]!.toString(16);
    for (let i = 1; i < 8; i++) all += `:${g[i]!.toString(16)}`;
    return all;
  }
  let head = "";
  for (let i = 0; i < bestStart; i++) head += i === 0 ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
  let tail = "";
  for (let i = bestStart + bestLen; i < 8; i++) tail += `:${g[i]!.toString(16)}`;
  return `${head}:${tail === "" ? ":" : tail}`;
}
