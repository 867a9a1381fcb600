import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { surgeRuns } from "../../src/observe/report-data.js";
import type { Alert } from "../../src/observe/trend.js";
import { runLine } from "../../src/report/observe.js";

const alert = (bucket: number, value: number, baseline: number): Alert => ({
  bucket,
  protocol: "udp",
  port: 11211,
  metric: "sources",
  value,
  baseline,
  factor: value / Math.max(baseline, 1),
});

describe("observe report: surge lines", () => {
  it("a surge's peak is compared with the usual level before the surge, not its own risen baseline", () => {
    // The baseline climbs as surge buckets enter it; the line must still say 40x against the 100 before.
    const [run] = surgeRuns([alert(3600, 4000, 100), alert(7200, 4000, 500), alert(10800, 4200, 1000)], 3600);
    const line = runLine(run!, 3600, () => "Memcached");
    assert.match(line, /4,200 sources at the peak \(usual 100, 42x\)/);
    assert.match(line, /11211\/udp Memcached/);
  });
});
