/**
 * `moat scan` output, one result at a time so it streams: a table (open ports unless --all), JSON
 * lines (every result: a closed port is evidence too), CSV with the columns of Shadowserver's scan
 * reports where they apply, and a progress line for terminals.
 */
import type { Severity } from "../audit/types.js";
import type { PortState, ScanResult } from "../scan/scan.js";
import { csvField } from "./csv.js";
import { type Colors, paintSeverity } from "./style.js";

/** The output contract's fields first, in its order; the extras after. */
export function scanJsonLine(r: ScanResult): string {
  return `${JSON.stringify({
    ip: r.ip,
    protocol: r.protocol,
    port: r.port,
    state: r.state,
    service: r.service,
    severity: r.severity,
    requestBytes: r.requestBytes,
    responseBytes: r.responseBytes,
    amplification: r.amplification,
    fields: r.fields,
    packetRatio: r.packetRatio,
    probe: r.probe,
    abusable: r.abusable,
    note: r.note,
    unparseable: r.unparseable,
    hostname: r.hostname,
  })}\n`;
}

/** Which rows the table and CSV show: what answers, unless every row was asked for. */
export function shownInReport(r: ScanResult, all: boolean): boolean {
  return all || r.state === "open";
}

/**
 * Shadowserver "Open Memcached" (and sibling) report columns that a scan can fill; asn, geo, naics
 * and the like come from enrichment a scanner does not have. Extra columns follow.
 */
export const SCAN_CSV_COLUMNS = [
  "timestamp",
  "ip",
  "protocol",
  "port",
  "hostname",
  "tag",
  "version",
  "pid",
  "pointer_size",
  "uptime",
  "time",
  "curr_connections",
  "total_connections",
  "response_size",
  "amplification",
  "state",
  "severity",
  "service",
  "request_size",
  "packet_ratio",
  "abusable",
] as const;

export function scanCsvHeader(): string {
  return `${SCAN_CSV_COLUMNS.join(",")}\r\n`;
}

/** "2024-05-01 12:00:00", UTC, as Shadowserver writes it. */
export function csvTimestamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace("T", " ");
}

function field(r: ScanResult, name: string): string | number | null {
  const value = r.fields[name];
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.join(";");
  if (typeof value === "boolean") return value ? "true" : "false";
  return value;
}

export function scanCsvRow(r: ScanResult, at: Date): string {
  const row: Record<(typeof SCAN_CSV_COLUMNS)[number], string | number | null> = {
    timestamp: csvTimestamp(at),
    ip: r.ip,
    protocol: r.protocol,
    port: r.port,
    hostname: r.hostname,
    tag: r.probe ?? r.service,
    version: field(r, "version"),
    pid: field(r, "pid"),
    pointer_size: field(r, "pointer_size"),
    uptime: field(r, "uptime"),
    time: field(r, "time"),
    curr_connections: field(r, "curr_connections"),
    total_connections: field(r, "total_connections"),
    response_size: r.responseBytes,
    amplification: r.amplification,
    state: r.state,
    severity: r.severity,
    service: r.service,
    request_size: r.requestBytes,
    packet_ratio: r.packetRatio,
    abusable: r.abusable === null ? null : String(r.abusable),
  };
  return `${SCAN_CSV_COLUMNS.map((c) => csvField(row[c])).join(",")}\r\n`;
}

// ------------------------------------------------------------------------------------------ table

const STATE_WIDTH = 13;

export interface TableLayout {
  ipWidth: number;
}

export function scanTableHeader(layout: TableLayout, c: Colors): string {
  return `${c.bold(
    [
      "ADDRESS".padEnd(layout.ipWidth),
      "PORT".padEnd(11),
      "STATE".padEnd(STATE_WIDTH),
      "SEVERITY".padEnd(9),
      "SERVICE".padEnd(14),
      "AMPLIFICATION".padEnd(14),
      "DETAILS",
    ].join("  "),
  )}\n`;
}

function details(r: ScanResult): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(r.fields)) {
    if (value === null || value === "" || (Array.isArray(value) && value.length === 0)) continue;
    const text = Array.isArray(value) ? value.join(",") : String(value);
    parts.push(`${key}=${text.length > 40 ? `${text.slice(0, 39)}…` : text}`);
    if (parts.length === 6) break;
  }
  if (r.unparseable) parts.push("(reply not understood)");
  return parts.join(" ");
}

export function scanTableRow(r: ScanResult, layout: TableLayout, c: Colors): string {
  const amplification =
    r.amplification === null
      ? ""
      : `${r.amplification}x${r.packetRatio !== null && r.packetRatio > 1 ? ` (${r.packetRatio} pkts)` : ""}`;
  const severity: Severity = r.severity;
  return `${[
    r.ip.padEnd(layout.ipWidth),
    `${r.port}/${r.protocol}`.padEnd(11),
    paintState(c, r.state, r.state.padEnd(STATE_WIDTH)),
    paintSeverity(c, severity, severity.padEnd(9)),
    (r.service ?? "-").padEnd(14),
    amplification.padEnd(14),
    details(r),
  ].join("  ")}\n`;
}

function paintState(c: Colors, state: PortState, text: string): string {
  return state === "open" ? c.bold(text) : c.dim(text);
}

export interface ScanSummary {
  counts: Record<PortState, number>;
  severities: Record<Severity, number>;
  elapsedMs: number;
  sent: number;
  skipped: number;
  warnings: string[];
}

export function scanSummaryText(s: ScanSummary, c: Colors): string {
  const states = (Object.entries(s.counts) as [PortState, number][])
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(", ");
  const bad = (["critical", "high", "medium"] as const)
    .filter((sev) => s.severities[sev] > 0)
    .map((sev) => paintSeverity(c, sev, `${s.severities[sev]} ${sev}`))
    .join(", ");
  const seconds = s.elapsedMs / 1000;
  const lines = [
    `\n${states || "nothing scanned"}${bad ? `; ${bad}` : ""}. ${s.sent} packets/connections in ${seconds.toFixed(1)} s.`,
  ];
  if (s.skipped > 0) lines.push(`${s.skipped} done in an earlier run (--resume) were not scanned again.`);
  for (const w of s.warnings) lines.push(c.yellow(`warning: ${w}`));
  return `${lines.join("\n")}\n`;
}

// --------------------------------------------------------------------------------------- progress

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** One line: bar, done/total, rate, ETA. `width` is the bar's cells. */
export function progressLine(done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total}  ${Math.round(rate)}/s  ETA ${clock(eta)}`;
}
