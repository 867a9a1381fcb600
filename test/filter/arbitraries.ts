/** fast-check generators for filters and packets, biased so that rules and packets often meet. */
import fc from "fast-check";
import type { Cidr, Filter, FilterRule, Packet, PortRange } from "../../src/filter/types.js";
import { parseCidr } from "../../src/net/cidr.js";

const NETWORKS = [
  "0.0.0.0/0",
  "192.0.2.0/24",
  "192.0.2.0/25",
  "192.0.2.128/25",
  "192.0.2.7",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "10.0.0.0/8",
  "128.0.0.0/1",
  "::/0",
  "2001:db8::/32",
  "2001:db8::/64",
  "2001:db8:1::/48",
  "2001:db8::7",
  "fe80::/10",
  "8000::/1",
].map(parseCidr);

export const ADDRESSES_V4 = [
  "192.0.2.7",
  "192.0.2.200",
  "198.51.100.1",
  "203.0.113.9",
  "10.1.2.3",
  "8.8.8.8",
  "255.255.255.255",
  "0.0.0.0",
];
export const ADDRESSES_V6 = ["2001:db8::7", "2001:db8:1::5", "2001:db9::1", "fe80::1", "::1", "ffff::1"];

const PORTS = [0, 1, 22, 53, 80, 443, 11211, 32767, 32768, 61000, 61001, 65535];

const port = fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 65535 }));
const portRange: fc.Arbitrary<PortRange> = fc
  .tuple(port, port)
  .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
const ports = fc.option(fc.array(portRange, { minLength: 1, maxLength: 3 }), { nil: null });

const cidr: fc.Arbitrary<Cidr> = fc.constantFrom(...NETWORKS);
const text = fc.string({ minLength: 1, maxLength: 20 });

export const arbitraryRule: fc.Arbitrary<FilterRule> = fc
  .record({
    action: fc.constantFrom("allow" as const, "deny" as const),
    protocol: fc.constantFrom(
      "tcp" as const,
      "udp" as const,
      "icmp" as const,
      "icmpv6" as const,
      "fragment" as const,
      "ip" as const,
    ),
    sources: fc.option(fc.array(cidr, { minLength: 1, maxLength: 3 }), { nil: null }),
    sourcePorts: ports,
    destinationPorts: ports,
    description: fc.option(text, { nil: null }),
  })
  .map((rule) => {
    const hasPorts = rule.protocol === "tcp" || rule.protocol === "udp";
    // The loader refuses icmp rules with IPv6 sources and icmpv6 rules with IPv4 ones.
    const wrong = rule.protocol === "icmp" ? "ipv6" : rule.protocol === "icmpv6" ? "ipv4" : undefined;
    let sources = rule.sources === null ? null : rule.sources.filter((c) => c.family !== wrong);
    if (sources !== null && sources.length === 0) sources = null;
    return {
      ...rule,
      sources,
      sourcePorts: hasPorts ? rule.sourcePorts : null,
      destinationPorts: hasPorts ? rule.destinationPorts : null,
      line: null,
    };
  });

export function arbitraryFilter(maxRules = 12): fc.Arbitrary<Filter> {
  return (
    fc
      .record({
        name: text,
        description: fc.option(text, { nil: null }),
        mode: fc.constantFrom("stateless" as const, "stateful" as const),
        families: fc.constantFrom<Filter["families"]>(["ipv4", "ipv6"], ["ipv4"], ["ipv6"], ["ipv6", "ipv4"]),
        default: fc.constantFrom("allow" as const, "deny" as const),
        rules: fc.array(arbitraryRule, { maxLength: maxRules }),
      })
      // fc.record builds prototype-less objects; deepStrictEqual would tell them from parsed ones.
      .map((filter) => ({ ...filter }))
  );
}

export const arbitraryPacket: fc.Arbitrary<Packet> = fc
  .record({
    v6: fc.boolean(),
    protocol: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const, "other" as const),
    v4: fc.oneof(fc.constantFrom(...ADDRESSES_V4), fc.ipV4()),
    v6address: fc.oneof(fc.constantFrom(...ADDRESSES_V6), fc.ipV6()),
    destination: fc.boolean(),
    sourcePort: port,
    destinationPort: port,
    fragment: fc.boolean(),
  })
  .map((r) => {
    const family = r.v6 ? ("ipv6" as const) : ("ipv4" as const);
    const protocol = r.protocol === "icmp" && r.v6 ? "icmpv6" : r.protocol;
    const hasPorts = (protocol === "tcp" || protocol === "udp") && !r.fragment;
    const address = r.v6 ? canonicalV6(r.v6address) : r.v4;
    return {
      protocol,
      family,
      source: address,
      destination: r.v6 ? "2001:db8::2" : "198.51.100.10",
      sourcePort: hasPorts ? r.sourcePort : null,
      destinationPort: hasPorts ? r.destinationPort : null,
      fragment: r.fragment,
    };
  });

function canonicalV6(text: string): string {
  return parseCidr(text).address;
}
