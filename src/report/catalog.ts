/** Renders catalog entries for `moat catalog`: a compact table, a block per service, or JSON. */
import pc from "picocolors";
import type { Risk, Service, ServiceScope } from "../catalog/schema.js";
import { padColumns } from "./style.js";

export interface CatalogRenderOptions {
  color: boolean;
}

type Colors = ReturnType<typeof pc.createColors>;

const SCOPE_MEANING: Record<ServiceScope, string> = {
  public: "meant for the internet",
  lan: "meant for a private network, not the internet",
  local: "meant for this host only",
};

/** `text` is the scope, possibly padded for a column. */
function paintScope(c: Colors, scope: ServiceScope, text: string = scope): string {
  if (scope === "public") return c.green(text);
  if (scope === "lan") return c.yellow(text);
  return c.cyan(text);
}

/** Ports grouped by protocol in catalog order: "80,443/tcp 443/udp". */
export function formatPorts(specs: readonly string[]): string {
  const byProtocol = new Map<string, string[]>();
  for (const spec of specs) {
    const [ports = spec, protocol = ""] = spec.split("/");
    const list = byProtocol.get(protocol);
    if (list) list.push(ports);
    else byProtocol.set(protocol, [ports]);
  }
  return [...byProtocol].map(([protocol, ports]) => `${ports.join(",")}/${protocol}`).join(" ");
}

function formatFactor(factor: number): string {
  return `${factor.toLocaleString("en-US", { maximumFractionDigits: 1 })}x`;
}

/** "reflection (udp, 51,000x)" */
function riskLabel(risk: Risk): string {
  const details: string[] = [];
  if (risk.protocol) details.push(risk.protocol);
  if (risk.amplification !== undefined) details.push(`amplification ${formatFactor(risk.amplification)}`);
  return details.length > 0 ? `${risk.kind} (${details.join(", ")})` : risk.kind;
}

function paintRisk(c: Colors, risk: Risk, text: string): string {
  return risk.kind === "reflection" || risk.kind === "remote-code-execution" ? c.red(text) : c.yellow(text);
}

function risksCell(service: Service): string {
  if (service.risks.length === 0) return "-";
  return service.risks
    .map((r) => (r.amplification === undefined ? r.kind : `${r.kind} ${formatFactor(r.amplification)}`))
    .join(", ");
}

/** The listing with no query: one line per service, borderless, for reading and for grep. */
export function renderCatalogTable(services: readonly Service[], options: CatalogRenderOptions): string {
  const c = pc.createColors(options.color);
  const rows = padColumns([
    ["ID", "PORTS", "SCOPE", "RISKS"],
    ...services.map((s) => [s.id, formatPorts(s.ports), s.scope, risksCell(s)]),
  ]);
  const lines = rows.map(([id, ports, scope, risks], i) =>
    i === 0
      ? c.bold(`${id}${ports}${scope}${risks}`)
      : `${id}${ports}${paintScope(c, services[i - 1]!.scope, scope!)}${risks}`,
  );
  const text = lines.join("\n");
  const count = services.length === 1 ? "1 service" : `${services.length} services`;
  return `${text}\n\n${count}. Details: moat catalog ID, PORT or PORT/PROTOCOL.\n`;
}

function fixLines(service: Service): string[] {
  const lines = [`  Fix:         ${service.fix.summary}`];
  for (const change of service.fix.config) {
    const value = change.value === "" ? "" : ` ${change.value}`;
    lines.push(`    ${change.file}: ${change.key}${value}`);
    if (change.rhelFile) lines.push(`      RHEL/CentOS/Fedora file: ${change.rhelFile}`);
    if (change.note) lines.push(`      (${change.note})`);
  }
  if (service.fix.unit) {
    const rhel = service.fix.rhelUnit ? `   RHEL: ${service.fix.rhelUnit}` : "";
    lines.push(`    systemd unit: ${service.fix.unit}${rhel}`);
  }
  return lines;
}

/** One readable block: what it is, where it listens, who should reach it, what goes wrong, what to change. */
function renderBlock(service: Service, c: Colors): string {
  const lines = [
    `${c.bold(service.name)} ${c.dim(`(${service.id})`)}`,
    `  ${service.description}`,
    `  Ports:       ${service.ports.join(", ")}`,
    `  Processes:   ${service.processes.length > 0 ? service.processes.join(", ") : "none (kernel or device)"}`,
    `  Scope:       ${paintScope(c, service.scope)} (${SCOPE_MEANING[service.scope]})`,
  ];
  if (service.risks.length > 0) {
    lines.push("  Risks:");
    for (const risk of service.risks)
      lines.push(`    - ${paintRisk(c, risk, riskLabel(risk))}: ${risk.summary}`);
  } else {
    lines.push("  Risks:       none listed");
  }
  lines.push(...fixLines(service));
  if (service.references.length > 0) {
    lines.push("  References:");
    for (const url of service.references) lines.push(`    ${url}`);
  }
  return lines.join("\n");
}

/** Full details of each service, blank line between them. */
export function renderCatalogDetails(services: readonly Service[], options: CatalogRenderOptions): string {
  const c = pc.createColors(options.color);
  return `${services.map((s) => renderBlock(s, c)).join("\n\n")}\n`;
}

/** The `--json` form: an array of catalog entries exactly as the schema defines them. */
export function renderCatalogJson(services: readonly Service[]): string {
  return `${JSON.stringify(services, null, 2)}\n`;
}
