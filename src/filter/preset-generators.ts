/**
 * Rules that presets generate from the catalog instead of listing by hand, so that a reflector
 * added to catalog/services.yaml is covered without editing any preset.
 */
import type { Catalog } from "../catalog/types.js";

const UDP_PORT = /^(\d{1,5})(?:-(\d{1,5}))?\/udp$/;

/**
 * One rule per catalog service with a UDP reflection risk, over that service's UDP ports not
 * already covered by an earlier service (DNS's 53 appears under several servers). Rules come out as
 * filter-file data and go through the normal filter validation.
 */
export function reflectorRules(catalog: Catalog, action: "allow" | "deny"): Record<string, unknown>[] {
  const seen = new Set<string>();
  const rules: Record<string, unknown>[] = [];
  for (const service of catalog.services) {
    const risk = service.risks.find((r) => r.kind === "reflection" && (r.protocol ?? "udp") === "udp");
    if (risk === undefined) continue;
    const ports: string[] = [];
    for (const spec of service.ports) {
      const m = UDP_PORT.exec(spec);
      if (!m) continue;
      const range = m[2] === undefined ? m[1]! : `${m[1]}-${m[2]}`;
      if (seen.has(range)) continue;
      seen.add(range);
      ports.push(range);
    }
    if (ports.length === 0) continue;
    const factor = risk.amplification === undefined ? "" : `, up to ${formatFactor(risk.amplification)}x`;
    rules.push({
      action,
      protocol: "udp",
      destinationPort: ports.length === 1 ? ports[0] : ports,
      description: `${service.name}: UDP reflection${factor}`,
    });
  }
  return rules;
}

function formatFactor(factor: number): string {
  return factor >= 100 ? Math.round(factor).toLocaleString("en-US") : String(factor);
}
