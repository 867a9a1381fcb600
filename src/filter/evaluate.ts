/**
 * Which rule of a filter decides a packet, and why. First match wins (cloud-filter semantics):
 *
 * - A rule matches when its protocol matches (`ip`: anything; `fragment`: only second and later
 *   fragments; `icmp`: IPv4's ICMP; `icmpv6`: IPv6's), the packet's source lies in one of the rule's
 *   sources (none = any; a source of the other family never matches) and its ports lie in the
 *   rule's port ranges.
 * - A second or later fragment carries no transport header, so only `fragment` and `ip` rules can
 *   match it: a tcp rule with no ports still does not, as it cannot tell the fragment is tcp from
 *   the header the rule would look at.
 * - A packet of a family the filter does not cover passes (the cloud filter is IPv4-only; IPv6
 *   goes through untouched), with a reason that says so.
 * - `stateful` filters are judged on the packet as the first packet of a new inbound connection:
 *   replies to connections the host opened are accepted by conntrack before any rule, so asking
 *   about them here would be asking the wrong question.
 *
 * The filter is compiled once into per-family, per-protocol rule lists of integers; a decision is
 * then a short loop of integer compares with no allocation, and the Verdict objects are prebuilt.
 */
import { compileCidr, formatCidr, parseIpv4Number, parseIpv6Words } from "../net/cidr.js";
import { formatPortList } from "../net/ports.js";
import type { Cidr, Filter, FilterProtocol, FilterRule, Packet, PortRange, Verdict } from "./types.js";

/** Packet classes, as indexes into the per-family rule table. */
const CLASS = { tcp: 0, udp: 1, icmp: 2, icmpv6: 3, other: 4, fragment: 5 } as const;
const CLASSES = 6;

/** Which packet classes each rule protocol matches. */
const MATCHES: Record<FilterProtocol, readonly number[]> = {
  tcp: [CLASS.tcp],
  udp: [CLASS.udp],
  icmp: [CLASS.icmp],
  icmpv6: [CLASS.icmpv6],
  fragment: [CLASS.fragment],
  ip: [CLASS.tcp, CLASS.udp, CLASS.icmp, CLASS.icmpv6, CLASS.other, CLASS.fragment],
};

/** A packet reduced to numbers: what the hot loop reads. */
export interface PacketBits {
  /** 0 = IPv4, 1 = IPv6. */
  family: number;
  /** Index in CLASS. */
  cls: number;
  /** Source address words; IPv4 uses words[0] only. */
  words: Int32Array;
  sourcePort: number;
  destinationPort: number;
}

interface CompiledRule {
  /** Flattened [network words..., mask words...] per source of this family; null = any source. */
  sources: Int32Array | null;
  /** For each entry in `sources`, its index in the rule's own source list (for the reason). */
  sourceIndex: Int32Array;
  sourcePorts: Int32Array | null;
  destinationPorts: Int32Array | null;
  /** Verdict id of this rule's first source; + sourceIndex for the others. */
  verdictBase: number;
}

/** Verdict ids 0 and 1: the family (IPv4, IPv6) is not covered; 2: the default action. */
const UNCOVERED_V4 = 0;
const DEFAULT_VERDICT = 2;

export interface CompiledFilter {
  readonly filter: Filter;
  /** The verdict id for a packet; `verdicts[id]` is the Verdict. */
  decide(packet: PacketBits): number;
  readonly verdicts: readonly Verdict[];
  evaluate(packet: Packet): Verdict;
}

