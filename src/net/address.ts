/**
 * What part of the network a bound address faces. Audit uses this to decide whether a listener can
 * be reached from outside; scan and filter reuse the same ranges.
 */
import ipaddr from "ipaddr.js";
import { parseIpv4Number, parseIpv6Words } from "./cidr.js";

/** `all`: the wildcard (0.0.0.0, ::); the rest describe one concrete address. */
export type BindScope = "all" | "public" | "private" | "loopback" | "link-local";

const PRIVATE_V4 = ["private", "carrierGradeNat"];
const PRIVATE_V6 = ["uniqueLocal"];

/** Strips an IPv4-mapped IPv6 address (::ffff:a.b.c.d) down to IPv4: the kernel treats it as such. */
export function unmapAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed;
}

/** A host has few distinct bound addresses and thousands of sockets: remember each answer. */
const scopeCache = new Map<string, BindScope>();

export function bindScope(address: string): BindScope {
  let scope = scopeCache.get(address);
  if (scope === undefined) {
    scope = quickScope(address) ?? ipaddrScope(address);
    if (scopeCache.size < 4096) scopeCache.set(address, scope);
  }
  return scope;
}

/** The scope by ipaddr.js's named ranges: the reference for every form of address it accepts. */
export function ipaddrScope(address: string): BindScope {
  const ip = unmapAddress(address);
  const range = ip.range();
  if (range === "unspecified") return "all";
  if (range === "loopback") return "loopback";
  if (range === "linkLocal") return "link-local";
  if (ip.kind() === "ipv4" ? PRIVATE_V4.includes(range) : PRIVATE_V6.includes(range)) return "private";
  return "public";
}

/** parseIpv6Words's output; scoping is synchronous. */
const WORDS = new Int32Array(4);

/**
 * The scope of the plain forms moat's readers write ("192.0.2.10", "::", "fe80::1",
 * "::ffff:10.0.0.1"), by the same ranges as ipaddrScope but without ipaddr.js: its parser costs
 * ~10 ms the first time each family is parsed, most of what scoping an audit's few addresses costs.
 * Anything else (IPv4 with leading zeros, zones, IPv6 starting with a zero group): undefined, and
 * ipaddrScope decides. test/net/address.test.ts checks the two agree.
 */
export function quickScope(address: string): BindScope | undefined {
  if (address === "::") return "all";
  if (address === "::1") return "loopback";
  // Strict dotted quad, no leading zeros (ipaddr.js reads those as octal).
  const v4 = parseIpv4Number(address, address.startsWith("::ffff:") ? 7 : 0);
  if (v4 >= 0) return ipv4Scope(v4 >>> 24, (v4 >>> 16) & 255);
  if (!parseIpv6Words(address, WORDS)) return undefined;
  const first = WORDS[0]! >>> 16;
  if (first === 0) return undefined; // the unspecified, loopback and mapped forms start with 0
  if ((first & 0xffc0) === 0xfe80) return "link-local"; // fe80::/10
  if ((first & 0xfe00) === 0xfc00) return "private"; // fc00::/7, unique local
  return "public";
}

/** ipaddr.js's IPv4 ranges, as far as scope goes: 0/8 unspecified, 127/8, 169.254/16, RFC 1918, 100.64/10. */
function ipv4Scope(a: number, b: number): BindScope {
  if (a === 0) return "all";
  if (a === 127) return "loopback";
  if (a === 169 && b === 254) return "link-local";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private"; // carrier-grade NAT
  return "public";
}

/** True for the wildcard that, on Linux, also accepts IPv4 unless the socket set IPV6_V6ONLY. */
export function isDualStackWildcard(address: string): boolean {
  return address === "::";
}

export function isValidAddress(address: string): boolean {
  return ipaddr.isValid(address);
}
