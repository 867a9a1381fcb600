/**
 * What `moat observe report` and `alerts` show, computed from the store: merged rows of one bucket
 * size in a time range, the top ports over the range and per bucket (TSUBAME's top 5), top sources
 * and backscatter victims, and the surge alerts with the history they need (the `window` buckets
 * before `since` are read too, so the first bucket in range has a baseline).
 */

import type { ObserveStore } from "../store/observe-store.js";
import { BUCKET_SECONDS, type BucketSize, type PortRow, type RankedAddress } from "./aggregate.js";
import type { PortSeries } from "./chart-spec.js";
import { Distinct } from "./distinct.js";
import { type MergedBucketRow, type MergedPortRow, mergeBucketRows, mergePortRows } from "./merge-rows.js";
import { type Alert, detectSurges, type SeriesPoint, TREND_DEFAULTS, type TrendOptions } from "./trend.js";
import type { TransportProtocol } from "./types.js";

export interface ReportQuery {
  bucketSize: BucketSize;
  /** Unix seconds; since inclusive, until exclusive. */
  since?: number;
  until?: number;
  top?: number;
  protocol?: TransportProtocol;
  port?: number | null;
  trend?: Omit<TrendOptions, "bucketSeconds">;
}

export interface PortTotal {
  protocol: TransportProtocol;
  port: number | null;
  packets: number;
  bytes: number;
  /** Distinct sources over the whole range (union of the buckets' counters). */
  sources: number;
  buckets: number;
  firstSeen: number;
  lastSeen: number;
  kinds: Record<string, number>;
  probes: Record<string, number>;
  tags: Record<string, number>;
}

export interface BucketSummary {
  bucket: number;
  packets: number;
  bytes: number;
  sources: number;
  topPorts: { protocol: TransportProtocol; port: number | null; packets: number; sources: number }[];
  topSources: RankedAddress[];
  backscatterPackets: number;
  victims: number;
  topVictims: RankedAddress[];
}

export interface ObserveReportData {
  bucketSize: BucketSize;
  bucketSeconds: number;
  /** The range asked for, or the data's own when not given (Unix seconds). */
  since: number | null;
  until: number | null;
  packets: number;
  bytes: number;
  /** Distinct sources over the range, when the stored counters allow a union. */
  sources: number;
  ports: PortTotal[];
  buckets: BucketSummary[];
  alerts: Alert[];
  /** Per-port series (the top ports and every alerted port), for tables and charts. */
  series: {
    protocol: TransportProtocol;
    port: number | null;
    points: { bucket: number; packets: number; sources: number }[];
  }[];
}

const portKey = (protocol: string, port: number | null) => `${protocol}/${port ?? ""}`;

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function totals(rows: readonly MergedPortRow[], statesOf: Map<string, Distinct | null>): PortTotal[] {
  const all = new Map<string, PortTotal>();
  for (const r of rows) {
    const key = portKey(r.protocol, r.port);
    let t = all.get(key);
    if (t === undefined) {
      t = {
        protocol: r.protocol,
        port: r.port,
        packets: 0,
        bytes: 0,
        sources: 0,
        buckets: 0,
        firstSeen: r.firstSeen,
        lastSeen: r.lastSeen,
        kinds: {},
        probes: {},
        tags: {},
      };
      all.set(key, t);
    }
    t.packets += r.packets;
    t.bytes += r.bytes;
    t.buckets++;
    t.firstSeen = Math.min(t.firstSeen, r.firstSeen);
    t.lastSeen = Math.max(t.lastSeen, r.lastSeen);
    addCounts(t.kinds, r.kinds as Record<string, number>);
    addCounts(t.probes, r.probes);
    addCounts(t.tags, r.tags);
    // Without a union, the largest bucket's count is a lower bound.
    const union = statesOf.get(key);
    t.sources = union ? union.count() : Math.max(t.sources, r.sources);
  }
  return [...all.values()].sort(
    (a, b) =>
      b.packets - a.packets ||
      (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) ||
      (a.port ?? -1) - (b.port ?? -1),
  );
}

/** Union of the source counters of each port across buckets; null for a port with a row lacking one. */
function unionSources(raw: readonly PortRow[]): Map<string, Distinct | null> {
  const unions = new Map<string, Distinct | null>();
  for (const r of raw) {
    const key = portKey(r.protocol, r.port);
    const have = unions.get(key);
    if (have === null) continue;
    if (r.sourcesState === undefined) {
      unions.set(key, null);
      continue;
    }
    const d = Distinct.fromState(r.sourcesState);
    if (have === undefined) unions.set(key, d);
    else have.merge(d);
  }
  return unions;
}

function summary(b: MergedBucketRow, ports: readonly MergedPortRow[], top: number): BucketSummary {
  return {
    bucket: b.bucket,
    packets: b.packets,
    bytes: b.bytes,
    sources: b.sources,
    // From the merged port rows: correct also when two ingests' rows were merged.
    topPorts: [...ports]
      .sort((x, y) => y.packets - x.packets || (x.port ?? -1) - (y.port ?? -1))
      .slice(0, top)
      .map((r) => ({ protocol: r.protocol, port: r.port, packets: r.packets, sources: r.sources })),
    topSources: b.topSources.slice(0, top),
    backscatterPackets: b.backscatterPackets,
    victims: b.victims,
    topVictims: b.topVictims.slice(0, top),
  };
}

