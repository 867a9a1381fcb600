/** How bad a listening socket is, from where it is reachable and what its service risks. */
import type { RiskKind, Service } from "../catalog/schema.js";
import type { BindScope } from "../net/address.js";
import { type Exposure, type FindingRisk, SEVERITIES, type Severity, severityRank } from "./types.js";

const RISK_SEVERITY: Record<RiskKind, Severity> = {
  reflection: "critical",
  "remote-code-execution": "critical",
  "data-exposure": "high",
  "remote-admin": "high",
  "cleartext-credentials": "medium",
  "information-disclosure": "medium",
};

function worst(severities: Severity[], fallback: Severity): Severity {
  if (severities.length === 0) return fallback;
  return severities.reduce((a, b) => (severityRank(a) <= severityRank(b) ? a : b));
}

export function judgeSeverity(
  exposure: Exposure,
  scope: BindScope,
  service: Service | undefined,
  risks: FindingRisk[],
): Severity {
  if (exposure === "restricted" || exposure === "blocked") {
    const open = judgeSeverity("exposed", scope, service, risks);
    // Restricted: some outside sources still reach it, one step less bad. Blocked: nothing reaches it
    // now, but a daemon on all addresses is one firewall change away from exposed again.
    if (exposure === "restricted")
      return SEVERITIES[Math.min(severityRank(open) + 1, severityRank("low"))] ?? "low";
    return severityRank(open) <= severityRank("high") ? "low" : "info";
  }
  if (exposure !== "exposed") {
    // A local-only service on a private address is reachable by neighbours: worth a look, no more.
    return (scope === "private" || scope === "link-local") && service?.scope === "local" ? "low" : "info";
  }
  // Something nobody can name, open to every network: someone has to look at it.
  if (!service) return "medium";
  if (service.scope === "public") {
    // Meant to be public (web, mail, DNS): only a reflection risk (an open resolver) is worth more than a note.
    if (risks.some((r) => r.kind === "reflection")) return "medium";
    return risks.length > 0 ? "low" : "info";
  }
  // A LAN or local service reachable from the internet is a finding even with no listed risk.
  return worst(
    risks.map((r) => RISK_SEVERITY[r.kind]),
    "medium",
  );
}