export function compileFilter(filter: Filter): CompiledFilter {
  const verdicts: Verdict[] = [];
  const stateful =
    filter.mode === "stateful"
      ? " Stateful filter: judged as the first packet of a new inbound connection."
      : "";
  for (const family of ["ipv4", "ipv6"] as const) {
    const covered = filter.families.map((f) => (f === "ipv4" ? "IPv4" : "IPv6")).join(" and ");
    verdicts.push(
      Object.freeze({
        verdict: "allow" as const,
        rule: null,
        reason: `the filter covers ${covered} only; ${family === "ipv4" ? "IPv4" : "IPv6"} traffic passes it unfiltered.`,
      }),
    );
  }
  verdicts.push(
    Object.freeze({ verdict: filter.default, rule: null, reason: defaultReason(filter) + stateful }),
  );

  const table: CompiledRule[][] = Array.from({ length: 2 * CLASSES }, () => []);
  filter.rules.forEach((rule, index) => {
    const verdictBase = verdicts.length;
    const choices = rule.sources ?? [null];
    choices.forEach((source) => {
      verdicts.push(
        Object.freeze({
          verdict: rule.action,
          rule: index + 1,
          reason: ruleReason(rule, index, source) + stateful,
        }),
      );
    });
    for (const [familyIndex, family] of (["ipv4", "ipv6"] as const).entries()) {
      const compiled = compileRule(rule, family, verdictBase);
      if (compiled === undefined) continue;
      for (const cls of MATCHES[rule.protocol]) table[familyIndex * CLASSES + cls]!.push(compiled);
    }
  });

  const covered = [filter.families.includes("ipv4"), filter.families.includes("ipv6")];
  const decide = (p: PacketBits): number => {
    if (!covered[p.family]) return UNCOVERED_V4 + p.family;
    const list = table[p.family * CLASSES + p.cls]!;
    const width = p.family === 0 ? 1 : 4;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      let which = 0;
      if (r.sources !== null) {
        which = width === 1 ? matchSourceV4(r.sources, p.words[0]!) : matchSource(r.sources, width, p.words);
        if (which < 0) continue;
        which = r.sourceIndex[which]!;
      }
      if (r.sourcePorts !== null && !inRanges(r.sourcePorts, p.sourcePort)) continue;
      if (r.destinationPorts !== null && !inRanges(r.destinationPorts, p.destinationPort)) continue;
      return r.verdictBase + which;
    }
    return DEFAULT_VERDICT;
  };
  const scratch = newPacketBits();
  return {
    filter,
    decide,
    verdicts,
    evaluate: (packet) => verdicts[decide(packetBits(packet, scratch))]!,
  };
}

/** The rule as seen by packets of one family, or undefined when it can never match them. */
function compileRule(
  rule: FilterRule,
  family: "ipv4" | "ipv6",
  verdictBase: number,
): CompiledRule | undefined {
  let sources: Int32Array | null = null;
  let sourceIndex = new Int32Array(0);
  if (rule.sources !== null) {
    const mine = rule.sources.map((cidr, i) => ({ cidr, i })).filter(({ cidr }) => cidr.family === family);
    if (mine.length === 0) return undefined;
    const width = family === "ipv4" ? 1 : 4;
    sources = new Int32Array(mine.length * 2 * width);
    mine.forEach(({ cidr }, n) => {
      const net = compileCidr(cidr);
      sources!.set(net.words, n * 2 * width);
      sources!.set(net.masks, n * 2 * width + width);
    });
    sourceIndex = Int32Array.from(mine.map(({ i }) => i));
  }
  return {
    sources,
    sourceIndex,
    sourcePorts: flatPorts(rule.sourcePorts),
    destinationPorts: flatPorts(rule.destinationPorts),
    verdictBase,
  };
}

function flatPorts(ranges: readonly PortRange[] | null): Int32Array | null {
  if (ranges === null) return null;
  return Int32Array.from(ranges.flatMap((r) => [r.start, r.end]));
}

/** matchSource for IPv4, the common case: [network, mask] pairs. */
function matchSourceV4(sources: Int32Array, address: number): number {
  for (let at = 0; at < sources.length; at += 2)
    if ((address & sources[at + 1]!) === sources[at]) return at >> 1;
  return -1;
}

/** The entry number in `sources` that contains `words`, or -1. */
function matchSource(sources: Int32Array, width: number, words: Int32Array): number {
  const stride = 2 * width;
  for (let at = 0, n = 0; at < sources.length; at += stride, n++) {
    let hit = true;
    for (let k = 0; k < width; k++) {
      if ((words[k]! & sources[at + width + k]!) !== sources[at + k]) {
        hit = false;
        break;
      }
    }
    if (hit) return n;
  }
  return -1;
}

