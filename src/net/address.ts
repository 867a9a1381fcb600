/**
 * What part of the network a bound address faces. Audit uses this to decide whether a listener can
 * be reached from outside; scan and filter reuse the same ranges.
 */
import ipaddr from "ipaddr.js";

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
    scope = computeBindScope(address);
    if (scopeCache.size < 4096) scopeCache.set(address, scope);
  }
  return scope;
}

function computeBindScope(address: string): BindScope {
  const ip = unmapAddress(address);
  const range = ip.range();
  if (range === "unspecified") return "all";
  if (range === "loopback") return "loopback";
  if (range === "linkLocal") return "link-local";
  if (ip.kind() === "ipv4" ? PRIVATE_V4.includes(range) : PRIVATE_V6.includes(range)) return "private";
  return "public";
}

/** True for the wildcard that, on Linux, also accepts IPv4 unless the socket set IPV6_V6ONLY. */
export function isDualStackWildcard(address: string): boolean {
  return address === "::";
}

export function isValidAddress(address: string): boolean {
  return ipaddr.isValid(address);
}
