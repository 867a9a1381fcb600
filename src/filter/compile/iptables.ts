/**
 * Filter -> `iptables-restore` and `ip6tables-restore` input with the nft target's semantics.
 *
 * Hooks mirror the nft compiler (see nft.ts for the reasons): PREROUTING rather than INPUT, in the
 * `raw` table for stateless filters (the earliest iptables can hook: before conntrack, and before
 * defragmentation too unless something else loaded conntrack) and in `mangle` for stateful ones
 * (after conntrack, so --ctstate is known; before DNAT). PREROUTING jumps to Moat's own chain
 * MOAT-INPUT, which sends non-first fragments to MOAT-FRAGMENT and everything else to MOAT-RULES.
 * An allowed packet RETURNs to PREROUTING, so the host's own rules there still run; a drop is final.
 * iptables counts every rule, so no counter option is needed.
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

export const IPT_CHAIN = "MOAT-INPUT";
export const IPT_RULES_CHAIN = "MOAT-RULES";
export const IPT_FRAGMENT_CHAIN = "MOAT-FRAGMENT";
/** multiport takes at most 15 ports, a range counting as two. */
const MULTIPORT_SLOTS = 15;
const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

export interface IptablesResult extends CompileResult {
  /** For iptables-restore --noflush. */
  ipv4: string;
  /** For ip6tables-restore --noflush. */
  ipv6: string;
}

