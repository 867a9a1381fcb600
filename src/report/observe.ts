/**
 * Text of `moat observe`: the report (alerts first, then top ports over the range, the per-bucket
 * top ports as TSUBAME shows them, top sources and backscatter victims), alert lines, and the
 * ingest summary. Plain functions over the report data; colour only through `c`.
 */
import { factorText, portLabel as seriesLabel } from "../observe/chart-spec.js";
import type { IngestResult } from "../observe/ingest.js";
import { type ObserveReportData, type SurgeRun, surgeRuns } from "../observe/report-data.js";
import type { Alert } from "../observe/trend.js";
import type { Colors } from "./style.js";
import { padColumns } from "./style.js";

/** A service name for a port ("memcached"), or undefined. */
export type ServiceName = (protocol: string, port: number | null) => string | undefined;

const BUCKET_WORDS = { "1m": "1-minute", "1h": "1-hour", "1d": "1-day" } as const;

export function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ");
}

const n = (v: number) => v.toLocaleString("en-US");

export function portLabel(protocol: string, port: number | null): string {
  return seriesLabel({ protocol, port });
}

function named(protocol: string, port: number | null, service: ServiceName): string {
  const name = service(protocol, port);
  return name ? `${portLabel(protocol, port)} ${name}` : portLabel(protocol, port);
}

export function alertLine(a: Alert, service: ServiceName): string {
  return `${utc(a.bucket)}  ${named(a.protocol, a.port, service)}: ${n(a.value)} ${a.metric} (usual ${n(a.baseline)}, ${factorText(a.factor)})`;
}

function runLine(run: SurgeRun, bucketSeconds: number, service: ServiceName): string {
  const a = run.peak;
  const span =
    run.buckets === 1
      ? utc(run.first)
      : `${utc(run.first)} to ${utc(run.last + bucketSeconds)} (${run.buckets} buckets)`;
  return `${span}  ${named(run.protocol, run.port, service)}: ${n(a.value)} ${a.metric} at the peak (usual ${n(run.onset.baseline)}, ${factorText(run.factor)})`;
}

function tagsText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(", ");
}

export function observeReportText(
  r: ObserveReportData,
  c: Colors,
  service: ServiceName,
  top: number,
): string {
  const out: string[] = [];
  if (r.since === null) {
    return "The store has no traffic in this range. Ingest a capture first: moat observe ingest --db PATH FILE\n";
  }
  out.push(
    c.bold(
      `Telescope ${utc(r.since)} to ${utc(r.until!)} UTC, ${BUCKET_WORDS[r.bucketSize]} buckets: ${n(r.packets)} packets from ${n(r.sources)} sources`,
    ),
  );
  out.push("");
  const runs = surgeRuns(r.alerts, r.bucketSeconds);
  if (runs.length === 0) out.push(c.green("No surges: every port stayed within its usual range."));
  else {
    out.push(c.bold(c.red(`Surges (${runs.length}; every alerted bucket: moat observe alerts)`)));
    for (const run of runs) out.push(`  ${c.red(runLine(run, r.bucketSeconds, service))}`);
  }
  out.push("");
  out.push(c.bold(`Top ${Math.min(top, r.ports.length)} ports`));
  const portRows = [["port", "packets", "sources", "first seen", "last seen", "probes and tools"]];
  for (const p of r.ports.slice(0, top)) {
    portRows.push([
      named(p.protocol, p.port, service),
      n(p.packets),
      n(p.sources),
      utc(Math.floor(p.firstSeen / 1e6)),
      utc(Math.floor(p.lastSeen / 1e6)),
      tagsText({ ...p.probes, ...p.tags }),
    ]);
  }
  for (const [i, row] of padColumns(portRows).entries())
    out.push(`  ${i === 0 ? c.dim(row.join("")) : row.join("")}`);

  out.push("");
  out.push(c.bold(`Top ports per bucket (last ${Math.min(r.buckets.length, 24)})`));
  const bucketRows = [["bucket", "packets", "sources", "top ports (packets)"]];
  for (const b of r.buckets.slice(-24)) {
    bucketRows.push([
      utc(b.bucket),
      n(b.packets),
      n(b.sources),
      b.topPorts.map((p) => `${portLabel(p.protocol, p.port)} ${n(p.packets)}`).join(", "),
    ]);
  }
  for (const [i, row] of padColumns(bucketRows).entries())
    out.push(`  ${i === 0 ? c.dim(row.join("")) : row.join("")}`);

  const sources = mergedRanked(r.buckets.map((b) => b.topSources)).slice(0, top);
  if (sources.length > 0) {
    out.push("");
    out.push(c.bold("Top sources"));
    for (const s of sources) out.push(`  ${s.address.padEnd(40)} ${n(s.packets)} packets`);
  }
  const victims = mergedRanked(r.buckets.map((b) => b.topVictims)).slice(0, top);
  const backscatter = r.buckets.reduce((a, b) => a + b.backscatterPackets, 0);
  if (backscatter > 0) {
    out.push("");
    out.push(
      c.bold(`Backscatter: ${n(backscatter)} replies to floods with forged sources; hosts being attacked:`),
    );
    for (const v of victims) out.push(`  ${v.address.padEnd(40)} ${n(v.packets)} replies`);
  }
  return `${out.join("\n")}\n`;
}

function mergedRanked(
  lists: { address: string; packets: number }[][],
): { address: string; packets: number }[] {
  const all = new Map<string, number>();
  for (const list of lists) for (const a of list) all.set(a.address, (all.get(a.address) ?? 0) + a.packets);
  return [...all]
    .map(([address, packets]) => ({ address, packets }))
    .sort((a, b) => b.packets - a.packets || (a.address < b.address ? -1 : 1));
}

export function ingestSummaryText(r: IngestResult): string {
  if (r.outcome === "already-ingested") {
    return `${r.file}: already in the store (ingest ${r.ingestId}); nothing to do. --force ingests it again (counting it twice).\n`;
  }
  const c = r.counts!;
  const problems = Object.entries(c.decodeProblems)
    .map(([k, v]) => `${n(v)} ${k}`)
    .join(", ");
  const parts = [
    `${r.file}: ${r.outcome === "resumed" ? "resumed and finished" : "ingested"} ${n(c.counted)} of ${n(c.packets)} packets (${r.format})`,
  ];
  if (c.firstMicros !== null && c.lastMicros !== null)
    parts.push(`from ${utc(Math.floor(c.firstMicros / 1e6))} to ${utc(Math.floor(c.lastMicros / 1e6))} UTC`);
  let text = `${parts.join(", ")}; ${n(r.rowsWritten)} bucket rows in ${r.batches} batch${r.batches === 1 ? "" : "es"}.\n`;
  if (c.notIp > 0) text += `  ${n(c.notIp)} frames were not IP (ARP and the like): skipped.\n`;
  if (problems)
    text += `  Packets that could not be decoded: ${problems} (see: moat observe ingests --db PATH --problems).\n`;
  if (r.readerProblems > 0)
    text += `  The capture file itself has ${n(r.readerProblems)} problem(s) (truncated or bogus records): see moat observe ingests --problems.\n`;
  if (c.late > 0)
    text += `  ${n(c.late)} packets arrived out of time order, after their bucket was written: counted in extra rows.\n`;
  return text;
}
