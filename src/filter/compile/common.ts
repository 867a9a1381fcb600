/**
 * What every compiler shares: the result shape, rule labels, and normalised sources and ports.
 * Normalising first (masking host bits, dropping networks inside others, merging port ranges) keeps
 * each target's output small and keeps nft from refusing overlapping elements in one set.
 */
import ipaddr from "ipaddr.js";
import type { Family } from "../../host/types.js";
import type { Cidr, Filter, FilterRule, PortRange } from "../types.js";

export interface CompileResult {
  output: string;
  /** What the target cannot express or will not do as written, each naming the rule. */
  warnings: string[];
}

export interface CompileOptions {
  /** Judge only packets arriving on this NIC (per-NIC filter); others pass untouched. */
  interface?: string;
  /** A counter on every rule (nft); iptables always counts. */
  counters?: boolean;
}

const MAX_BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

/** "moat rule 3: ssh from admin": the label every target carries so read-back and counters map back. */
export function ruleLabel(index: number, rule: FilterRule): string {
  const description = rule.description?.trim();
  return description ? `moat rule ${index + 1}: ${description}` : `moat rule ${index + 1}`;
}

/**
 * Text safe inside a double-quoted comment of nft, iptables or HCL: no quotes, backslashes, `$` or
 * control characters, and at most `maxBytes` of UTF-8 (nft refuses comments over 128 bytes).
 */
export function commentText(text: string, maxBytes = 120): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we strip.
  const clean = text.replace(/["\\`$]/g, "'").replace(/[\u0000-\u001f\u007f]+/g, " ");
  if (Buffer.byteLength(clean) <= maxBytes) return clean;
  let cut = "";
  for (const char of clean) {
    if (Buffer.byteLength(cut + char) > maxBytes - 3) break;
    cut += char;
  }
  return `${cut}...`;
}

function networkBytes(cidr: Cidr): number[] {
  const bytes = ipaddr.parse(cidr.address).toByteArray();
  for (let bit = cidr.prefix; bit < bytes.length * 8; bit++) {
    const i = bit >> 3;
    bytes[i] = bytes[i]! & ~(0x80 >> (bit & 7));
  }
  return bytes;
}

/** The network with host bits cleared, so "192.0.2.7/24" becomes "192.0.2.0/24" as every target wants. */
export function maskCidr(cidr: Cidr): Cidr {
  return {
    family: cidr.family,
    address: ipaddr.fromByteArray(networkBytes(cidr)).toString(),
    prefix: cidr.prefix,
  };
}

/** "192.0.2.0/24", or the bare address for a host. */
export function cidrText(cidr: Cidr): string {
  return cidr.prefix === MAX_BITS[cidr.family] ? cidr.address : `${cidr.address}/${cidr.prefix}`;
}

function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  return cidrText(maskCidr({ ...inner, prefix: outer.prefix })) === cidrText(outer);
}

/** Masked, deduplicated, nested networks dropped (CIDRs either nest or are disjoint), in input order. */
export function normalizeSources(sources: Cidr[]): Cidr[] {
  const masked = sources.map(maskCidr);
  return masked.filter(
    (cidr, i) =>
      !masked.some(
        (other, j) =>
          (j < i && contains(other, cidr)) || (other.prefix < cidr.prefix && contains(other, cidr)),
      ),
  );
}

export function sourcesOf(rule: FilterRule, family: Family): Cidr[] {
  return normalizeSources((rule.sources ?? []).filter((cidr) => cidr.family === family));
}

/** Sorted, overlapping and adjacent ranges merged. */
export function mergePorts(ranges: PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: PortRange[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.start <= last.end + 1) last.end = Math.max(last.end, range.end);
    else merged.push({ start: range.start, end: range.end });
  }
  return merged;
}

/** Null when the rule has no port condition (absent, or it covers every port). */
export function portsOf(ranges: PortRange[] | null): PortRange[] | null {
  if (ranges === null || ranges.length === 0) return null;
  // (An empty list never reaches here: such a rule is skipped by neverMatches.)
  const merged = mergePorts(ranges);
  const only = merged[0]!;
  return merged.length === 1 && only.start === 0 && only.end === 65535 ? null : merged;
}

