/** The default `moat audit` view: one summary line, findings grouped by severity, then the fixes. */
import { isCommand } from "../audit/fix.js";
import { type AuditReport, type Finding, SEVERITIES } from "../audit/types.js";
import { type Colors, padColumns, paintSeverity } from "./style.js";

export interface TableOptions {
  colors: Colors;
  /** Also list info findings (local-only sockets); hidden by default because they need nothing done. */
  all: boolean;
}

function processCell(finding: Finding): string {
  if (!finding.process) return "owner unknown";
  const { name, pid, unit } = finding.process;
  return unit ? `${name}[${pid}] ${unit}` : `${name}[${pid}]`;
}

function addressCell(finding: Finding, showNetns: boolean): string {
  const address = finding.family === "ipv6" ? `[${finding.address}]` : finding.address;
  return showNetns && finding.netns ? `${address} netns ${finding.netns}` : address;
}

/** "confirmed" when a scan from outside got an answer (--scan-from); the reasons say the rest. */
export function exposureCell(finding: Finding): string {
  return finding.outside?.state === "open" ? `${finding.exposure}, confirmed` : finding.exposure;
}

function summaryLine(report: AuditReport): string {
  const total = report.findings.length;
  const exposed = report.findings.filter((f) => f.exposure === "exposed").length;
  const counts = SEVERITIES.map((s) => `${report.summary[s]} ${s}`).join(", ");
  const sockets = total === 1 ? "1 listening socket" : `${total} listening sockets`;
  const namespaces = new Set(report.findings.map((f) => f.netns));
  const only = namespaces.size === 1 ? [...namespaces][0] : null;
  const where = only ? `${report.host} (network namespace ${only})` : report.host;
  return `${where}: ${sockets}, ${exposed} open to other networks — ${counts}.`;
}

function findingRows(findings: Finding[], showNetns: boolean): string[][] {
  return findings.map((f) => [
    f.severity.toUpperCase(),
    `${f.port}/${f.protocol}`,
    addressCell(f, showNetns),
    f.service?.name ?? "unknown",
    exposureCell(f),
    processCell(f),
  ]);
}

/** One block per distinct fix, naming the sockets it closes, so a daemon's fix is not repeated per socket. */
function fixBlocks(findings: Finding[], c: Colors): string[] {
  const blocks = new Map<string, { sockets: string[]; steps: string[]; title: string }>();
  for (const f of findings) {
    if (f.fix.length === 0) continue;
    const key = f.fix.join("\n");
    const socket = `${f.port}/${f.protocol}`;
    const block = blocks.get(key);
    if (block) {
      if (!block.sockets.includes(socket)) block.sockets.push(socket);
    } else {
      const who = f.service?.name ?? (f.process ? f.process.name : "unknown program");
      blocks.set(key, { sockets: [socket], steps: f.fix, title: who });
    }
  }
  const lines: string[] = [];
  for (const block of blocks.values()) {
    lines.push(`  ${c.bold(block.title)} (${block.sockets.join(", ")})`);
    for (const step of block.steps)
      lines.push(isCommand(step) ? `      ${c.green(`$ ${step}`)}` : `    ${step}`);
  }
  return lines;
}

export function renderAuditTable(report: AuditReport, { colors: c, all }: TableOptions): string {
  const shown = all ? report.findings : report.findings.filter((f) => f.severity !== "info");
  const hidden = report.findings.length - shown.length;
  const out = [c.bold(summaryLine(report)), ""];

  if (shown.length > 0) {
    const rows = padColumns([
      ["SEVERITY", "PORT", "ADDRESS", "SERVICE", "EXPOSURE", "PROCESS"],
      ...findingRows(shown, new Set(report.findings.map((f) => f.netns)).size > 1),
    ]);
    out.push(c.dim(rows[0]!.join("")));
    shown.forEach((finding, i) => {
      const [severity, ...rest] = rows[i + 1]!;
      out.push(paintSeverity(c, finding.severity, severity!) + rest.join(""));
      for (const reason of finding.reasons) out.push(c.dim(`    - ${reason}`));
    });
    out.push("");
  } else {
    out.push("Nothing on this host is open to other networks.", "");
  }

  const fixes = fixBlocks(shown, c);
  if (fixes.length > 0) out.push(c.bold("How to fix"), ...fixes, "");
  for (const warning of report.warnings) out.push(c.yellow(`warning: ${warning}`));
  if (hidden > 0) {
    out.push(
      c.dim(
        `${hidden} local-only socket${hidden === 1 ? "" : "s"} not shown (nothing to do); --all lists them.`,
      ),
    );
  }
  return `${out.join("\n").trimEnd()}\n`;
}
