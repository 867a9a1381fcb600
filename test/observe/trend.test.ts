import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prng } from "../../bench/lib.mjs";
import { Aggregator, BUCKET_SECONDS } from "../../src/observe/aggregate.js";
import { classifyPacket } from "../../src/observe/classify.js";
import {
  detectSurges,
  MAD_TO_SIGMA,
  median,
  poissonTail,
  type SeriesPoint,
  scoreTrends,
} from "../../src/observe/trend.js";
import { packet, udp } from "./packets.js";

const HOUR_S = 3600;
const START = 1_700_000_000 - (1_700_000_000 % HOUR_S); // a bucket start, Unix seconds

/** Seeded uniform [0, 1) (bench/lib's mulberry32) and a normal deviate from it (Box-Muller). */
function random(seed: number): { uniform: () => number; normal: (mean: number, sd: number) => number } {
  const uniform = prng(seed);
  const normal = (mean: number, sd: number) =>
    mean + sd * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function address(n: number, base: number): string {
  const v = (base + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

describe("median", () => {
  it("of odd, even and empty lists", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), 0);
  });
});

describe("surge detection: the canonical case, through the aggregator", () => {
  const BUCKETS = 45;
  const SURGE = 40; // 11211/udp wakes up here
  const rng = random(20180221);
  const agg = new Aggregator({ bucket: "1h" });
  const memcachedStats = Buffer.concat([Buffer.from("0000000000010000", "hex"), Buffer.from("stats\r\n")]);
  for (let b = 0; b < BUCKETS; b++) {
    const t0 = (START + b * HOUR_S) * 1_000_000;
    const emit = (sources: number, base: number, make: (source: string) => ReturnType<typeof packet>) => {
      for (let i = 0; i < sources; i++) {
        const p = make(address(Math.floor(rng.uniform() * 50_000), base));
        const repeats = 1 + Math.floor(rng.uniform() * 3); // 1-3 packets per source
        for (let r = 0; r < repeats; r++) {
          p.timeMicros = t0 + Math.floor(rng.uniform() * 3_599_000_000);
          agg.add(p, classifyPacket(p));
        }
      }
    };
    // steady background with normal noise: Telnet (Mirai & co.) and SMB
    emit(Math.round(rng.normal(600, 25)), 0x0b000000, (source) => packet({ source, destinationPort: 23 }));
    emit(Math.round(rng.normal(250, 16)), 0x0c000000, (source) => packet({ source, destinationPort: 445 }));
    // 11211/udp: a stray probe now and then, then many new sources
    const quiet = rng.uniform() < 0.2 ? 1 : 0;
    emit(b < SURGE ? quiet : 400 + b * 50, 0x0d000000, (source) => udp(11211, memcachedStats, { source }));
  }
  const points: SeriesPoint[] = agg.buckets().flatMap((bucket) => bucket.ports);
  const alerts = detectSurges(points, { bucketSeconds: BUCKET_SECONDS["1h"] });

  it("alerts on 11211/udp sources in the first surge bucket", () => {
    const first = alerts.find((a) => a.protocol === "udp" && a.port === 11211 && a.metric === "sources");
    assert.ok(first, JSON.stringify(alerts));
    assert.equal(first.bucket, START + SURGE * HOUR_S);
    assert.ok(first.factor >= 10, `factor ${first.factor}`);
    const surgeSources = points.find((p) => p.bucket === first.bucket && p.port === 11211)!.sources;
    assert.equal(first.value, surgeSources);
    assert.equal(first.factor, first.value / Math.max(first.baseline, 1));
  });

  it("packets on 11211/udp alert too, and nothing before the surge", () => {
    assert.ok(
      alerts.some((a) => a.port === 11211 && a.metric === "packets" && a.bucket === START + SURGE * HOUR_S),
    );
    assert.ok(alerts.every((a) => a.bucket >= START + SURGE * HOUR_S));
  });

  it("steady background on 23/tcp and 445/tcp never alerts", () => {
    const telnet = points.filter((p) => p.port === 23).map((p) => p.sources);
    assert.ok(Math.min(...telnet) > 400, "the background is real traffic from many sources");
    assert.deepEqual(
      alerts.filter((a) => a.port === 23 || a.port === 445),
      [],
    );
  });

  it("exposes DShield's trend score per row: today over the mean of the previous buckets", () => {
    const rows = scoreTrends(points, { bucketSeconds: HOUR_S });
    const telnet = rows.filter((r) => r.port === 23 && r.metric === "sources" && r.history >= 30);
    assert.ok(telnet.length > 0);
    for (const r of telnet)
      assert.ok(r.trendScore !== null && r.trendScore > 0.8 && r.trendScore < 1.2, `${r.trendScore}`);
    const surge = rows.find(
      (r) => r.port === 11211 && r.metric === "sources" && r.bucket === START + SURGE * HOUR_S,
    );
    const previous = points.filter(
      (p) =>
        p.port === 11211 && p.bucket < START + SURGE * HOUR_S && p.bucket >= START + (SURGE - 30) * HOUR_S,
    );
    const mean = previous.reduce((n, p) => n + p.sources, 0) / 30;
    assert.equal(surge?.trendScore, mean > 0 ? surge!.value / mean : null);
  });
});