export function hasPorts(rule: FilterRule): boolean {
  return rule.protocol === "tcp" || rule.protocol === "udp";
}

/** An empty source or port list matches nothing (null is "any"): the evaluator's reading too. */
export function neverMatches(rule: FilterRule): boolean {
  if (rule.sources !== null && rule.sources.length === 0) return true;
  return hasPorts(rule) && (rule.sourcePorts?.length === 0 || rule.destinationPorts?.length === 0);
}

export function neverMatchWarnings(filter: Filter): string[] {
  return filter.rules.flatMap((rule, i) =>
    neverMatches(rule)
      ? [`rule ${i + 1}: an empty source or port list matches nothing; the rule is left out`]
      : [],
  );
}

/** Ports on icmp/ip/fragment rules mean nothing to any target: said once, for every compiler. */
export function ignoredPortWarnings(filter: Filter): string[] {
  const warnings: string[] = [];
  filter.rules.forEach((rule, i) => {
    if (
      !hasPorts(rule) &&
      (rule.sourcePorts?.length || rule.destinationPorts?.length) &&
      (portsOf(rule.sourcePorts) !== null || portsOf(rule.destinationPorts) !== null)
    ) {
      warnings.push(
        `rule ${i + 1}: ports are ignored for protocol ${rule.protocol} (only tcp and udp have ports)`,
      );
    }
  });
  return warnings;
}

/** The families a rule's sources name: both when it has none. */
export function ruleFamilies(rule: FilterRule): Family[] {
  if (rule.sources === null) return ["ipv4", "ipv6"];
  return (["ipv4", "ipv6"] as const).filter((family) => rule.sources!.some((cidr) => cidr.family === family));
}

/** Whether the rule can match packets of this family at all (icmp is IPv4's, icmpv6 IPv6's). */
export function ruleApplies(rule: FilterRule, family: Family): boolean {
  if (rule.protocol === "icmp" && family === "ipv6") return false;
  if (rule.protocol === "icmpv6" && family === "ipv4") return false;
  return ruleFamilies(rule).includes(family);
}

export function portText(range: PortRange, separator: string): string {
  return range.start === range.end ? String(range.start) : `${range.start}${separator}${range.end}`;
}

/** Stateful filters judge reassembled packets: the kernel's conntrack defragments before any rule. */
export function statefulFragmentWarnings(filter: Filter): string[] {
  if (filter.mode !== "stateful") return [];
  return filter.rules.flatMap((rule, i) =>
    rule.protocol === "fragment"
      ? [
          `rule ${i + 1}: in stateful mode conntrack reassembles fragments before the filter, which ` +
            "judges the whole packet by its other rules; this rule only meets fragments the kernel cannot reassemble",
        ]
      : [],
  );
}

/**
 * IPv6 needs neighbour discovery (ICMPv6 133-136, from link-local addresses) inbound: a filter that
 * covers IPv6 and denies it cuts the host's IPv6 off entirely, which is rarely what was meant.
 */
export function neighbourDiscoveryWarnings(filter: Filter): string[] {
  if (!filter.families.includes("ipv6")) return [];
  const linkLocal: Cidr = { family: "ipv6", address: "fe80::1", prefix: 128 };
  const decider = filter.rules.findIndex(
    (rule) =>
      (rule.protocol === "icmpv6" || rule.protocol === "ip") &&
      (rule.sources === null || rule.sources.some((cidr) => contains(maskCidr(cidr), linkLocal))),
  );
  const action = decider < 0 ? filter.default : filter.rules[decider]!.action;
  if (action === "allow") return [];
  const by = decider < 0 ? "the default action" : `rule ${decider + 1}`;
  return [
    `${by} denies IPv6 neighbour discovery (ICMPv6 133-136 from link-local addresses): the host would ` +
      "lose IPv6; allow icmpv6 before it",
  ];
}
