import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prng } from "../../bench/lib.mjs";
import {
  chartView,
  MAX_CHART_PORTS,
  PNG_SCALE,
  type PortSeries,
  portChartSpec,
  renderChartPng,
  renderChartSvg,
} from "../../src/observe/chart.js";
import {
  alertLabel,
  EMPTY_MESSAGE,
  filledPoints,
  layerName,
  niceTop,
  portLabel,
  powerTicks,
} from "../../src/observe/chart-spec.js";
import { detectSurges, type SeriesPoint } from "../../src/observe/trend.js";

const HOUR = 3600;
const START = Date.UTC(2018, 1, 20) / 1000; // 2018-02-20 00:00 UTC, a bucket start
const BUCKETS = 48;
const SURGE_AT = 36;

/**
 * The canonical case: a quiet 11211/udp (0-3 sources an hour, buckets with nothing left out) that gets
 * about 40x its usual sources in one bucket, next to a steady 23/tcp. Alerts come from the real
 * surge detector, as in `moat observe report`.
 */
function surgeSeries(): PortSeries[] {
  const rand = prng(20180221); // seeded: the same fixture on every run
  const rows: SeriesPoint[] = [];
  for (let i = 0; i < BUCKETS; i++) {
    const bucket = START + i * HOUR;
    const quiet = Math.floor(rand() * 4);
    const memcached = i === SURGE_AT ? 80 + Math.floor(rand() * 10) : quiet;
    if (memcached > 0) {
      rows.push({ bucket, protocol: "udp", port: 11211, sources: memcached, packets: memcached * 3 });
    }
    const telnet = 480 + Math.floor(rand() * 40);
    rows.push({
      bucket,
      protocol: "tcp",
      port: 23,
      sources: telnet,
      packets: telnet * 4 + Math.floor(rand() * 100),
    });
  }
  const alerts = detectSurges(rows, { bucketSeconds: HOUR });
  return (
    [
      ["udp", 11211],
      ["tcp", 23],
    ] as const
  ).map(([protocol, port]) => ({
    protocol,
    port,
    bucketSeconds: HOUR,
    points: rows
      .filter((r) => r.port === port)
      .map(({ bucket, sources, packets }) => ({ bucket, sources, packets })),
    alerts: alerts
      .filter((a) => a.port === port)
      .map(({ bucket, metric, value, baseline, factor }) => ({ bucket, metric, value, baseline, factor })),
  }));
}

const onePort = (points: PortSeries["points"], alerts: PortSeries["alerts"] = []): PortSeries => ({
  protocol: "udp",
  port: 11211,
  bucketSeconds: HOUR,
  points,
  alerts,
});

// Loose views of the compiled spec and the Vega scenegraph: enough to read what the tests check.
interface Layer {
  name: string;
  data: { values: Record<string, number | string>[] };
  mark: { type: string };
  encoding: Record<string, { field?: string; type?: string; scale?: { type?: string; domain?: number[] } }>;
}
interface Panel {
  title: { text: string };
  layer: Layer[];
}
interface SceneNode {
  name?: string;
  marktype?: string;
  items?: SceneNode[];
  x?: number;
  y?: number;
  text?: string;
  datum?: Record<string, number | string>;
}

function panels(spec: object): Panel[] {
  return (spec as { vconcat: Panel[] }).vconcat;
}

function layer(panel: Panel, name: string): Layer | undefined {
  return panel.layer.find((l) => l.name === name);
}

/** Every mark in the scenegraph with the given name (Vega-Lite names them "<layer>_marks"). */
function sceneMarks(node: SceneNode, name: string, found: SceneNode[] = []): SceneNode[] {
  if (node.marktype && node.name === name) found.push(node);
  for (const item of node.items ?? []) sceneMarks(item, name, found);
  return found;
}

/** Tag names in order, checking that every element opened is closed in order; returns the root's. */
function checkBalanced(svg: string): string {
  const stack: string[] = [];
  let root = "";
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClosing) {
      if (stack.length === 0) {
        assert.equal(root, "", "more than one root element");
        root = name!;
      }
      stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], "elements left open");
  return root;
}

