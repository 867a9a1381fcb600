/**
 * The host firewall as the kernel sees it, richer than a Moat Filter: tables of chains hooked into
 * netfilter at a priority with a policy, rules made of matches and one verdict, jumps between chains.
 * Both `nft -j list ruleset` and `iptables-save` parse into this one shape, so one evaluator serves
 * both. Whatever a parser does not understand stays in the model as `unknown` with the rule's place,
 * so the evaluator can answer "unknown" instead of guessing.
 */
import type { Family } from "../types.js";

/** netfilter families: `inet` chains see both IPv4 and IPv6; `netdev` hooks a device's ingress. */
export type TableFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

/** Where a rule came from, for every message that names it. */
export interface RuleRef {
  /** "inet filter input", "ip filter INPUT" */
  chain: string;
  /** nft rule handle; null for iptables-save text. */
  handle: number | null;
  /** 1-based position in its chain. */
  index: number;
  /** 1-based line in the file it came from (iptables-save); null for nft JSON. */
  line: number | null;
  /** The rule as text: the iptables-save line, or a short rendering of the nft expressions. */
  text: string;
  comment: string | null;
}

/** A set of addresses: networks and inclusive ranges, each of one family. */
export type AddressItem =
  | { family: Family; kind: "prefix"; address: string; prefix: number }
  | { family: Family; kind: "range"; first: string; last: string };

/** Inclusive range of numbers (ports, protocol numbers, ICMP types). */
export interface NumberRange {
  start: number;
  end: number;
}

/** Connection-tracking states as nft and iptables name them. */
export type CtState = "new" | "established" | "related" | "invalid" | "untracked";

/**
 * One condition of a rule. `negate` inverts the test (nft `!=`, iptables `!`). Protocol
 * dependencies are explicit: `tcp dport 22` is a `port` match with `protocol: 6`, which fails on
 * any packet that is not TCP, and an address match fails on a packet of the other family.
 */
export type Match =
  | { kind: "family"; negate: boolean; families: Family[] }
  | { kind: "l4proto"; negate: boolean; protocols: NumberRange[]; family: Family | null }
  | { kind: "iif"; negate: boolean; byName: boolean; names: string[] }
  | {
      kind: "address";
      field: "saddr" | "daddr";
      negate: boolean;
      family: Family;
      items: AddressItem[];
      set: string | null;
    }
  | {
      kind: "port";
      field: "sport" | "dport";
      negate: boolean;
      /** 6 tcp, 17 udp, 132 sctp, 33 dccp, 136 udplite; null = `th`: any transport header with ports. */
      protocol: number | null;
      ports: NumberRange[];
      set: string | null;
    }
  | { kind: "ctstate"; negate: boolean; states: CtState[] }
  /** `later`: second and later fragments (iptables -f, nft `frag-off & 0x1fff != 0`). */
  | { kind: "fragment"; negate: boolean }
  | { kind: "icmptype"; negate: boolean; family: Family; types: NumberRange[] }
  /** TCP flags under a mask: `flags & mask == value`. Only for packets we know are a first SYN. */
  | { kind: "tcpflags"; negate: boolean; mask: number; value: number }
  | { kind: "unknown"; text: string };

/** What a matching rule does. `continue`: no verdict (counter, log, comment only). */
export type RuleVerdict =
  | { kind: "accept" | "drop" | "reject" | "return" | "continue" }
  | { kind: "jump" | "goto"; target: string }
  /** A verdict map: the verdict depends on one key (`tcp dport vmap { 22 : accept }`). */
  | { kind: "vmap"; key: Match; entries: VmapEntry[] }
  | { kind: "unknown"; text: string };

export interface VmapEntry {
  /** The key match for this entry, with the entry's value set. */
  match: Match;
  verdict: RuleVerdict;
}

/** Statements that do not decide but may change how later rules see the packet. */
export type Effect = { kind: "counter" | "log" | "notrack" } | { kind: "unknown"; text: string };

export interface Rule {
  ref: RuleRef;
  matches: Match[];
  effects: Effect[];
  verdict: RuleVerdict;
}

export interface BaseChain {
  /** `filter`, `nat`, `route`. */
  type: string;
  hook: string;
  priority: number;
  policy: "accept" | "drop";
  /** netdev ingress chains: the device they are attached to. */
  devices: string[];
}

export interface Chain {
  name: string;
  /** null for a regular chain, reached only by jump or goto. */
  base: BaseChain | null;
  rules: Rule[];
}

export interface Table {
  family: TableFamily;
  name: string;
  chains: Chain[];
}

export interface Ruleset {
  /** "nft", "iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy" */
  source: string;
  /** Where it was read from, for messages: a file name or "nft -j list ruleset". */
  origin: string;
  tables: Table[];
  /** Things the parser skipped that do not change filtering (sets of types it does not model, ...). */
  notes: string[];
}

/** iptables table priorities, as iptables-nft registers them and legacy x_tables hooks use. */
export const IPTABLES_PRIORITY: Record<string, number> = {
  raw: -300,
  mangle: -150,
  nat: -100,
  filter: 0,
  security: 50,
};

/** "inet filter input": how every message names a chain. */
export function chainLabel(table: Table, chain: Chain | string): string {
  return `${table.family} ${table.name} ${typeof chain === "string" ? chain : chain.name}`;
}

/** IANA protocol numbers for the names nft and iptables print. */
export const PROTOCOL_NUMBERS: Record<string, number> = {
  ip: 0,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ipencap: 4,
  tcp: 6,
  egp: 8,
  pup: 12,
  udp: 17,
  idp: 22,
  dccp: 33,
  ipv6: 41,
  "ipv6-route": 43,
  "ipv6-frag": 44,
  rsvp: 46,
  gre: 47,
  esp: 50,
  ah: 51,
  "ipv6-icmp": 58,
  icmpv6: 58,
  "ipv6-nonxt": 59,
  "ipv6-opts": 60,
  ospf: 89,
  ospfigp: 89,
  pim: 103,
  ipcomp: 108,
  vrrp: 112,
  l2tp: 115,
  sctp: 132,
  udplite: 136,
  mpls: 137,
  "mpls-in-ip": 137,
};

/** ICMP type names (nft and iptables spelling) to numbers. */
export const ICMP_TYPES: Record<string, number> = {
  "echo-reply": 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
  "info-request": 15,
  "info-reply": 16,
  "address-mask-request": 17,
  "address-mask-reply": 18,
};

export const ICMPV6_TYPES: Record<string, number> = {
  "destination-unreachable": 1,
  "packet-too-big": 2,
  "time-exceeded": 3,
  "parameter-problem": 4,
  "echo-request": 128,
  "echo-reply": 129,
  "mld-listener-query": 130,
  "mld-listener-report": 131,
  "mld-listener-done": 132,
  "mld-listener-reduction": 132,
  "nd-router-solicit": 133,
  "nd-router-advert": 134,
  "nd-neighbor-solicit": 135,
  "nd-neighbor-advert": 136,
  "nd-redirect": 137,
  "router-renumbering": 138,
  "ind-neighbor-solicit": 141,
  "ind-neighbor-advert": 142,
  "mld2-listener-report": 143,
  // iptables spellings
  "router-solicitation": 133,
  "router-advertisement": 134,
  "neighbour-solicitation": 135,
  "neighbor-solicitation": 135,
  "neighbour-advertisement": 136,
  "neighbor-advertisement": 136,
};

/** TCP flag bits. */
export const TCP_FLAGS: Record<string, number> = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ecn: 0x40,
  cwr: 0x80,
};
