/**
 * The Vega-Lite spec behind `moat observe report`'s charts: one panel per (protocol, port), unique
 * sources and packets per bucket as two lines on one symlog y axis, alerts as a red point on the
 * alerted line labelled "40x sources" and a dashed red rule across the panel.
 * Why symlog: surges are 10-1000x the usual, so a linear axis flattens the baseline to zero and a log
 * axis cannot draw the zero buckets; symlog is logarithmic above 1 and still has a 0.
 * Why zero-fill: every series is drawn over the same range (first to last bucket of all series) and a
 * bucket with no point is drawn as 0 — the telescope was watching and saw nothing on that port.
 * Pure: series in, spec out, data inline (nothing for a loader to fetch), same input same spec.
 */
import type { TopLevelSpec } from "vega-lite";

export interface ChartPoint {
  /** Bucket start, Unix seconds. */
  bucket: number;
  packets: number;
  sources: number;
}

export interface ChartAlert {
  bucket: number;
  metric: "packets" | "sources";
  value: number;
  baseline: number;
  factor: number;
}

export interface PortSeries {
  protocol: string;
  /** null for protocols without ports (icmp). */
  port: number | null;
  bucketSeconds: number;
  points: ChartPoint[];
  alerts: ChartAlert[];
}

export interface ChartOptions {
  title?: string;
  /** Width of each panel's plot area in CSS pixels; axes and padding add about 110. */
  width?: number;
}

/** Panels beyond this are left out (the caller's order is kept, so pass the most important first). */
export const MAX_CHART_PORTS = 12;
/** Above this many buckets the lines get no point markers (they would merge into a thick line). */
const MAX_MARKED_BUCKETS = 60;
const DEFAULT_WIDTH = 720;
const PANEL_HEIGHT = 120;
export const DEFAULT_TITLE = "Traffic to unused addresses, per port";
export const EMPTY_MESSAGE = "No traffic recorded for these ports in this period.";
export const CHART_COLORS = { sources: "#1f5fa8", packets: "#9a9fa6", alert: "#d62728" } as const;
const FONT = "DejaVu Sans, Verdana, Arial, sans-serif";
const METRICS = ["sources", "packets"] as const;

interface Range {
  /** Unix seconds of the first and last bucket start over all series. */
  first: number;
  last: number;
}

interface LineRow {
  time: number; // ms: Vega's temporal fields are milliseconds
  metric: "sources" | "packets";
  value: number;
}

interface AlertRow extends LineRow {
  label: string;
}

export function portLabel(series: Pick<PortSeries, "protocol" | "port">): string {
  return series.port === null ? series.protocol : `${series.port}/${series.protocol}`;
}

/** "40x" from 40.2, "2.5x" from 2.46: whole numbers once the factor is big enough not to need more. */
export function factorText(factor: number): string {
  return factor >= 10 ? `${Math.round(factor)}x` : `${Number(factor.toFixed(1))}x`;
}

export function alertLabel(alert: Pick<ChartAlert, "factor" | "metric">): string {
  return `${factorText(alert.factor)} ${alert.metric}`;
}

function checkSeries(series: PortSeries): void {
  const label = portLabel(series);
  if (!Number.isInteger(series.bucketSeconds) || series.bucketSeconds <= 0) {
    throw new RangeError(
      `chart ${label}: bucketSeconds must be a positive integer, got ${series.bucketSeconds}`,
    );
  }
  const seen = new Set<number>();
  for (const p of series.points) {
    if (!Number.isFinite(p.bucket)) throw new RangeError(`chart ${label}: bucket ${p.bucket} is not a time`);
    if (!(p.packets >= 0 && p.sources >= 0)) {
      throw new RangeError(`chart ${label}: negative or missing count at bucket ${p.bucket}`);
    }
    if (seen.has(p.bucket)) throw new RangeError(`chart ${label}: two points for bucket ${p.bucket}`);
    seen.add(p.bucket);
  }
  for (const a of series.alerts) {
    if (!Number.isFinite(a.bucket) || !Number.isFinite(a.value) || !Number.isFinite(a.factor)) {
      throw new RangeError(`chart ${label}: alert at bucket ${a.bucket} has a non-finite number`);
    }
  }
}

function timeRange(series: readonly PortSeries[]): Range | null {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    for (const { bucket } of [...s.points, ...s.alerts]) {
      first = Math.min(first, bucket);
      last = Math.max(last, bucket);
    }
  }
  return first <= last ? { first, last } : null;
}

/** The series' points on its bucket grid over the whole range, missing buckets as zeros. */
export function filledPoints(series: PortSeries, range: Range): ChartPoint[] {
  const byBucket = new Map(series.points.map((p) => [p.bucket, p]));
  const buckets = new Set(byBucket.keys());
  for (let b = range.first; b <= range.last; b += series.bucketSeconds) buckets.add(b);
  return [...buckets]
    .sort((a, b) => a - b)
    .map((bucket) => byBucket.get(bucket) ?? { bucket, packets: 0, sources: 0 });
}

