/**
 * The second half of `moat audit`, loaded while the socket table is being read (audit.ts starts
 * that first): the catalog, classify and the renderers, then the output and the exit code.
 */
import { classify } from "../audit/classify.js";
import { exitCodeFor } from "../audit/exit-code.js";
import type { Gate } from "../audit/gates.js";
import { loadCatalog } from "../catalog/load.js";
import type { SocketSourceSpec } from "../host/sockets.js";
import type { SocketTable } from "../host/types.js";
import { auditJsonParts, renderAuditCsv, renderAuditMarkdown } from "../report/audit-formats.js";
import { renderAuditTable } from "../report/audit-table.js";
import { colors, wantColor } from "../report/style.js";
import type { AuditFlags, Format } from "./audit.js";
import { writeParts } from "./write-parts.js";

export async function finishAudit(
  flags: AuditFlags,
  source: SocketSourceSpec,
  reading: Promise<[SocketTable, { gates: Gate[]; warnings: string[] }]>,
): Promise<void> {
  const catalog = await loadCatalog(flags.catalog);
  const [table, { gates, warnings }] = await reading;
  const report = classify(
    { ...table, warnings: [...table.warnings, ...warnings] },
    catalog,
    new Date(),
    gates,
  );
  if (flags.scanFrom !== undefined) {
    // Loaded only here: a plain audit does not pay for the scanner's modules.
    const [{ scanFromVantage }, { confirmFromOutside }] = await Promise.all([
      import("../audit/vantage.js"),
      import("../audit/confirm.js"),
    ]);
    const moat = [process.execPath, ...process.execArgv, process.argv[1] ?? ""];
    const scan = await scanFromVantage({
      from: flags.scanFrom,
      audited: source,
      findings: report.findings,
      moat,
    });
    report.findings = confirmFromOutside(report.findings, scan);
  }
  const format: Format = flags.json ? "json" : flags.format;
  const render: Record<Format, () => string | Iterable<string>> = {
    table: () =>
      renderAuditTable(report, {
        colors: colors(flags.color && wantColor(process.stdout)),
        all: flags.all === true,
      }),
    json: () => auditJsonParts(report),
    csv: () => renderAuditCsv(report),
    markdown: () => renderAuditMarkdown(report),
  };
  const out = render[format]();
  await writeParts(typeof out === "string" ? [out] : out);
  process.exitCode = exitCodeFor(report.findings, flags.failOn);
}
