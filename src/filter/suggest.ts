/**
 * A filter written from an audit: the public services that listen stay open, admin services
 * (SSH, RDP, VNC, ...) only from the admin networks, everything else denied by default.
 */
import type { Finding } from "../audit/types.js";
import type { Catalog } from "../catalog/types.js";
import { InputError } from "../errors.js";
import type { Cidr, Filter, FilterMode, FilterRule } from "./types.js";

export interface SuggestOptions {
  /** Networks allowed to reach admin services; required when one listens. */
  admin: Cidr[];
  mode: FilterMode;
  name: string;
}

/** Linux's ephemeral ports, where replies to this host's own connections arrive (stateless only). */
const EPHEMERAL = { start: 32768, end: 60999 };

function rule(
  partial: Pick<FilterRule, "action" | "protocol" | "description"> & Partial<FilterRule>,
): FilterRule {
  return { sources: null, sourcePorts: null, destinationPorts: null, line: null, ...partial };
}

/** Findings reachable from other hosts, one per protocol and port (the IPv4 and IPv6 sockets of one daemon). */
function openSockets(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.protocol}/${f.port}`;
    if (f.exposure === "local" || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function suggestFilter(
  findings: readonly Finding[],
  catalog: Catalog,
  options: SuggestOptions,
): Filter {
  const rules: FilterRule[] = [];
  const denied: string[] = [];
  const adminNeeded: string[] = [];
  for (const f of openSockets(findings)) {
    const service = f.service ? catalog.byId(f.service.id) : undefined;
    const label = `${service?.name ?? "unknown service"} (${f.port}/${f.protocol})`;
    const protocol = f.protocol;
    const destinationPorts = [{ start: f.port, end: f.port }];
    if (service?.risks.some((r) => r.kind === "remote-admin")) {
      adminNeeded.push(label);
      if (options.admin.length > 0) {
        rules.push(
          rule({
            action: "allow",
            protocol,
            sources: options.admin,
            destinationPorts,
            description: `${label} from the admin networks`,
          }),
        );
      }
    } else if (service?.scope === "public") {
      rules.push(rule({ action: "allow", protocol, destinationPorts, description: label }));
    } else {
      denied.push(label);
    }
  }
  if (adminNeeded.length > 0 && options.admin.length === 0) {
    throw new InputError(
      `${adminNeeded.join(", ")} would be denied to everyone, you included: add --admin NETWORK (the address you administer this host from)`,
    );
  }
  rules.push(rule({ action: "allow", protocol: "icmp", description: "ICMP (ping, path MTU discovery)" }));
  rules.push(
    rule({
      action: "allow",
      protocol: "icmpv6",
      description: "ICMPv6 (neighbour discovery, path MTU discovery)",
    }),
  );
  if (options.mode === "stateless") {
    rules.push(rule({ action: "allow", protocol: "fragment", description: "second and later fragments" }));
    for (const protocol of ["tcp", "udp"] as const) {
      rules.push(
        rule({
          action: "allow",
          protocol,
          destinationPorts: [EPHEMERAL],
          description: `return traffic (${protocol}) to the ephemeral ports`,
        }),
      );
    }
  }
  const description =
    denied.length === 0
      ? "Written by moat filter suggest from the audit of this host."
      : `Written by moat filter suggest from the audit of this host. Denied by default: ${denied.join(", ")}.`;
  return {
    name: options.name,
    description,
    mode: options.mode,
    families: ["ipv4", "ipv6"],
    default: "deny",
    rules,
  };
}