export async function buildReport(store: ObserveStore, query: ReportQuery): Promise<ObserveReportData> {
  const size = BUCKET_SECONDS[query.bucketSize];
  const top = query.top ?? 5;
  const window = query.trend?.window ?? TREND_DEFAULTS.window;
  const historyFrom = query.since === undefined ? undefined : query.since - window * size;
  const filter = { protocol: query.protocol, port: query.port };

  const allPortRows = await store.portRows({
    bucketSize: query.bucketSize,
    since: historyFrom,
    until: query.until,
    ...filter,
  });
  const inRange = (bucket: number) => query.since === undefined || bucket >= query.since;
  const mergedPorts = mergePortRows(allPortRows);
  const rangePorts = mergedPorts.filter((r) => inRange(r.bucket));

  const points: SeriesPoint[] = mergedPorts.map((r) => ({
    bucket: r.bucket,
    protocol: r.protocol,
    port: r.port,
    sources: r.sources,
    packets: r.packets,
  }));
  const alerts = detectSurges(points, { ...query.trend, bucketSeconds: size }).filter((a) =>
    inRange(a.bucket),
  );

  const rawInRange = allPortRows.filter((r) => inRange(r.bucket));
  const ports = totals(rangePorts, unionSources(rawInRange));

  const rawBuckets = await store.bucketRows({
    bucketSize: query.bucketSize,
    since: query.since,
    until: query.until,
  });
  const bucketRows = mergeBucketRows(rawBuckets, top);
  const portsByBucket = new Map<number, MergedPortRow[]>();
  for (const r of rangePorts) {
    const list = portsByBucket.get(r.bucket);
    if (list === undefined) portsByBucket.set(r.bucket, [r]);
    else list.push(r);
  }
  const buckets = bucketRows.map((b) => summary(b, portsByBucket.get(b.bucket) ?? [], top));

  let sourcesUnion: Distinct | null = null;
  let sourcesMax = 0;
  for (const b of rawBuckets) {
    sourcesMax = Math.max(sourcesMax, b.sources);
    if (b.sourcesState === undefined) continue;
    const d = Distinct.fromState(b.sourcesState);
    if (sourcesUnion === null) sourcesUnion = d;
    else sourcesUnion.merge(d);
  }

  // Charted: every port with an alert first (what the reader must see), then the top ports.
  const charted = new Map<string, { protocol: TransportProtocol; port: number | null }>();
  for (const a of alerts) charted.set(portKey(a.protocol, a.port), a);
  for (const p of ports.slice(0, top)) charted.set(portKey(p.protocol, p.port), p);
  const series = [...charted.values()].map(({ protocol, port }) => ({
    protocol,
    port,
    points: rangePorts
      .filter((r) => r.protocol === protocol && r.port === port)
      .map((r) => ({ bucket: r.bucket, packets: r.packets, sources: r.sources })),
  }));

  return {
    bucketSize: query.bucketSize,
    bucketSeconds: size,
    since: query.since ?? bucketRows[0]?.bucket ?? null,
    until: query.until ?? (bucketRows.length > 0 ? bucketRows.at(-1)!.bucket + size : null),
    packets: bucketRows.reduce((a, b) => a + b.packets, 0),
    bytes: bucketRows.reduce((a, b) => a + b.bytes, 0),
    sources: sourcesUnion?.count() ?? sourcesMax,
    ports,
    buckets,
    alerts,
    series,
  };
}

/** A surge that lasts several buckets: one entry from its first alert to its last, with its peak. */
export interface SurgeRun {
  protocol: TransportProtocol;
  port: number | null;
  metric: Alert["metric"];
  first: number;
  last: number;
  buckets: number;
  peak: Alert;
  onset: Alert;
  /** The peak against the usual level before the surge (the onset's baseline): later buckets'
   * baselines already hold surge buckets, so the peak's own factor understates the jump. */
  factor: number;
}

/** Consecutive alerts of one port and metric become one run (alerts in bucket order). */
export function surgeRuns(alerts: readonly Alert[], bucketSeconds: number): SurgeRun[] {
  const open = new Map<string, SurgeRun>();
  const runs: SurgeRun[] = [];
  for (const a of alerts) {
    const key = `${portKey(a.protocol, a.port)}/${a.metric}`;
    const run = open.get(key);
    if (run !== undefined && a.bucket === run.last + bucketSeconds) {
      run.last = a.bucket;
      run.buckets++;
      if (a.value > run.peak.value) {
        run.peak = a;
        run.factor = a.value / Math.max(run.onset.baseline, 1);
      }
      continue;
    }
    const fresh: SurgeRun = {
      protocol: a.protocol,
      port: a.port,
      metric: a.metric,
      first: a.bucket,
      last: a.bucket,
      buckets: 1,
      peak: a,
      onset: a,
      factor: a.factor,
    };
    open.set(key, fresh);
    runs.push(fresh);
  }
  return runs;
}

/** The report's per-port series as the chart draws them: each surge marked at its onset only (a
 * label on every bucket of a long surge would be unreadable). */
export function chartSeries(report: ObserveReportData): PortSeries[] {
  const runs = surgeRuns(report.alerts, report.bucketSeconds);
  return report.series.map((s) => ({
    ...s,
    bucketSeconds: report.bucketSeconds,
    alerts: runs
      .filter((run) => run.protocol === s.protocol && run.port === s.port)
      .map(({ onset: a }) => ({
        bucket: a.bucket,
        metric: a.metric,
        value: a.value,
        baseline: a.baseline,
        factor: a.factor,
      })),
  }));
}
