/**
 * Draws `moat observe report`'s per-port charts to SVG (Vega, headless) and PNG (resvg): no browser,
 * no canvas, no network. Vega, Vega-Lite and resvg are loaded on first use, so commands that draw no
 * chart do not pay for them. The spec itself is built in chart-spec.ts.
 */
import { existsSync } from "node:fs";
import type { View } from "vega";
import { importExternal } from "../import-external.js";
import { type ChartOptions, type PortSeries, portChartSpec } from "./chart-spec.js";

export type { ChartAlert, ChartOptions, ChartPoint, PortSeries } from "./chart-spec.js";
export { MAX_CHART_PORTS, portChartSpec } from "./chart-spec.js";

/** PNG pixels per SVG pixel: sharp when pasted into a document or shown on a high-density screen. */
export const PNG_SCALE = 2;
const DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu";

function refuse(what: string): () => Promise<never> {
  return () => Promise.reject(new Error(`moat charts use inline data only; refused to ${what}`));
}

/**
 * A Vega view of the chart, run and ready to render or inspect (tests read its scenegraph).
 * Its loader refuses every fetch and file read: all data is inline, so any load would be a bug.
 */
export async function chartView(series: PortSeries[], options?: ChartOptions): Promise<View> {
  const [vega, vegaLite] = await Promise.all([
    importExternal<typeof import("vega")>("vega"),
    importExternal<typeof import("vega-lite")>("vega-lite"),
  ]);
  const compiled = vegaLite.compile(portChartSpec(series, options)).spec;
  const loader = vega.loader();
  loader.load = refuse("load a URL");
  loader.sanitize = refuse("resolve a URL");
  loader.http = refuse("fetch over HTTP");
  loader.file = refuse("read a file");
  const view = new vega.View(vega.parse(compiled), { renderer: "none", loader, logLevel: vega.Warn });
  await view.runAsync();
  return view;
}

export async function renderChartSvg(series: PortSeries[], options?: ChartOptions): Promise<string> {
  const { resetSVGDefIds } = await importExternal<typeof import("vega")>("vega");
  const view = await chartView(series, options);
  try {
    // Clip-path and gradient ids come from module-wide counters: reset them so the same chart
    // gives the same bytes however many charts this process drew before (today's charts have
    // neither, but a clipped mark added later would).
    resetSVGDefIds();
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function renderChartPng(series: PortSeries[], options?: ChartOptions): Promise<Buffer> {
  const svg = await renderChartSvg(series, options);
  const { Resvg } = await importExternal<typeof import("@resvg/resvg-js")>("@resvg/resvg-js");
  // Debian's DejaVu when present (fast, and the same glyphs on every such machine); otherwise
  // whatever the system has.
  const dejavu = existsSync(DEJAVU_DIR);
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: PNG_SCALE },
    font: dejavu
      ? { loadSystemFonts: false, fontDirs: [DEJAVU_DIR], defaultFontFamily: "DejaVu Sans" }
      : { loadSystemFonts: true },
  });
  return resvg.render().asPng();
}
