/** `moat audit --json`, `--format csv` and `--format markdown`. */
import { isCommand } from "../audit/fix.js";
import { type AuditReport, SEVERITIES } from "../audit/types.js";
import { exposureCell } from "./audit-table.js";
import { csvRows } from "./csv.js";
import { prettyJsonParts } from "./json-parts.js";

/**
 * The output contract of DESIGN.md, pretty-printed (field order kept stable for people who diff
 * reports), in parts to write one after another: a large report is never one string.
 */
export function auditJsonParts(report: AuditReport): Iterable<string> {
  return prettyJsonParts(report, "findings");
}

export function renderAuditJson(report: AuditReport): string {
  return [...auditJsonParts(report)].join("");
}

const CSV_HEADER = [
  "severity",
  "protocol",
  "family",
  "address",
  "port",
  "scope",
  "exposure",
  "service",
  "process",
  "pid",
  "unit",
  "netns",
  "risks",
  "reasons",
  "fix",
  // --scan-from only: the state seen from the vantage point, where from, and the amplification there.
  "outside",
  "outside_from",
  "outside_amplification",
];

/** Lists inside one CSV cell are joined with " | " so each finding stays one row. */
export function renderAuditCsv(report: AuditReport): string {
  return csvRows(
    CSV_HEADER,
    report.findings.map((f) => [
      f.severity,
      f.protocol,
      f.family,
      f.address,
      f.port,
      f.scope,
      f.exposure,
      f.service?.id ?? null,
      f.process?.name ?? null,
      f.process?.pid ?? null,
      f.process?.unit ?? null,
      f.netns,
      f.risks.map((r) => r.kind).join(" | "),
      f.reasons.join(" | "),
      f.fix.join(" | "),
      f.outside?.state ?? null,
      f.outside?.from ?? null,
      f.outside?.amplification ?? null,
    ]),
  );
}

function mdCell(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("|", "\\|").replaceAll("\n", " ");
}

export function renderAuditMarkdown(report: AuditReport): string {
  const counts = SEVERITIES.map((s) => `${report.summary[s]} ${s}`).join(", ");
  const out = [
    `# Moat audit of ${mdCell(report.host)}`,
    "",
    `Generated ${report.generatedAt} from ${mdCell(report.source)}: ${counts}.`,
    "",
    "| Severity | Port | Address | Service | Exposure | Process |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const f of report.findings) {
    const process = f.process ? `${f.process.name} (${f.process.pid})` : "unknown";
    out.push(
      `| ${f.severity} | ${f.port}/${f.protocol} | ${mdCell(f.address)} | ${mdCell(f.service?.name ?? "unknown")} | ${exposureCell(f)} | ${mdCell(process)} |`,
    );
  }
  const needing = report.findings.filter((f) => f.fix.length > 0);
  if (needing.length > 0) out.push("", "## What to do");
  for (const f of needing) {
    out.push("", `### ${f.port}/${f.protocol} on ${mdCell(f.address)} (${f.severity})`, "");
    for (const reason of f.reasons) out.push(`- ${reason}`);
    out.push("");
    const commands = f.fix.filter(isCommand);
    for (const step of f.fix.filter((s) => !isCommand(s))) out.push(`- ${step}`);
    if (commands.length > 0) out.push("", "```sh", ...commands, "```");
  }
  return `${out.join("\n")}\n`;
}