describe("surge detection: properties", () => {
  const series = (values: number[], port = 11211): SeriesPoint[] =>
    values.map((v, i) => ({ bucket: START + i * 60, protocol: "udp", port, sources: v, packets: v * 3 }));

  it("no alert on a constant series, whatever its level", () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.integer({ min: 1, max: 80 }), (level, length) => {
        assert.deepEqual(detectSurges(series(Array(length).fill(level)), { bucketSeconds: 60 }), []);
      }),
      { seed: 31 },
    );
  });

  it("scaling a series by a constant does not change which buckets alert (floors off)", () => {
    const noFloors = {
      bucketSeconds: 60,
      madFloor: 0,
      poissonFloor: false,
      minValue: { sources: 0, packets: 0 },
      maxTailProbability: 1,
    };
    fc.assert(
      fc.property(
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 60, size: "max" }),
        fc.integer({ min: 2, max: 1000 }),
        (values, c) => {
          const key = (a: { bucket: number; metric: string }) => `${a.bucket}/${a.metric}`;
          const plain = detectSurges(series(values), noFloors).map(key);
          const scaled = detectSurges(series(values.map((v) => v * c)), noFloors).map(key);
          assert.deepEqual(scaled, plain);
        },
      ),
      { seed: 32, numRuns: 300 },
    );
  });

  it("with the default floors, scaling keeps alerts whose values clear the floors at both scales", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 100, max: 1000 }), { minLength: 8, maxLength: 40, size: "max" }),
        fc.integer({ min: 2, max: 50 }),
        (values, c) => {
          const opts = { bucketSeconds: 60 };
          const rows = scoreTrends(series(values), opts);
          const scaledRows = scoreTrends(series(values.map((v) => v * c)), opts);
          rows.forEach((r, i) => {
            // above the floors: the MAD sets the noise scale at the small scale (so also at the larger one)
            if (r.mad >= 1 && r.sigma === MAD_TO_SIGMA * r.mad)
              assert.equal(scaledRows[i]!.alert, r.alert, `bucket ${r.bucket} ${r.metric}`);
          });
        },
      ),
      { seed: 33, numRuns: 200 },
    );
  });

  it("a quiet port needs the minimum value, and history, before it alerts", () => {
    const quiet = Array(20).fill(0);
    assert.deepEqual(detectSurges(series([...quiet, 9]), { bucketSeconds: 60 }), []);
    assert.equal(
      detectSurges(series([...quiet, 10]), { bucketSeconds: 60 }).filter((a) => a.metric === "sources")
        .length,
      1,
    );
    assert.deepEqual(detectSurges(series([0, 0, 500]), { bucketSeconds: 60 }), []);
  });

  it("missing buckets count as zero in the baseline", () => {
    // the port was seen only in every 4th bucket with 40 sources: its median is 0, so 40 alerts
    const sparse: SeriesPoint[] = [];
    for (let i = 0; i < 40; i += 4)
      sparse.push({ bucket: START + i * 60, protocol: "tcp", port: 8080, sources: 40, packets: 40 });
    sparse.push({ bucket: START + 41 * 60, protocol: "tcp", port: 22, sources: 1, packets: 1 });
    const rows = scoreTrends(sparse, { bucketSeconds: 60 });
    const last = rows.find((r) => r.port === 8080 && r.bucket === START + 36 * 60 && r.metric === "sources");
    assert.equal(last?.baseline, 0);
    assert.equal(last?.alert, true);
  });
});

describe("Poisson tail", () => {
  it("equals 1 minus the summed probabilities below k", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: 0.1, max: 40, noNaN: true }),
        (k, mean) => {
          let below = 0;
          let term = Math.exp(-mean);
          for (let i = 0; i < k; i++) {
            below += term;
            term *= mean / (i + 1);
          }
          const tail = poissonTail(k, mean);
          assert.ok(
            Math.abs(tail - (1 - below)) < 1e-9 + 1e-6 * tail,
            `k=${k} mean=${mean}: ${tail} vs ${1 - below}`,
          );
        },
      ),
      { seed: 41 },
    );
  });

  it("keeps a sparse port's chance jump from alerting, and still alerts on a real surge", () => {
    const sparse = [2, 3, 2, 1, 3, 2, 4, 2, 3, 2, 1, 2, 3, 2];
    const points = (last: number): SeriesPoint[] =>
      [...sparse, last].map((v, i) => ({
        bucket: START + i * HOUR_S,
        protocol: "tcp",
        port: 10443,
        sources: v,
        packets: v,
      }));
    // 11 sources where 2 are usual: 1 in 16,000 by chance, which a thousand ports over days will meet.
    assert.deepEqual(
      detectSurges(points(11), { bucketSeconds: HOUR_S, minValue: { sources: 10, packets: 10 } }),
      [],
    );
    const surge = detectSurges(points(40), { bucketSeconds: HOUR_S, minValue: { sources: 10, packets: 10 } });
    assert.deepEqual(
      surge.map((a) => a.metric),
      ["packets", "sources"],
    );
  });
});
