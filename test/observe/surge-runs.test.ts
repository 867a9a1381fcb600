import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chartSeries, type ObserveReportData, surgeRuns } from "../../src/observe/report-data.js";
import type { Alert } from "../../src/observe/trend.js";

const alert = (bucket: number, value: number, baseline: number): Alert => ({
  bucket,
  protocol: "udp",
  port: 11211,
  metric: "sources",
  value,
  baseline,
  factor: value / Math.max(baseline, 1),
});

describe("observe surge runs", () => {
  it("a surge's peak is compared with the usual level before the surge, not its own risen baseline", () => {
    // The baseline climbs as surge buckets enter it; the run must still say 42x against the 100 before.
    const runs = surgeRuns([alert(3600, 4000, 100), alert(7200, 4000, 500), alert(10800, 4200, 1000)], 3600);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.peak.value, 4200);
    assert.equal(runs[0]!.factor, 42);
    assert.equal(runs[0]!.buckets, 3);
  });

  it("a one-bucket surge's factor is its alert's", () => {
    const [run] = surgeRuns([alert(3600, 900, 30)], 3600);
    assert.equal(run!.factor, 30);
  });
});

describe("chartSeries", () => {
  it("marks each surge at its onset only, on its own port's series", () => {
    const report: ObserveReportData = {
      bucketSize: "1h",
      bucketSeconds: 3600,
      since: null,
      until: null,
      packets: 0,
      bytes: 0,
      sources: 0,
      ports: [],
      buckets: [],
      // A three-bucket surge of sources and a one-bucket surge of packets, both on 11211/udp.
      alerts: [alert(3600, 4000, 100), alert(7200, 4000, 500), alert(10800, 4200, 1000)],
      series: [
        { protocol: "udp", port: 11211, points: [{ bucket: 3600, packets: 4000, sources: 4000 }] },
        { protocol: "tcp", port: 23, points: [{ bucket: 3600, packets: 50, sources: 40 }] },
      ],
    };
    const [memcached, telnet] = chartSeries(report);
    assert.deepEqual(memcached!.alerts, [
      { bucket: 3600, metric: "sources", value: 4000, baseline: 100, factor: 40 },
    ]);
    assert.equal(memcached!.bucketSeconds, 3600);
    assert.deepEqual(telnet!.alerts, []);
  });
});
