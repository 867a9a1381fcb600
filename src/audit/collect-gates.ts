/**
 * Gathers the gates in front of the audited sockets: the host firewall of the namespace being
 * audited (read live with nft and iptables) and a declared packet filter in front of the NIC.
 * The one part of audit that does I/O, kept apart so classify stays pure.
 */
import { EnvironmentError } from "../errors.js";
import type { SocketSourceSpec } from "../host/sockets.js";
import type { Gate } from "./gates.js";

export interface GateOptions {
  /** A packet filter file in front of the NIC (`--filter FILE`). */
  filterFile?: string;
  /** Read the host firewall (default true; only for sockets read on this host). */
  firewall: boolean;
}

export async function collectGates(
  source: SocketSourceSpec,
  options: GateOptions,
): Promise<{ gates: Gate[]; warnings: string[] }> {
  const gates: Gate[] = [];
  const warnings: string[] = [];
  // Loaded on demand: the filter loader and the firewall parsers bring YAML and schema libraries,
  // and the rule evaluators behind the gates are not needed when there is no gate at all.
  if (options.filterFile !== undefined) {
    const [{ loadFilter }, { filterGate }] = await Promise.all([
      import("../filter/load.js"),
      import("./gates.js"),
    ]);
    gates.push(filterGate(loadFilter(options.filterFile), options.filterFile));
  }
  if (!options.firewall) return { gates, warnings };
  if (source.kind === "ss" || source.kind === "proc-root") {
    // Another host's sockets: this host's firewall says nothing about them.
    return { gates, warnings };
  }
  if (source.kind === "all-netns") {
    warnings.push(
      "the firewall of each namespace is not consulted with --all-netns; use --netns NAME for one namespace",
    );
    return { gates, warnings };
  }
  const [{ readHostFirewall }, { firewallGate }] = await Promise.all([
    import("../host/firewall/read.js"),
    import("./gates.js"),
  ]);
  try {
    const firewall = await readHostFirewall(source.kind === "netns" ? { netns: source.name } : {});
    warnings.push(...firewall.warnings);
    gates.push(firewallGate(firewall.rulesets));
  } catch (error) {
    if (!(error instanceof EnvironmentError)) throw error;
    warnings.push(
      `could not read the host firewall (${error.message}; ${error.fix}); exposure is judged from bind addresses alone`,
    );
  }
  return { gates, warnings };
}
