/**
 * Surge detection per (protocol, port) and metric. The baseline is the median and the median absolute
 * deviation (MAD) of the previous `window` buckets, missing buckets counting as 0: robust to the odd
 * spike in the history, and a quiet port (median 0, MAD 0) alerts as soon as it is no longer quiet.
 * Alongside it, DShield's trend score: this bucket over the mean of the previous `window` buckets.
 * Pure: rows in (e.g. the aggregator's PortRows), rows out.
 */
import type { TransportProtocol } from "./types.js";

export type Metric = "sources" | "packets";
export const METRICS: readonly Metric[] = ["sources", "packets"];

export interface SeriesPoint {
  /** Bucket start, Unix seconds. */
  bucket: number;
  protocol: TransportProtocol;
  port: number | null;
  sources: number;
  packets: number;
}

export interface TrendOptions {
  /** Bucket length in seconds (60, 3600, 86400). */
  bucketSeconds: number;
  /** Buckets of history in the baseline. */
  window?: number;
  /**
   * Alert when value > median + k * sigma, sigma = 1.4826 * max(MAD, madFloor): MAD scaled to a standard deviation
   * (the usual robust z-score), because the raw MAD of 30 noisy counts often comes out small and k = 6
   * raw MADs (about 4 sigma) raised alerts on steady background in our seeded tests.
   */
  k?: number;
  madFloor?: number;
  /**
   * Never assume less noise than a Poisson count has (sigma >= sqrt(median)): with a short history the
   * MAD can come out tiny by chance, and a steady busy port would then alert on ordinary noise.
   */
  poissonFloor?: boolean;
  /** Below these values nothing alerts, however quiet the port was. */
  minValue?: Partial<Record<Metric, number>>;
  /** Buckets of observed history needed before a bucket can alert (the first buckets of a capture have none). */
  minHistory?: number;
  /**
   * A count must also be this unlikely under a Poisson law with the baseline as its mean (at least 1).
   * The robust z-score alone treats small counts as if they were normal: a sparse port that usually
   * sees 2 or 3 sources and once sees 11 passed it, and across a thousand ports and 48 hours such
   * chance jumps happen (seen on the generator's background). A real surge is millions of times less likely.
   */
  maxTailProbability?: number;
}

export interface TrendRow {
  bucket: number;
  protocol: TransportProtocol;
  port: number | null;
  metric: Metric;
  value: number;
  /** Median of the previous buckets. */
  baseline: number;
  mad: number;
  /** The noise scale used: max(1.4826 * max(MAD, madFloor), sqrt(median) when poissonFloor). */
  sigma: number;
  /** The value above which this bucket alerts. */
  threshold: number;
  /** DShield's trend score: value / mean of the previous buckets; null when that mean is 0 or there is no history. */
  trendScore: number | null;
  history: number;
  alert: boolean;
}

export interface Alert {
  bucket: number;
  protocol: TransportProtocol;
  port: number | null;
  metric: Metric;
  value: number;
  baseline: number;
  /** value / max(baseline, 1): "how many times the usual". */
  factor: number;
}

/** MAD to standard deviation for normally distributed noise. */
export const MAD_TO_SIGMA = 1.4826;