/** The smallest 1-2-5 number at or above `value` (at least 10): a y domain top with a round tick. */
export function niceTop(value: number): number {
  let top = 10;
  for (let decade = 10; top < value; decade *= 10) {
    top = [decade, 2 * decade, 5 * decade, 10 * decade].find((n) => n >= value) ?? 10 * decade;
  }
  return top;
}

/**
 * 0 and the powers of ten up to `top` (the only ticks that read well on a log-like axis), less any
 * tick drawn closer than a label's height to a kept one: on a tall domain 0 and 1 nearly meet, and
 * Vega would hide the label but leave the tick. Walks down from the highest power, so the ticks that
 * give way are the small ones.
 */
export function powerTicks(top: number, height = PANEL_HEIGHT, minGap = 13): number[] {
  const pixels = (v: number) => (Math.log1p(v) / Math.log1p(top)) * height; // Vega's symlog, constant 1
  const kept: number[] = [];
  for (let t = 10 ** Math.floor(Math.log10(top)); t >= 1; t /= 10) {
    const above = kept[kept.length - 1];
    if ((above === undefined || pixels(above) - pixels(t) >= minGap) && pixels(t) >= minGap) kept.push(t);
  }
  return [0, ...kept.reverse()];
}

function utcText(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function bucketText(seconds: number): string {
  const named: Record<number, string> = { 60: "1-minute", 3600: "1-hour", 86400: "1-day" };
  return named[seconds] ?? `${seconds}-second`;
}

function countText(n: number): string {
  return n.toLocaleString("en-US");
}

/** The x encoding every layer shares: UTC time, 24-hour labels, the date at midnight. */
function xEncoding(range: Range, bucketSeconds: number, title: string | null) {
  // A single bucket would make an empty domain: give it one bucket either side.
  const pad = range.first === range.last ? bucketSeconds : 0;
  return {
    field: "time",
    type: "temporal" as const,
    scale: { type: "utc" as const, domain: [(range.first - pad) * 1000, (range.last + pad) * 1000] },
    axis: {
      title,
      labelExpr:
        "utchours(datum.value) === 0 && utcminutes(datum.value) === 0" +
        " ? utcFormat(datum.value, '%d %b') : utcFormat(datum.value, '%H:%M')",
      labelOverlap: true,
      labelFlush: true,
      gridColor: "#f0f0f0",
    },
  };
}

/**
 * Layer names carry the panel index: Vega-Lite names datasets and marks after them, and equal names in
 * two panels would make the panels share one dataset. Tests find marks by these names.
 */
export function layerName(layer: LayerKind, panel: number): string {
  return `${layer}_${panel}`;
}

export type LayerKind =
  | "series_lines"
  | "alert_rules"
  | "alert_points"
  | `alert_${"halos" | "labels"}_${"left" | "right"}`;

function panelSpec(series: PortSeries, range: Range, width: number, panel: number, isLast: boolean) {
  const points = filledPoints(series, range);
  const lines: LineRow[] = points.flatMap((p) =>
    METRICS.map((metric) => ({ time: p.bucket * 1000, metric, value: p[metric] })),
  );
  const alerts: AlertRow[] = [...series.alerts]
    .sort((a, b) => a.bucket - b.bucket || a.metric.localeCompare(b.metric))
    .map((a) => ({ time: a.bucket * 1000, metric: a.metric, value: a.value, label: alertLabel(a) }));
  const peak = (metric: "sources" | "packets") => Math.max(0, ...points.map((p) => p[metric]));
  const top = niceTop(Math.max(peak("packets"), peak("sources"), ...alerts.map((a) => a.value)) * 1.3);
  const x = xEncoding(range, series.bucketSeconds, isLast ? "time (UTC)" : null);
  const y = {
    field: "value",
    type: "quantitative" as const,
    scale: { type: "symlog" as const, domain: [0, top] },
    axis: {
      title: null,
      values: powerTicks(top),
      labelExpr: "format(datum.value, '~s')",
      gridColor: "#e8e8e8",
    },
  };
  const span = range.last - range.first;
  // An alert is a jump above the buckets before it, so the space left of its point is usually empty:
  // labels go there, except near the left edge where they would be cut off.
  const onRight = (row: AlertRow) => span === 0 || (row.time / 1000 - range.first) / span < 0.2;
  // One label per alerted bucket: sources and packets often alert together, and two labels at one
  // point would print over each other ("40x sources, 40x packets" instead).
  const labelled = new Map<number, AlertRow>();
  for (const a of alerts) {
    const have = labelled.get(a.time);
    labelled.set(
      a.time,
      have === undefined
        ? a
        : { ...have, value: Math.max(have.value, a.value), label: `${have.label}, ${a.label}` },
    );
  }
  const labelRows = [...labelled.values()];
  const labelSides = [
    ["left", labelRows.filter((a) => !onRight(a)), "right", -9],
    ["right", labelRows.filter(onRight), "left", 9],
  ] as const;
  const labelMark = {
    type: "text" as const,
    baseline: "middle" as const,
    fontWeight: "bold" as const,
    fontSize: 12,
  };
  const alertLayers =
    alerts.length === 0
      ? []
      : [
          {
            name: layerName("alert_points", panel),
            data: { values: alerts },
            mark: {
              type: "point" as const,
              filled: true,
              size: 80,
              color: CHART_COLORS.alert,
              stroke: "white",
              strokeWidth: 1,
              opacity: 1,
            },
            encoding: { x, y },
          },
          // Each label twice: a thick white outline under the red text, so lines behind it do not
          // make it unreadable.
          ...labelSides
            .filter(([, rows]) => rows.length > 0)
            .flatMap(([side, rows, align, dx]) => [
              {
                name: layerName(`alert_halos_${side}`, panel),
                data: { values: rows },
                mark: {
                  ...labelMark,
                  align,
                  dx,
                  color: "white",
                  stroke: "white",
                  strokeWidth: 4,
                  strokeJoin: "round" as const,
                },
                encoding: { x, y, text: { field: "label" } },
              },
              {
                name: layerName(`alert_labels_${side}`, panel),
                data: { values: rows },
                mark: { ...labelMark, align, dx, color: CHART_COLORS.alert },
                encoding: { x, y, text: { field: "label" } },
              },
            ]),
        ];
  const alertCount = alerts.length === 1 ? "1 alert" : `${alerts.length} alerts`;
  return {
    title: {
      text: portLabel(series),
      subtitle: `peak ${countText(peak("sources"))} sources, ${countText(peak("packets"))} packets per bucket · ${alertCount}`,
    },
    width,
    height: PANEL_HEIGHT,
    layer: [
      ...(alerts.length === 0
        ? []
        : [
            {
              name: layerName("alert_rules", panel),
              data: { values: alerts },
              mark: { type: "rule" as const, color: CHART_COLORS.alert, strokeDash: [4, 3], opacity: 0.7 },
              encoding: { x },
            },
          ]),
      {
        name: layerName("series_lines", panel),
        data: { values: lines },
        mark: {
          type: "line" as const,
          strokeWidth: 2,
          point: points.length <= MAX_MARKED_BUCKETS ? { filled: true, size: 24 } : false,
        },
        encoding: {
          x,
          y,
          color: {
            field: "metric",
            type: "nominal" as const,
            scale: {
              domain: ["sources", "packets", "alert"],
              range: [CHART_COLORS.sources, CHART_COLORS.packets, CHART_COLORS.alert],
            },
            legend: { title: null, labelExpr: "datum.label === 'sources' ? 'unique sources' : datum.label" },
          },
          // Sources drawn last, on top: they are what a surge of scanners shows first.
          order: { field: "metric", sort: "ascending" as const },
        },
      },
      ...alertLayers,
    ],
  };
}

const baseConfig = {
  font: FONT,
  background: "white",
  padding: 16,
  config: {
    view: { stroke: "#d0d0d0" },
    axis: { labelColor: "#333333", titleColor: "#333333", labelFontSize: 11, domainColor: "#999999" },
    title: { anchor: "start" as const, fontSize: 13, subtitleColor: "#555555", subtitleFontSize: 11 },
    legend: { orient: "top" as const, labelFontSize: 12, symbolStrokeWidth: 3 },
  },
};

function emptySpec(title: string, width: number): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...baseConfig,
    title: { text: title, fontSize: 16 },
    width,
    height: 60,
    data: { values: [{ message: EMPTY_MESSAGE }] },
    mark: { type: "text", fontSize: 14, color: "#555555" },
    encoding: { text: { field: "message" } },
  };
}