/** Port lists cut into pieces one multiport match can hold, in order. */
function chunkPorts(ports: PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let current: PortRange[] = [];
  let slots = 0;
  for (const range of ports) {
    const cost = range.start === range.end ? 1 : 2;
    if (slots + cost > MULTIPORT_SLOTS) {
      chunks.push(current);
      current = [];
      slots = 0;
    }
    current.push(range);
    slots += cost;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function portOption(field: "sport" | "dport", chunk: PortRange[] | null): string[] {
  if (chunk === null) return [];
  if (chunk.length === 1) return [`--${field} ${portText(chunk[0]!, ":")}`];
  return [`-m multiport --${field}s ${chunk.map((r) => portText(r, ":")).join(",")}`];
}

function protocolOptions(rule: FilterRule): string[][] {
  switch (rule.protocol) {
    case "tcp":
    case "udp": {
      const sports = portsOf(rule.sourcePorts);
      const dports = portsOf(rule.destinationPorts);
      const variants: string[][] = [];
      for (const s of sports === null ? [null] : chunkPorts(sports)) {
        for (const d of dports === null ? [null] : chunkPorts(dports)) {
          // -p first (it loads the tcp/udp match); single-port options before any multiport match,
          // whose --dports would otherwise swallow a later --dport as its abbreviation.
          const options = [...portOption("sport", s), ...portOption("dport", d)];
          const single = options.filter((o) => !o.startsWith("-m multiport"));
          const multi = options.filter((o) => o.startsWith("-m multiport"));
          variants.push([`-p ${rule.protocol}`, ...single, ...multi]);
        }
      }
      return variants;
    }
    case "icmp":
      return [["-p icmp"]];
    case "icmpv6":
      return [["-p ipv6-icmp"]];
    case "ip":
    case "fragment":
      return [[]];
  }
}

function ruleLines(
  rule: FilterRule,
  index: number,
  family: Family,
  chain: string,
  inFragments: boolean,
): string[] {
  if (neverMatches(rule) || (!inFragments && !ruleApplies(rule, family))) return [];
  if (rule.sources !== null && sourcesOf(rule, family).length === 0) return [];
  const target = rule.action === "allow" ? "RETURN" : "DROP";
  const comment = `-m comment --comment "${commentText(ruleLabel(index, rule))}"`;
  const sources = rule.sources === null ? [null] : sourcesOf(rule, family);
  const protocols = inFragments ? [[]] : protocolOptions(rule);
  const lines: string[] = [];
  for (const source of sources) {
    for (const proto of protocols) {
      const parts = [
        `-A ${chain}`,
        ...(source === null ? [] : [`-s ${cidrText(source)}`]),
        ...proto,
        comment,
        `-j ${target}`,
      ];
      lines.push(parts.join(" "));
    }
  }
  return lines;
}

function defaultLine(filter: Filter, chain: string): string {
  const target = filter.default === "allow" ? "RETURN" : "DROP";
  return `-A ${chain} -m comment --comment "moat default: ${filter.default}" -j ${target}`;
}

function familyScript(filter: Filter, family: Family, opts: CompileOptions): string {
  const tool = family === "ipv4" ? "iptables-restore" : "ip6tables-restore";
  const table = filter.mode === "stateless" ? "raw" : "mangle";
  const head = [
    `# Moat filter "${commentText(filter.name)}" (${filter.mode}, default ${filter.default}) for ${tool} --noflush`,
    `# Table ${table}, PREROUTING -> ${IPT_CHAIN}. --noflush keeps the host's other rules; the chain lines`,
    `# below create or empty Moat's chains. Insert the PREROUTING jump only once (delete an older one first:`,
    `# ${family === "ipv4" ? "iptables" : "ip6tables"} -t ${table} -D PREROUTING -j ${IPT_CHAIN}).`,
  ];
  if (!filter.families.includes(family)) {
    return [
      ...head,
      `# ${family} is not covered by this filter: it passes unfiltered, so nothing is loaded.`,
      "",
    ].join("\n");
  }
  const lines = [
    `*${table}`,
    `:${IPT_CHAIN} - [0:0]`,
    `:${IPT_RULES_CHAIN} - [0:0]`,
    `:${IPT_FRAGMENT_CHAIN} - [0:0]`,
    `-I PREROUTING 1 -j ${IPT_CHAIN}`,
  ];
  const pre = `-A ${IPT_CHAIN}`;
  if (opts.interface !== undefined) {
    lines.push(
      `${pre} ! -i ${opts.interface} -m comment --comment "moat: only ${opts.interface} is filtered" -j RETURN`,
    );
  } else {
    lines.push(`${pre} -i lo -m comment --comment "moat: loopback is not filtered" -j RETURN`);
    // IPv6's addrtype calls a local address UNICAST as well as LOCAL (the kernel proof found it):
    // forwarded means unicast and not local, in both families.
    lines.push(
      `${pre} -m addrtype --dst-type UNICAST -m addrtype ! --dst-type LOCAL -m comment --comment "moat: forwarded traffic is not for this host" -j RETURN`,
    );
  }
  if (filter.mode === "stateful") {
    lines.push(
      `${pre} -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment "moat: replies and flows already allowed" -j RETURN`,
    );
  }
  // Non-first fragments carry no ports: only fragment and ip rules may judge them.
  if (family === "ipv4") {
    lines.push(`${pre} -f -g ${IPT_FRAGMENT_CHAIN}`);
  } else {
    // ip6tables has no -f; the frag match cannot negate --fragfirst, so first fragments go first.
    lines.push(`${pre} -m frag --fragfirst -g ${IPT_RULES_CHAIN}`, `${pre} -m frag -g ${IPT_FRAGMENT_CHAIN}`);
  }
  lines.push(`${pre} -g ${IPT_RULES_CHAIN}`);
  filter.rules.forEach((rule, i) => {
    if (rule.protocol !== "fragment") lines.push(...ruleLines(rule, i, family, IPT_RULES_CHAIN, false));
  });
  lines.push(defaultLine(filter, IPT_RULES_CHAIN));
  filter.rules.forEach((rule, i) => {
    if (rule.protocol === "fragment" || rule.protocol === "ip")
      lines.push(...ruleLines(rule, i, family, IPT_FRAGMENT_CHAIN, true));
  });
  lines.push(defaultLine(filter, IPT_FRAGMENT_CHAIN), "COMMIT", "");
  return [...head, ...lines].join("\n");
}

export function compileIptables(filter: Filter, opts: CompileOptions = {}): IptablesResult {
  if (opts.interface !== undefined && !INTERFACE.test(opts.interface)) {
    throw new Error(
      `interface "${opts.interface}": a Linux interface name (letters, digits, _ . : @ -; at most 15)`,
    );
  }
  const ipv4 = familyScript(filter, "ipv4", opts);
  const ipv6 = familyScript(filter, "ipv6", opts);
  const output = `# ---- iptables-restore --noflush ----\n${ipv4}\n# ---- ip6tables-restore --noflush ----\n${ipv6}`;
  const warnings = [
    ...neverMatchWarnings(filter),
    ...ignoredPortWarnings(filter),
    ...statefulFragmentWarnings(filter),
    ...neighbourDiscoveryWarnings(filter),
  ];
  return { output, warnings, ipv4, ipv6 };
}
