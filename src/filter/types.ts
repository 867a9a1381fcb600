/**
 * The packet-filter model shared by the loader, presets, evaluator, linter, compilers and the
 * firewall read-back. Semantics follow the cloud provider's per-NIC filter
 * (../shared/reference/packet-filter.md): ordered rules, first match wins.
 */
import type { Family } from "../host/types.js";

export type FilterAction = "allow" | "deny";

/** `fragment` matches the second and later fragments of a fragmented packet; `ip` matches anything. */
export const FILTER_PROTOCOLS = ["tcp", "udp", "icmp", "icmpv6", "fragment", "ip"] as const;
export type FilterProtocol = (typeof FILTER_PROTOCOLS)[number];

/** `stateless`: every packet judged on its own (cloud filters). `stateful`: replies to allowed traffic pass (conntrack). */
export type FilterMode = "stateless" | "stateful";

/** Inclusive port range; a single port has start === end. */
export interface PortRange {
  start: number;
  end: number;
}

/** One network: canonical address text and prefix length ("203.0.113.0", 24). */
export interface Cidr {
  family: Family;
  address: string;
  prefix: number;
}

export interface FilterRule {
  action: FilterAction;
  protocol: FilterProtocol;
  /** null = any source. */
  sources: Cidr[] | null;
  /** null = any port; only meaningful for tcp and udp. */
  sourcePorts: PortRange[] | null;
  destinationPorts: PortRange[] | null;
  description: string | null;
  /** 1-based line in the file it came from, for messages; null for rules built in code. */
  line: number | null;
}

export interface Filter {
  name: string;
  description: string | null;
  mode: FilterMode;
  /** Which address families the filter covers; traffic of another family passes unfiltered. */
  families: Family[];
  /** The action when no rule matches. */
  default: FilterAction;
  rules: FilterRule[];
}

/** One packet, as `moat filter test --packet 'udp 203.0.113.9:4444 > 198.51.100.10:11211'` writes it. */
export interface Packet {
  protocol: "tcp" | "udp" | "icmp" | "icmpv6" | "other";
  family: Family;
  source: string;
  destination: string;
  /** tcp/udp only. */
  sourcePort: number | null;
  destinationPort: number | null;
  /** A second or later fragment: carries no ports, matched by `fragment` rules. */
  fragment: boolean;
}

export interface Verdict {
  verdict: FilterAction;
  /** 1-based number of the deciding rule; null when the default action decided. */
  rule: number | null;
  /** Why, in plain English: "rule 3 (deny udp from any to port 11211): ..." */
  reason: string;
}
