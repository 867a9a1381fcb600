/**
 * Filter -> an `nft -f` script that creates or replaces Moat's own table, `inet moat`, and nothing
 * else, in one transaction.
 *
 * Where it hooks, and why (the kernel proof in test/filter/kernel-proof.test.ts checks all of this):
 * - prerouting, not input. IPv4 is reassembled before the input hook (ip_local_deliver), so an input
 *   chain never sees a non-first fragment and `fragment` rules would be dead. Prerouting also judges
 *   a DNAT'd (Docker-published) port by the port the packet arrived on, as a NIC filter would.
 * - stateless: priority -450, before conntrack's defragmentation (-400) in case another table loads
 *   conntrack: fragments are judged one by one, as the cloud filter judges them.
 * - stateful: priority -150, after conntrack (-200) so `ct state` is known, before DNAT (-100).
 *   Conntrack has reassembled well-formed fragments by then, so `fragment` rules only meet the ones
 *   it could not queue (a warning says so).
 * - Non-first fragments jump to their own chain holding only the `fragment` and `ip` rules: the kernel
 *   matches `meta l4proto udp` on a non-first UDP fragment, which the model's `udp` rule must not.
 * An accept here only ends Moat's chain (other tables still judge the packet); a drop is final.
 */
import type { Family } from "../../host/types.js";
import type { Filter, FilterRule, PortRange } from "../types.js";
import {
  type CompileOptions,
  type CompileResult,
  cidrText,
  commentText,
  ignoredPortWarnings,
  neighbourDiscoveryWarnings,
  neverMatches,
  neverMatchWarnings,
  portsOf,
  portText,
  ruleApplies,
  ruleLabel,
  sourcesOf,
  statefulFragmentWarnings,
} from "./common.js";

export const NFT_TABLE = "inet moat";
export const NFT_CHAIN = "input";
export const NFT_FRAGMENT_CHAIN = "fragments";
export const NFT_PRIORITY = { stateless: -450, stateful: -150 } as const;
/** Comment prefixes the counters are read back by. */
export const NFT_DEFAULT_COMMENT = "moat default";
export const NFT_UNFILTERED_COMMENT = "moat unfiltered";

const FAMILIES: Family[] = ["ipv4", "ipv6"];
const SADDR: Record<Family, string> = { ipv4: "ip saddr", ipv6: "ip6 saddr" };
const NFPROTO: Record<Family, string> = { ipv4: "ipv4", ipv6: "ipv6" };

/** Linux interface names: at most 15 bytes, no quotes or spaces (checked here: it goes into a script). */
const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

function set(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(", ")} }`;
}

function portMatch(protocol: "tcp" | "udp", field: "sport" | "dport", ports: PortRange[] | null): string[] {
  return ports === null ? [] : [`${protocol} ${field} ${set(ports.map((p) => portText(p, "-")))}`];
}

/** Matches for the protocol part of a rule in the main chain. */
function protocolMatches(rule: FilterRule): string[] {
  switch (rule.protocol) {
    case "tcp":
    case "udp": {
      const ports = [
        ...portMatch(rule.protocol, "sport", portsOf(rule.sourcePorts)),
        ...portMatch(rule.protocol, "dport", portsOf(rule.destinationPorts)),
      ];
      // `tcp dport` implies the protocol; without ports it must be said.
      return ports.length > 0 ? ports : [`meta l4proto ${rule.protocol}`];
    }
    case "icmp":
      return ["meta l4proto icmp"];
    case "icmpv6":
      return ["meta l4proto ipv6-icmp"];
    case "ip":
    case "fragment":
      return [];
  }
}

/**
 * One nft rule per family the rule's sources name (an nft rule cannot say "ip saddr A or ip6 saddr
 * B"); all carry the same comment, so counters add up per filter rule.
 */
function ruleLines(rule: FilterRule, index: number, counters: boolean, inFragmentChain: boolean): string[] {
  const tail = `${counters ? "counter " : ""}${rule.action === "allow" ? "accept" : "drop"} comment "${commentText(ruleLabel(index, rule))}"`;
  if (neverMatches(rule)) return [`# ${commentText(ruleLabel(index, rule))}: never matches (an empty list)`];
  const proto = inFragmentChain ? [] : protocolMatches(rule);
  if (rule.sources === null) return [[...proto, tail].join(" ")];
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const sources = sourcesOf(rule, family);
    if (sources.length === 0 || (!inFragmentChain && !ruleApplies(rule, family))) continue;
    lines.push([`${SADDR[family]} ${set(sources.map(cidrText))}`, ...proto, tail].join(" "));
  }
  return lines.length > 0
    ? lines
    : [
        `# ${commentText(ruleLabel(index, rule))}: never matches (${rule.protocol} from other-family sources only)`,
      ];
}

function defaultLine(filter: Filter, counters: boolean): string {
  const verdict = filter.default === "allow" ? "accept" : "drop";
  return `${counters ? "counter " : ""}${verdict} comment "${NFT_DEFAULT_COMMENT}: ${filter.default}"`;
}

