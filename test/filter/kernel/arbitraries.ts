/**
 * Random filters and probes for the kernel proof. Both draw from the same small pools (the peer's
 * addresses and networks around them, ports at the edges of the filter's own ranges), so that most
 * probes land on some rule and rule boundaries are where the probes fall.
 */
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import type { Cidr, Filter, FilterProtocol, FilterRule, PortRange } from "../../../src/filter/types.js";
import type { Family } from "../../../src/host/types.js";
import type { FragmentKind, Probe, ProbeProtocol } from "./agent.js";
import { PEER_SOURCES } from "./proof-lab.js";

const PORTS = [
  0, 1, 21, 22, 53, 67, 68, 80, 110, 123, 443, 1023, 1024, 11211, 32767, 32768, 49152, 60999, 61000, 65535,
];
const PREFIXES: Record<Family, number[]> = {
  ipv4: [0, 8, 16, 23, 24, 25, 26, 30, 31, 32],
  ipv6: [0, 16, 32, 33, 47, 48, 63, 64, 96, 127, 128],
};

function masked(address: string, prefix: number): Cidr {
  const bytes = ipaddr.parse(address).toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++)
    bytes[bit >> 3] = bytes[bit >> 3]! & ~(0x80 >> (bit & 7));
  const family: Family = bytes.length === 4 ? "ipv4" : "ipv6";
  return { family, address: ipaddr.fromByteArray(bytes).toString(), prefix };
}

const cidrArb: fc.Arbitrary<Cidr> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...PEER_SOURCES.ipv4), fc.constantFrom(...PREFIXES.ipv4))
    .map(([a, p]) => masked(a, p)),
  fc
    .tuple(fc.constantFrom(...PEER_SOURCES.ipv6), fc.constantFrom(...PREFIXES.ipv6))
    .map(([a, p]) => masked(a, p)),
);

const portRangeArb: fc.Arbitrary<PortRange> = fc.oneof(
  fc.constantFrom(...PORTS).map((p) => ({ start: p, end: p })),
  fc
    .tuple(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 3000 }))
    .map(([s, len]) => ({ start: s, end: Math.min(65535, s + len) })),
  fc.integer({ min: 0, max: 65535 }).map((p) => ({ start: p, end: p })),
);

const portsArb = fc.option(fc.array(portRangeArb, { minLength: 1, maxLength: 3 }), { nil: null, freq: 2 });

const protocolArb: fc.Arbitrary<FilterProtocol> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<FilterProtocol>("tcp", "udp") },
  { weight: 1, arbitrary: fc.constantFrom<FilterProtocol>("icmp", "icmpv6", "fragment", "ip") },
);

export const ruleArb: fc.Arbitrary<FilterRule> = fc
  .record({
    action: fc.constantFrom("allow", "deny") as fc.Arbitrary<"allow" | "deny">,
    protocol: protocolArb,
    sources: fc.option(fc.array(cidrArb, { minLength: 1, maxLength: 3 }), { nil: null, freq: 2 }),
    sourcePorts: portsArb,
    destinationPorts: portsArb,
  })
  .map(({ action, protocol, sources, sourcePorts, destinationPorts }) => {
    const ported = protocol === "tcp" || protocol === "udp";
    // The loader refuses an icmp rule with IPv6 sources (and icmpv6 with IPv4): keep to what it accepts.
    const family = protocol === "icmp" ? "ipv4" : protocol === "icmpv6" ? "ipv6" : null;
    let kept = sources;
    if (family !== null && sources !== null) {
      kept = sources.filter((c) => c.family === family);
      if (kept.length === 0) kept = null;
    }
    return {
      action,
      protocol,
      sources: kept,
      sourcePorts: ported ? sourcePorts : null,
      destinationPorts: ported ? destinationPorts : null,
      description: null,
      line: null,
    };
  });

export const filterArb: fc.Arbitrary<Filter> = fc
  .record({
    mode: fc.oneof(
      { weight: 3, arbitrary: fc.constant("stateless" as const) },
      { weight: 1, arbitrary: fc.constant("stateful" as const) },
    ),
    families: fc.constantFrom<Family[]>(["ipv4", "ipv6"], ["ipv4", "ipv6"], ["ipv4"], ["ipv6"]),
    default: fc.constantFrom("allow", "deny") as fc.Arbitrary<"allow" | "deny">,
    rules: fc.array(ruleArb, { minLength: 1, maxLength: 12 }),
  })
  .map((f) => ({ name: "proof", description: null, ...f }));

/** Ports where this filter's ranges begin and end, and one either side: where off-by-ones live. */
function edgePorts(filter: Filter): number[] {
  const edges = new Set<number>(PORTS);
  for (const rule of filter.rules) {
    for (const r of [...(rule.sourcePorts ?? []), ...(rule.destinationPorts ?? [])]) {
      for (const p of [r.start - 1, r.start, r.end, r.end + 1]) if (p >= 0 && p <= 65535) edges.add(p);
    }
  }
  return [...edges];
}

/** A probe without its ident and destination (the harness numbers and addresses them). */
export type ProbeDraft = Omit<Probe, "ident" | "dst">;

export function probeArb(filter: Filter): fc.Arbitrary<ProbeDraft> {
  const port = fc.oneof(fc.constantFrom(...edgePorts(filter)), fc.integer({ min: 0, max: 65535 }));
  const frag: fc.Arbitrary<FragmentKind> = fc.oneof(
    { weight: 16, arbitrary: fc.constant("none" as const) },
    { weight: 2, arbitrary: fc.constant("first" as const) },
    { weight: 3, arbitrary: fc.constant("later" as const) },
  );
  return fc.constantFrom<4 | 6>(4, 6).chain((family) => {
    const icmp: ProbeProtocol = family === 4 ? "icmp" : "icmpv6";
    const proto = fc.oneof(
      { weight: 7, arbitrary: fc.constantFrom<ProbeProtocol>("tcp", "udp") },
      { weight: 2, arbitrary: fc.constant(icmp) },
      { weight: 1, arbitrary: fc.constant<ProbeProtocol>("other") },
    );
    // Echo requests mostly; a timestamp request / an unassigned ICMPv6 type now and then.
    const icmpType = family === 4 ? fc.constantFrom(8, 8, 8, 13) : fc.constantFrom(128, 128, 128, 200);
    return fc.record({
      family: fc.constant(family),
      src: fc.constantFrom(...(family === 4 ? PEER_SOURCES.ipv4 : PEER_SOURCES.ipv6)),
      proto,
      sport: port,
      dport: port,
      frag,
      icmpType,
    });
  });
}
