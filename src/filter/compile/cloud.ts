/**
 * Filter -> the cloud API's packet-filter expressions (../shared/reference/packet-filter.md):
 * `[{Protocol, SourceNetwork, SourcePort, DestinationPort, Action, Description}]`, first match wins,
 * at most 30, IPv4 only, stateless, one network and one port range per expression.
 *
 * Lists expand in order into several expressions (sources x source ports x destination ports), and
 * the 30-expression limit applies to the expanded list. Whatever the cloud filter cannot hold (IPv6
 * sources, icmpv6, stateful mode) is said in a warning naming the rule, never dropped silently. The
 * default action becomes an explicit last `ip` expression, so the result does not depend on what the
 * provider does with a packet no expression matched.
 */
import type { Filter, FilterRule, PortRange } from "../types.js";
import {
  type CompileResult,
  cidrText,
  commentText,
  ignoredPortWarnings,
  neverMatches,
  neverMatchWarnings,
  portsOf,
  portText,
  ruleLabel,
  sourcesOf,
} from "./common.js";

export const CLOUD_MAX_EXPRESSIONS = 30;

export interface CloudExpression {
  Protocol: "tcp" | "udp" | "icmp" | "fragment" | "ip";
  /** "" = any; a network "192.0.2.0/24" or one address. */
  SourceNetwork: string;
  /** "" = any; "80" or "1024-65535"; tcp and udp only. */
  SourcePort: string;
  DestinationPort: string;
  Action: "allow" | "deny";
  Description: string;
}

export interface CloudExpressions {
  expressions: CloudExpression[];
  warnings: string[];
}

function portChoices(ranges: PortRange[] | null): string[] {
  const ports = portsOf(ranges);
  return ports === null ? [""] : ports.map((r) => portText(r, "-"));
}

/** The expressions one rule expands to, with what could not be said. */
function expand(rule: FilterRule, index: number, warnings: string[]): CloudExpression[] {
  const n = index + 1;
  if (neverMatches(rule)) return [];
  if (rule.protocol === "icmpv6") {
    warnings.push(
      `rule ${n}: icmpv6 cannot be expressed (the cloud filter is IPv4-only; IPv6 passes it unfiltered)`,
    );
    return [];
  }
  let networks = [""];
  if (rule.sources !== null) {
    const v4 = sourcesOf(rule, "ipv4");
    const hasV6 = rule.sources.some((c) => c.family === "ipv6");
    if (v4.length === 0) {
      warnings.push(
        `rule ${n}: only IPv6 sources, which the cloud filter cannot express (IPv6 passes it unfiltered)`,
      );
      return [];
    }
    if (hasV6) warnings.push(`rule ${n}: IPv6 sources left out (the cloud filter is IPv4-only)`);
    networks = v4.map((c) => (c.prefix === 0 ? "" : cidrText(c)));
  }
  const ported = rule.protocol === "tcp" || rule.protocol === "udp";
  const sourcePorts = ported ? portChoices(rule.sourcePorts) : [""];
  const destinationPorts = ported ? portChoices(rule.destinationPorts) : [""];
  const out: CloudExpression[] = [];
  for (const network of networks) {
    for (const sourcePort of sourcePorts) {
      for (const destinationPort of destinationPorts) {
        out.push({
          Protocol: rule.protocol,
          SourceNetwork: network,
          SourcePort: sourcePort,
          DestinationPort: destinationPort,
          Action: rule.action,
          Description: commentText(ruleLabel(index, rule), 500),
        });
      }
    }
  }
  return out;
}

function catchAll(e: CloudExpression): boolean {
  return e.Protocol === "ip" && e.SourceNetwork === "";
}

export function cloudExpressions(filter: Filter): CloudExpressions {
  const warnings = [...neverMatchWarnings(filter), ...ignoredPortWarnings(filter)];
  if (filter.mode === "stateful") {
    warnings.push(
      "the cloud filter is stateless: compiled as stateless, so return traffic of connections the server " +
        "opens (DNS, package downloads, NTP) must be allowed by rules",
    );
  }
  if (filter.families.includes("ipv6")) {
    warnings.push("the filter covers IPv6, which the cloud filter cannot: IPv6 passes it unfiltered");
  }
  if (!filter.families.includes("ipv4")) {
    warnings.push("the filter does not cover IPv4, the only family the cloud filter judges: no expressions");
    return { expressions: [], warnings };
  }
  const expressions = filter.rules.flatMap((rule, i) => expand(rule, i, warnings));
  const last = expressions[expressions.length - 1];
  if (last === undefined || !catchAll(last)) {
    expressions.push({
      Protocol: "ip",
      SourceNetwork: "",
      SourcePort: "",
      DestinationPort: "",
      Action: filter.default,
      Description: `moat default: ${filter.default}`,
    });
  }
  if (expressions.length > CLOUD_MAX_EXPRESSIONS) {
    warnings.push(
      `${expressions.length} expressions after expanding lists (and the default): the cloud filter takes at ` +
        `most ${CLOUD_MAX_EXPRESSIONS}; merge sources into wider networks or ports into ranges`,
    );
  }
  return { expressions, warnings };
}

export function compileCloud(filter: Filter): CompileResult {
  const { expressions, warnings } = cloudExpressions(filter);
  return { output: `${JSON.stringify(expressions, null, 2)}\n`, warnings };
}