function inRanges(ranges: Int32Array, port: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (port >= ranges[i]! && port <= ranges[i + 1]!) return true;
  return false;
}

export function newPacketBits(): PacketBits {
  return { family: 0, cls: 0, words: new Int32Array(4), sourcePort: 0, destinationPort: 0 };
}

/** Reduces a packet to numbers, into `into` (reused to avoid allocation) or a new object. */
export function packetBits(packet: Packet, into: PacketBits = newPacketBits()): PacketBits {
  const v6 = packet.family === "ipv6";
  into.family = v6 ? 1 : 0;
  if (v6) {
    if (!parseIpv6Words(packet.source, into.words))
      throw new Error(`packet source ${packet.source} is not IPv6`);
  } else {
    const v4 = parseIpv4Number(packet.source);
    if (v4 < 0) throw new Error(`packet source ${packet.source} is not IPv4`);
    into.words[0] = v4 | 0;
  }
  into.cls = packetClass(packet);
  into.sourcePort = packet.sourcePort ?? -1;
  into.destinationPort = packet.destinationPort ?? -1;
  return into;
}

function packetClass(packet: Packet): number {
  if (packet.fragment) return CLASS.fragment;
  switch (packet.protocol) {
    case "tcp":
      return CLASS.tcp;
    case "udp":
      return CLASS.udp;
    // ICMP of the wrong family is not something either icmp rule means; treat it as another protocol.
    case "icmp":
      return packet.family === "ipv4" ? CLASS.icmp : CLASS.other;
    case "icmpv6":
      return packet.family === "ipv6" ? CLASS.icmpv6 : CLASS.other;
    case "other":
      return CLASS.other;
  }
}

// Compiled filters are cached per Filter object: filters are treated as immutable once built.
const compiledFilters = new WeakMap<Filter, CompiledFilter>();

export function evaluate(filter: Filter, packet: Packet): Verdict {
  let compiled = compiledFilters.get(filter);
  if (compiled === undefined) {
    compiled = compileFilter(filter);
    compiledFilters.set(filter, compiled);
  }
  return compiled.evaluate(packet);
}

const PROTOCOL_PHRASE: Record<FilterProtocol, string> = {
  tcp: "tcp",
  udp: "udp",
  icmp: "ICMP",
  icmpv6: "ICMPv6",
  fragment: "a second or later fragment",
  ip: "any protocol",
};

/** `rule 4 ("memcached") denies it: udp from any source to port 11211.` */
export function ruleReason(rule: FilterRule, index: number, source: Cidr | null): string {
  const label = rule.description ? `"${rule.description}"` : `${rule.action} ${rule.protocol}`;
  const verb = rule.action === "allow" ? "allows" : "denies";
  let from = "from any source";
  if (source !== null) {
    from = `from ${formatCidr(source)}`;
    const count = rule.sources?.length ?? 1;
    if (count > 1) from += ` (one of its ${count} sources)`;
  }
  let what = `${PROTOCOL_PHRASE[rule.protocol]} ${from}`;
  if (rule.sourcePorts !== null)
    what += ` from ${portWord(rule.sourcePorts)} ${formatPortList(rule.sourcePorts)}`;
  if (rule.destinationPorts !== null)
    what += ` to ${portWord(rule.destinationPorts)} ${formatPortList(rule.destinationPorts)}`;
  return `rule ${index + 1} (${label}) ${verb} it: ${what}.`;
}

function portWord(ranges: readonly PortRange[]): string {
  return ranges.length === 1 && ranges[0]!.start === ranges[0]!.end ? "port" : "ports";
}

function defaultReason(filter: Filter): string {
  const n = filter.rules.length;
  if (n === 0) return `the filter has no rules; its default action is ${filter.default}.`;
  const checked = n === 1 ? "1 rule" : `all ${n} rules`;
  return `no rule matched (${checked} checked); the filter's default action is ${filter.default}.`;
}