function preamble(filter: Filter, opts: CompileOptions, counters: boolean): string[] {
  const lines: string[] = [];
  if (opts.interface !== undefined) {
    lines.push(`iifname != "${opts.interface}" accept comment "moat: only ${opts.interface} is filtered"`);
  } else {
    lines.push(`iif "lo" accept comment "moat: loopback is not filtered"`);
    // Traffic routed through this host (containers' own outbound traffic, a router's transit) is not
    // inbound to it; judging it would cut containers off. A NIC filter would not see it either.
    lines.push(`fib daddr type unicast accept comment "moat: forwarded traffic is not for this host"`);
  }
  for (const family of FAMILIES) {
    if (filter.families.includes(family)) continue;
    lines.push(
      `meta nfproto ${NFPROTO[family]} ${counters ? "counter " : ""}accept comment "${NFT_UNFILTERED_COMMENT}: ${family} is not covered by this filter"`,
    );
  }
  if (filter.mode === "stateful") {
    lines.push(
      `ct state established,related ${counters ? "counter " : ""}accept comment "moat: replies and flows already allowed"`,
    );
  }
  // Stateful too: conntrack reassembles, but a fragment it cannot queue (malformed) still gets here.
  lines.push(`ip frag-off & 0x1fff != 0 goto ${NFT_FRAGMENT_CHAIN} comment "moat: non-first IPv4 fragment"`);
  lines.push(`frag frag-off != 0 goto ${NFT_FRAGMENT_CHAIN} comment "moat: non-first IPv6 fragment"`);
  return lines;
}

function header(filter: Filter, opts: CompileOptions): string[] {
  const priority = NFT_PRIORITY[filter.mode];
  const uncovered = FAMILIES.filter((f) => !filter.families.includes(f));
  return [
    "#!/usr/sbin/nft -f",
    `# Moat filter "${commentText(filter.name)}" (${filter.mode}, default ${filter.default})${filter.description ? `: ${commentText(filter.description)}` : ""}`,
    `# Apply with \`nft -f FILE\`: one transaction that creates or replaces table ${NFT_TABLE} and touches nothing else.`,
    `# Hook prerouting, priority ${priority}: ${
      filter.mode === "stateless"
        ? "before defragmentation (-400), so non-first fragments are judged as the cloud filter judges them"
        : "after conntrack (-200), so replies to allowed traffic pass; fragments are judged reassembled"
    }; before DNAT, so published container ports are judged by the port the packet arrived on.`,
    `# ${opts.interface !== undefined ? `Only packets arriving on ${opts.interface} are judged.` : "Packets on lo and traffic forwarded through this host are not judged."} An accept ends only this table's chain; a drop is final.`,
    ...(uncovered.length > 0 ? [`# Not covered, passes unfiltered: ${uncovered.join(", ")}.`] : []),
    "",
  ];
}

export function compileNft(filter: Filter, opts: CompileOptions = {}): CompileResult {
  if (opts.interface !== undefined && !INTERFACE.test(opts.interface)) {
    throw new Error(
      `interface "${opts.interface}": a Linux interface name (letters, digits, _ . : @ -; at most 15)`,
    );
  }
  const counters = opts.counters ?? false;
  const indent = (lines: string[]) => lines.map((line) => `\t\t${line}`);
  const main = filter.rules.flatMap((rule, i) =>
    rule.protocol === "fragment" ? [] : ruleLines(rule, i, counters, false),
  );
  const chains = [
    `\tchain ${NFT_CHAIN} {`,
    `\t\ttype filter hook prerouting priority ${NFT_PRIORITY[filter.mode]}; policy accept;`,
    ...indent(preamble(filter, opts, counters)),
    ...indent(main),
    ...indent([defaultLine(filter, counters)]),
    "\t}",
  ];
  const fragmentRules = filter.rules.flatMap((rule, i) =>
    rule.protocol === "fragment" || rule.protocol === "ip" ? ruleLines(rule, i, counters, true) : [],
  );
  chains.push(
    "",
    `\t# Non-first fragments carry no ports: only fragment and ip rules can match them.`,
    `\tchain ${NFT_FRAGMENT_CHAIN} {`,
    ...indent(fragmentRules),
    ...indent([defaultLine(filter, counters)]),
    "\t}",
  );
  const output = [
    ...header(filter, opts),
    // Declaring then deleting makes the delete safe when the table does not exist yet; nft -f runs
    // the whole file as one transaction, so nothing is ever unfiltered in between.
    `table ${NFT_TABLE} {}`,
    `delete table ${NFT_TABLE}`,
    "",
    `table ${NFT_TABLE} {`,
    ...chains,
    "}",
    "",
  ].join("\n");
  const warnings = [
    ...neverMatchWarnings(filter),
    ...ignoredPortWarnings(filter),
    ...statefulFragmentWarnings(filter),
    ...neighbourDiscoveryWarnings(filter),
  ];
  return { output, warnings };
}
