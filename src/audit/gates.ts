/**
 * What stands between the network and a socket: the host's own firewall (nftables, iptables) and a
 * declared packet filter in front of the NIC (a cloud filter file). Each gate judges one inbound
 * packet and says which source networks its rules single out, so reachability.ts can ask it about
 * every distinct part of the address space.
 */
import { evaluate } from "../filter/evaluate.js";
import type { Filter, Packet } from "../filter/types.js";
import { evaluateRuleset } from "../host/firewall/evaluate.js";
import type { Match, Ruleset } from "../host/firewall/model.js";
import type { Family } from "../host/types.js";
import { addressToBig, cidrBounds } from "../net/address-range.js";

export interface GateVerdict {
  verdict: "allow" | "deny" | "unknown";
  reason: string;
}

export interface Gate {
  /** Names the gate in reasons: "the host firewall", "the packet filter web.yaml". */
  name: string;
  /** Source networks (first and last address) its rules name for a family: where its answer can change. */
  sourceBounds(family: Family): Array<[bigint, bigint]>;
  judge(packet: Packet): GateVerdict;
  /** When true, the gate lets every packet of the family in (no rules at all): nothing to judge. */
  opensEverything(family: Family): boolean;
}

export function filterGate(filter: Filter, label: string): Gate {
  return {
    name: `the packet filter ${label}`,
    sourceBounds: (family) =>
      filter.rules.flatMap((rule) =>
        (rule.sources ?? [])
          .filter((s) => s.family === family)
          .map((s) => cidrBounds(family, s.address, s.prefix)),
      ),
    judge: (packet) => {
      const v = evaluate(filter, packet);
      return { verdict: v.verdict, reason: v.reason };
    },
    opensEverything: (family) =>
      !filter.families.includes(family) || (filter.rules.length === 0 && filter.default === "allow"),
  };
}

/** Table families whose chains see packets of an address family. */
const TABLE_FAMILIES: Record<Family, readonly string[]> = {
  ipv4: ["ip", "inet", "netdev"],
  ipv6: ["ip6", "inet", "netdev"],
};
const INBOUND_HOOKS = new Set(["ingress", "prerouting", "input"]);

function saddrMatches(match: Match): Match[] {
  return match.kind === "address" && match.field === "saddr" ? [match] : [];
}

export function firewallGate(rulesets: readonly Ruleset[]): Gate {
  const matches: Match[] = [];
  for (const ruleset of rulesets)
    for (const table of ruleset.tables)
      for (const chain of table.chains)
        for (const rule of chain.rules) {
          for (const m of rule.matches) matches.push(...saddrMatches(m));
          if (rule.verdict.kind === "vmap") {
            matches.push(...saddrMatches(rule.verdict.key));
            for (const entry of rule.verdict.entries) matches.push(...saddrMatches(entry.match));
          }
        }
  return {
    name: "the host firewall",
    sourceBounds: (family) =>
      matches.flatMap((m) =>
        m.kind !== "address" || m.family !== family
          ? []
          : m.items
              .filter((item) => item.family === family)
              .map((item): [bigint, bigint] =>
                item.kind === "prefix"
                  ? cidrBounds(family, item.address, item.prefix)
                  : [addressToBig(item.first).value, addressToBig(item.last).value],
              ),
      ),
    judge: (packet) => {
      const v = evaluateRuleset(rulesets, packet);
      return { verdict: v.verdict, reason: v.reason };
    },
    // No base chain on an inbound hook for the family: the kernel filters none of its packets.
    opensEverything: (family) =>
      !rulesets.some((ruleset) =>
        ruleset.tables.some(
          (table) =>
            TABLE_FAMILIES[family].includes(table.family) &&
            table.chains.some((chain) => chain.base !== null && INBOUND_HOOKS.has(chain.base.hook)),
        ),
      ),
  };
}