/**
 * The chart's Vega-Lite spec. No series, or series without any point or alert, give an empty-state
 * chart saying so (a report file that says "nothing happened" beats a missing file); more than
 * MAX_CHART_PORTS series give the first ones and a subtitle saying how many were left out.
 */
export function portChartSpec(series: PortSeries[], options: ChartOptions = {}): TopLevelSpec {
  const title = options.title ?? DEFAULT_TITLE;
  const width = options.width ?? DEFAULT_WIDTH;
  if (!(width >= 100)) throw new RangeError(`chart width must be at least 100 pixels, got ${width}`);
  for (const s of series) checkSeries(s);
  const shown = series.slice(0, MAX_CHART_PORTS);
  const range = timeRange(shown);
  if (range === null) return emptySpec(title, width);

  const bucketSizes = [...new Set(shown.map((s) => s.bucketSeconds))];
  const lastBucketEnd = range.last + Math.max(...bucketSizes);
  const subtitle = [
    `${utcText(range.first)} to ${utcText(lastBucketEnd)} UTC` +
      (bucketSizes.length === 1 ? ` · ${bucketText(bucketSizes[0]!)} buckets` : "") +
      " · log scale · alerts in red",
  ];
  if (series.length > shown.length) {
    subtitle.push(`First ${shown.length} of ${series.length} ports shown.`);
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...baseConfig,
    title: { text: title, subtitle, fontSize: 16, subtitleFontSize: 12, offset: 12 },
    vconcat: shown.map((s, i) => panelSpec(s, range, width, i, i === shown.length - 1)),
    spacing: 22,
    resolve: { scale: { x: "shared", y: "independent", color: "shared" } },
  };
}