function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual(
    [...png.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    "PNG signature",
  );
  assert.equal(png.toString("latin1", 12, 16), "IHDR", "first chunk is IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe("portChartSpec", () => {
  it("has one panel per port with lines, an alert rule, point and label, and UTC time by symlog counts", () => {
    const series = surgeSeries();
    const alert = series[0]!.alerts.find((a) => a.metric === "sources");
    assert.ok(alert, "fixture: the detector alerts on the 11211/udp surge");
    assert.equal(alert.bucket, START + SURGE_AT * HOUR);
    assert.deepEqual(series[1]!.alerts, [], "fixture: steady 23/tcp raises no alert");

    const [memcached, telnet] = panels(portChartSpec(series));
    assert.equal(memcached!.title.text, "11211/udp");
    assert.equal(telnet!.title.text, "23/tcp");

    const lines = layer(memcached!, layerName("series_lines", 0))!;
    assert.equal(lines.mark.type, "line");
    assert.equal(lines.encoding.x!.type, "temporal");
    assert.equal(lines.encoding.x!.scale!.type, "utc");
    assert.equal(lines.encoding.y!.scale!.type, "symlog");
    assert.equal(lines.encoding.color!.field, "metric");
    assert.deepEqual(new Set(lines.data.values.map((r) => r.metric)), new Set(["sources", "packets"]));

    assert.equal(layer(memcached!, layerName("alert_rules", 0))?.mark.type, "rule");
    const points = layer(memcached!, layerName("alert_points", 0))!;
    assert.equal(points.mark.type, "point");
    assert.deepEqual(
      points.data.values.map((r) => [r.time, r.metric, r.value]),
      series[0]!.alerts.map((a) => [a.bucket * 1000, a.metric, a.value]),
    );
    // The surge bucket is far from the left edge: its label sits left of the point. Sources and
    // packets alert in the same bucket: one label says both, so the two do not print over each other.
    const labels = layer(memcached!, layerName("alert_labels_left", 0))!;
    assert.deepEqual(
      labels.data.values.map((r) => r.label),
      [series[0]!.alerts.map((a) => alertLabel(a)).join(", ")],
    );
    assert.ok(
      telnet!.layer.every((l) => !l.name.startsWith("alert")),
      "no alert layers without alerts",
    );
  });

  it("fills missing buckets with zeros over the range of all series", () => {
    const a = onePort([
      { bucket: START, sources: 5, packets: 9 },
      { bucket: START + 3 * HOUR, sources: 7, packets: 11 },
    ]);
    const b = {
      ...onePort([{ bucket: START + 5 * HOUR, sources: 1, packets: 1 }]),
      protocol: "tcp",
      port: 23,
    };
    const range = { first: START, last: START + 5 * HOUR };
    assert.deepEqual(
      filledPoints(a, range).map((p) => [(p.bucket - START) / HOUR, p.sources, p.packets]),
      [
        [0, 5, 9],
        [1, 0, 0],
        [2, 0, 0],
        [3, 7, 11],
        [4, 0, 0],
        [5, 0, 0],
      ],
    );
    assert.deepEqual(
      filledPoints(b, range).map((p) => p.sources),
      [0, 0, 0, 0, 0, 1],
    );
    const [panel] = panels(portChartSpec([a, b]));
    const sources = layer(panel!, layerName("series_lines", 0))!.data.values.filter(
      (r) => r.metric === "sources",
    );
    assert.equal(sources.length, 6);
    assert.deepEqual(
      sources.map((r) => r.value),
      [5, 0, 0, 7, 0, 0],
    );
  });

  it("puts the y domain top on a 1-2-5 number at or above the data", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), (value) => {
        const top = niceTop(value);
        const mantissa = top / 10 ** Math.floor(Math.log10(top) + 1e-9);
        return top >= value && top >= 10 && [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
      }),
    );
  });

  it("puts y ticks on 0 and powers of ten, no two closer than a label", () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 1e9 }), fc.integer({ min: 60, max: 400 }), (top, height) => {
        const ticks = powerTicks(top, height, 13);
        const px = (v: number) => (Math.log1p(v) / Math.log1p(top)) * height;
        assert.equal(ticks[0], 0);
        for (const t of ticks.slice(1)) assert.ok(t <= top && Number.isInteger(Math.log10(t)), `tick ${t}`);
        for (let i = 1; i < ticks.length; i++) assert.ok(px(ticks[i]!) - px(ticks[i - 1]!) >= 13);
        // The highest power of ten is never the one left out (the ticks below it give way).
        assert.equal(ticks.at(-1), 10 ** Math.floor(Math.log10(top)));
      }),
    );
  });

  it("names portless protocols by protocol alone", () => {
    assert.equal(portLabel({ protocol: "icmp", port: null }), "icmp");
    assert.equal(portLabel({ protocol: "udp", port: 53 }), "53/udp");
  });

  it("keeps only inline data: no URL for a loader to fetch", () => {
    const json = JSON.stringify(portChartSpec(surgeSeries()));
    assert.ok(!json.includes('"url"'), "no data URL in the spec");
  });

  it("shows at most MAX_CHART_PORTS panels and says how many were left out", () => {
    const many = Array.from({ length: MAX_CHART_PORTS + 3 }, (_, i) => ({
      ...onePort([{ bucket: START, sources: i + 1, packets: i + 1 }]),
      port: 1000 + i,
    }));
    const spec = portChartSpec(many) as { title: { subtitle: string[] } };
    assert.deepEqual(
      panels(spec).map((p) => p.title.text),
      many.slice(0, MAX_CHART_PORTS).map(portLabel),
    );
    assert.ok(spec.title.subtitle.some((s) => s.includes(`${MAX_CHART_PORTS} of ${many.length}`)));
  });

  it("gives an empty-state chart when there is nothing to draw", () => {
    for (const series of [[], [onePort([])]]) {
      const spec = portChartSpec(series) as { vconcat?: unknown; data: { values: { message: string }[] } };
      assert.equal(spec.vconcat, undefined);
      assert.equal(spec.data.values[0]!.message, EMPTY_MESSAGE);
    }
  });

  it("refuses malformed series with the port named", () => {
    assert.throws(() => portChartSpec([{ ...onePort([]), bucketSeconds: 0 }]), /11211\/udp.*bucketSeconds/);
    const twice = { bucket: START, sources: 1, packets: 1 };
    assert.throws(() => portChartSpec([onePort([twice, twice])]), /11211\/udp.*two points/);
    assert.throws(() => portChartSpec([onePort([{ bucket: START, sources: -1, packets: 1 }])]), /negative/);
  });
});