export const TREND_DEFAULTS = {
  window: 30,
  k: 6,
  madFloor: 1,
  poissonFloor: true,
  minHistory: 7,
  minValue: { sources: 10, packets: 100 },
  maxTailProbability: 1e-6,
};

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms): ample precision for a tail probability. */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(X >= k) for X ~ Poisson(mean): the terms from k upwards, summed until they no longer matter. */
export function poissonTail(k: number, mean: number): number {
  if (k <= 0) return 1;
  let term = Math.exp(-mean + k * Math.log(mean) - logGamma(k + 1));
  let sum = 0;
  for (let i = k; term > sum * 1e-12 && i < k + 100_000; i++) {
    sum += term;
    term *= mean / (i + 1);
  }
  return Math.min(1, sum);
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Series {
  protocol: TransportProtocol;
  port: number | null;
  byBucket: Map<number, { sources: number; packets: number }>;
}

function seriesOf(points: readonly SeriesPoint[]): Map<string, Series> {
  const all = new Map<string, Series>();
  for (const p of points) {
    const key = `${p.protocol}/${p.port ?? ""}`;
    let s = all.get(key);
    if (s === undefined) {
      s = { protocol: p.protocol, port: p.port, byBucket: new Map() };
      all.set(key, s);
    }
    // Several rows for one bucket (e.g. two ingests) add up.
    const v = s.byBucket.get(p.bucket) ?? { sources: 0, packets: 0 };
    v.sources += p.sources;
    v.packets += p.packets;
    s.byBucket.set(p.bucket, v);
  }
  return all;
}

/** One row per observed (bucket, protocol, port) and metric, in bucket order. */
export function scoreTrends(points: readonly SeriesPoint[], options: TrendOptions): TrendRow[] {
  const size = options.bucketSeconds;
  if (!(size > 0)) throw new RangeError(`bucketSeconds must be positive, got ${size}`);
  const window = options.window ?? TREND_DEFAULTS.window;
  const k = options.k ?? TREND_DEFAULTS.k;
  const madFloor = options.madFloor ?? TREND_DEFAULTS.madFloor;
  const minHistory = options.minHistory ?? TREND_DEFAULTS.minHistory;
  const poissonFloor = options.poissonFloor ?? TREND_DEFAULTS.poissonFloor;
  const maxTail = options.maxTailProbability ?? TREND_DEFAULTS.maxTailProbability;
  const minValue = { ...TREND_DEFAULTS.minValue, ...options.minValue };
  if (points.length === 0) return [];
  // History starts where the data starts: before it, a zero would be a guess, not an observation.
  const start = Math.min(...points.map((p) => p.bucket));

  const rows: TrendRow[] = [];
  for (const s of seriesOf(points).values()) {
    for (const [bucket, value] of s.byBucket) {
      const available = Math.min(window, Math.floor((bucket - start) / size));
      for (const metric of METRICS) {
        const history: number[] = [];
        for (let i = 1; i <= available; i++) history.push(s.byBucket.get(bucket - i * size)?.[metric] ?? 0);
        const baseline = median(history);
        const mad = median(history.map((v) => Math.abs(v - baseline)));
        const robust = MAD_TO_SIGMA * Math.max(mad, madFloor);
        const sigma = poissonFloor ? Math.max(robust, Math.sqrt(baseline)) : robust;
        const threshold = baseline + k * sigma;
        const mean = history.reduce((a, b) => a + b, 0) / (history.length || 1);
        const v = value[metric];
        rows.push({
          bucket,
          protocol: s.protocol,
          port: s.port,
          metric,
          value: v,
          baseline,
          mad,
          sigma,
          threshold,
          trendScore: history.length > 0 && mean > 0 ? v / mean : null,
          history: history.length,
          alert:
            history.length >= minHistory &&
            v >= minValue[metric] &&
            v > threshold &&
            poissonTail(v, Math.max(baseline, 1)) < maxTail,
        });
      }
    }
  }
  return rows.sort(
    (a, b) =>
      a.bucket - b.bucket ||
      (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) ||
      (a.port ?? -1) - (b.port ?? -1) ||
      (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0),
  );
}

/** The alerts: `{ bucket, protocol, port, metric, value, baseline, factor }`, in bucket order. */
export function detectSurges(points: readonly SeriesPoint[], options: TrendOptions): Alert[] {
  return scoreTrends(points, options)
    .filter((r) => r.alert)
    .map((r) => ({
      bucket: r.bucket,
      protocol: r.protocol,
      port: r.port,
      metric: r.metric,
      value: r.value,
      baseline: r.baseline,
      factor: r.value / Math.max(r.baseline, 1),
    }));
}