describe("chart rendering", () => {
  it("draws the alert point on its line, right of every earlier bucket and above the quiet ones", async () => {
    const series = surgeSeries();
    const alert = series[0]!.alerts.find((a) => a.metric === "sources")!;
    const view = await chartView(series);
    try {
      const root = (view.scenegraph() as unknown as { root: SceneNode }).root;
      const point = sceneMarks(root, `${layerName("alert_points", 0)}_marks`)
        .flatMap((m) => m.items ?? [])
        .find((p) => p.datum?.metric === alert.metric);
      assert.ok(point, "an alert point is drawn");
      const vertices = sceneMarks(root, `${layerName("series_lines", 0)}_marks`)
        .flatMap((m) => m.items ?? [])
        .filter((v) => v.datum?.metric === "sources");
      const at = vertices.find((v) => v.datum?.time === alert.bucket * 1000)!;
      assert.deepEqual([point.x, point.y], [at.x, at.y], "point sits on the line");
      const earlier = vertices.filter((v) => (v.datum!.time as number) < alert.bucket * 1000);
      assert.ok(earlier.length > 0 && earlier.every((v) => v.x! < point.x!), "later than earlier buckets");
      assert.ok(
        earlier.every((v) => v.y! > point.y!),
        "higher on the panel (smaller y) than every quiet bucket",
      );
      // The bucket's one label sits at its higher alert point.
      const highest = series[0]!.alerts
        .filter((a) => a.bucket === alert.bucket)
        .reduce((a, b) => (b.value > a.value ? b : a));
      const highPoint = sceneMarks(root, `${layerName("alert_points", 0)}_marks`)
        .flatMap((m) => m.items ?? [])
        .find((p) => p.datum?.metric === highest.metric)!;
      const label = sceneMarks(root, `${layerName("alert_labels_left", 0)}_marks`)
        .flatMap((m) => m.items ?? [])
        .find((l) => String(l.text).includes(alertLabel(alert)));
      assert.deepEqual(
        [label?.x, label?.y],
        [highPoint.x, highPoint.y],
        "label anchored at the higher alert point",
      );
    } finally {
      view.finalize();
    }
  });

  it("refuses to load anything over the network or from files", async () => {
    const view = await chartView(surgeSeries());
    try {
      await assert.rejects(view.loader().load("https://example.com/data.json"), /inline data only/);
      await assert.rejects(view.loader().load("/etc/hostname"), /inline data only/);
    } finally {
      view.finalize();
    }
  });

  it("writes a well-formed SVG with every port's title and the alert labels", async () => {
    const series = surgeSeries();
    const svg = await renderChartSvg(series, { title: "Telescope 198.51.100.0/24" });
    assert.equal(checkBalanced(svg), "svg");
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    for (const s of series) assert.ok(svg.includes(`>${portLabel(s)}<`), `title ${portLabel(s)}`);
    const label = series[0]!.alerts.map((a) => alertLabel(a)).join(", ");
    assert.ok(svg.includes(`>${label}<`), label);
    assert.ok(svg.includes(">Telescope 198.51.100.0/24<"));
  });

  it("draws a single point and the empty state", async () => {
    const single = await renderChartSvg([onePort([{ bucket: START, sources: 3, packets: 4 }])]);
    assert.equal(checkBalanced(single), "svg");
    const view = await chartView([onePort([{ bucket: START, sources: 3, packets: 4 }])]);
    try {
      const root = (view.scenegraph() as unknown as { root: SceneNode }).root;
      const vertices = sceneMarks(root, `${layerName("series_lines", 0)}_marks`).flatMap(
        (m) => m.items ?? [],
      );
      assert.equal(vertices.length, 2, "one vertex per metric");
      assert.ok(
        vertices.every((v) => Number.isFinite(v.x) && v.x! > 0),
        "inside the plot, not on its edge",
      );
    } finally {
      view.finalize();
    }
    const empty = await renderChartSvg([]);
    assert.equal(checkBalanced(empty), "svg");
    assert.ok(empty.includes(EMPTY_MESSAGE));
  });

  it("writes a PNG at twice the SVG's size", async () => {
    const series = surgeSeries();
    const svg = await renderChartSvg(series);
    const [, width, height] = svg.match(/<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/) ?? [];
    const png = await renderChartPng(series);
    const size = pngSize(png);
    assert.equal(size.width, Math.round(Number(width) * PNG_SCALE));
    assert.equal(size.height, Math.round(Number(height) * PNG_SCALE));
    assert.ok(size.width >= 800 && size.height >= 400, `${size.width}x${size.height}`);
    // MOAT_CHART_SAMPLE=path.png keeps the canonical surge chart to look at.
    const sample = process.env.MOAT_CHART_SAMPLE;
    if (sample)
      writeFileSync(sample, await renderChartPng(series, { title: "Telescope 198.51.100.0/24, hourly" }));
  });

  it("gives the same bytes for the same input, whatever was drawn before", async () => {
    const series = surgeSeries();
    const svg = await renderChartSvg(series);
    const png = await renderChartPng(series);
    await renderChartSvg([onePort([{ bucket: START, sources: 1, packets: 2 }])]);
    assert.equal(await renderChartSvg(series), svg);
    assert.ok((await renderChartPng(series)).equals(png));
  });
});
