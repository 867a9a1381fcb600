/**
 * The synthetic pcap generator (bench/observe/synth.ts): what it writes must read back, through the
 * real capture reader, decoder and classifier and through tcpdump, as exactly the ground truth it
 * returns; the same seed must give the same bytes.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import {
  parseSurge,
  type SynthOptions,
  type SynthSummary,
  writeSyntheticPcap,
} from "../../bench/observe/synth.js";
import type { AddressKey } from "../../src/observe/address.js";
import { Aggregator } from "../../src/observe/aggregate.js";
import { openCapture } from "../../src/observe/capture/open.js";
import { classifyPacket } from "../../src/observe/classify.js";
import { decodePacket, newDecodedPacket } from "../../src/observe/decode.js";
import { detectSurges } from "../../src/observe/trend.js";
import { toolMissing } from "../helpers/skip.js";

const dir = mkdtempSync(join(tmpdir(), "moat-synth-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tmp = () => join(dir, `s${files++}.pcap`);

interface ReadBack {
  perPort: Record<string, number[]>;
  packets: number;
  ipv6: number;
  problems: number;
  /** Each source's first bucket. */
  firstBucket: Map<AddressKey, number>;
  /** Sources per bucket of one (protocol, port) key. */
  sourcesOn: (key: string) => Set<AddressKey>[];
  probes: Map<string, Set<string | null>>;
}

/** Counts what the decoder sees, keyed like the aggregator: protocol/port, no port for ICMP. */
async function readBack(path: string, summary: SynthSummary): Promise<ReadBack> {
  const reader = await openCapture(path);
  const into = newDecodedPacket();
  const perPort: Record<string, number[]> = {};
  const firstBucket = new Map<AddressKey, number>();
  const byKey = new Map<string, Set<AddressKey>[]>();
  const probes = new Map<string, Set<string | null>>();
  let packets = 0;
  let ipv6 = 0;
  let problems = 0;
  const result = await reader.forEach((record) => {
    if (decodePacket(record, into) !== null) {
      problems++;
      return;
    }
    packets++;
    if (into.family === "ipv6") ipv6++;
    const bucket = Math.floor((into.timeMicros / 1e6 - summary.start) / summary.bucketSeconds);
    const portless = into.protocol === "icmp" || into.protocol === "icmpv6";
    const key = `${into.protocol}/${portless ? "" : into.destinationPort}`;
    perPort[key] ??= new Array<number>(summary.buckets).fill(0);
    perPort[key][bucket]!++;
    if (!firstBucket.has(into.source)) firstBucket.set(into.source, bucket);
    let sets = byKey.get(key);
    if (sets === undefined) {
      sets = Array.from({ length: summary.buckets }, () => new Set<AddressKey>());
      byKey.set(key, sets);
    }
    sets[bucket]!.add(into.source);
    if (into.protocol === "udp") {
      const probe = classifyPacket(into).probe;
      probes.set(key, (probes.get(key) ?? new Set()).add(probe));
    }
  });
  await reader.close();
  problems += result.problemCount;
  const none = Array.from({ length: summary.buckets }, () => new Set<string>());
  return { perPort, packets, ipv6, problems, firstBucket, sourcesOn: (k) => byKey.get(k) ?? none, probes };
}

const SMALL: SynthOptions = {
  packets: 40_000,
  sources: 3_000,
  seed: 7,
  surges: [{ protocol: "udp", port: 11211, bucket: 30 }],
};

describe("writeSyntheticPcap", () => {
  const path = tmp();
  const written = writeSyntheticPcap(path, SMALL);

  it("reads back through the real decoder as exactly the summary's counts", async () => {
    const summary = await written;
    const back = await readBack(path, summary);
    assert.equal(back.problems, 0);
    assert.equal(back.packets, SMALL.packets);
    assert.equal(summary.packets, SMALL.packets);
    assert.equal(back.ipv6, summary.ipv6Packets);
    assert.ok(summary.ipv6Packets > 0 && summary.ipv4Packets > summary.ipv6Packets, "mostly IPv4, some IPv6");
    assert.deepEqual(back.perPort, summary.perPort);
    assert.equal(back.firstBucket.size, SMALL.sources, "exactly the distinct sources asked for");
  });

  it("spreads packets over the span: 48 hourly buckets, 23/tcp and 445/tcp in every one", async () => {
    const summary = await written;
    assert.equal(summary.buckets, 48);
    const heavy = ["tcp/23", "tcp/445"].map((k) => summary.perPort[k]!);
    for (const series of heavy) assert.ok(series.every((n) => n > 0));
    // Heavier than any other port in total.
    const total = (k: string) => summary.perPort[k]!.reduce((a, b) => a + b, 0);
    const others = Object.keys(summary.perPort).filter((k) => k !== "tcp/23" && k !== "tcp/445");
    for (const k of others) assert.ok(total(k) < total("tcp/445"), `${k} below 445/tcp`);
  });

  it("the surge: from its bucket on, 11211/udp memcached stats from sources never seen before", async () => {
    const summary = await written;
    const surge = summary.surges[0]!;
    assert.equal(surge.bucket, 30);
    const back = await readBack(path, summary);
    // Background sources have all shown up before the surge, so the new ones are the surge's.
    const newFrom = [...back.firstBucket.values()].filter((b) => b >= surge.bucket).length;
    assert.equal(newFrom, surge.sources);
    const bySource = back.sourcesOn("udp/11211");
    const before = bySource.slice(0, surge.bucket);
    const during = bySource.slice(surge.bucket);
    const newOnPort = new Set(
      during.flatMap((s) => [...s]).filter((a) => back.firstBucket.get(a)! >= surge.bucket),
    );
    assert.equal(newOnPort.size, surge.sources);
    const maxBefore = Math.max(...before.map((s) => s.size));
    const minDuring = Math.min(...during.map((s) => s.size));
    assert.ok(minDuring > maxBefore, `sources per bucket ${minDuring} during vs at most ${maxBefore} before`);
    const packetsDuring = summary.perPort["udp/11211"]!.slice(surge.bucket).reduce((a, b) => a + b, 0);
    assert.ok(packetsDuring >= surge.packets);
    assert.deepEqual([...back.probes.get("udp/11211")!], ["memcached-stats"]);
  });

  it("through the aggregator and surge detector: 11211/udp alerts in the surge bucket, 23/tcp and 445/tcp never", async () => {
    const summary = await written;
    const surge = summary.surges[0]!;
    const agg = new Aggregator({ bucket: "1h" });
    const reader = await openCapture(path);
    const into = newDecodedPacket();
    await reader.forEach((record) => {
      if (decodePacket(record, into) === null) agg.add(into, classifyPacket(into));
    });
    await reader.close();
    const points = agg.buckets().flatMap((bucket) => bucket.ports);
    const alerts = detectSurges(points, { bucketSeconds: summary.bucketSeconds });
    const first = alerts.find((a) => a.protocol === "udp" && a.port === 11211 && a.metric === "sources");
    assert.equal(first?.bucket, summary.start + surge.bucket * summary.bucketSeconds, JSON.stringify(alerts));
    assert.deepEqual(
      alerts.filter((a) => a.protocol === "tcp" && (a.port === 23 || a.port === 445)),
      [],
    );
  });

  it("same options and seed give the same bytes; another seed other bytes", async () => {
    await written;
    const again = tmp();
    const other = tmp();
    const a = await writeSyntheticPcap(again, SMALL);
    await writeSyntheticPcap(other, { ...SMALL, seed: 8 });
    assert.ok(readFileSync(path).equals(readFileSync(again)));
    assert.ok(!readFileSync(path).equals(readFileSync(other)));
    assert.deepEqual(a, { ...(await written), path: again });
  });

  it("tcpdump reads it without complaint, every checksum correct", {
    skip: toolMissing("tcpdump") ?? false,
  }, async () => {
    const summary = await written;
    const plain = spawnSync("tcpdump", ["-nr", path], { encoding: "utf8", maxBuffer: 1 << 28 });
    assert.equal(plain.status, 0, plain.stderr);
    assert.deepEqual(plain.stderr.trim().split("\n"), [
      `reading from file ${path}, link-type EN10MB (Ethernet), snapshot length 65535`,
    ]);
    const lines = plain.stdout.trim().split("\n");
    assert.equal(lines.length, summary.packets);
    assert.equal(lines.filter((l) => l.includes(" IP6 ")).length, summary.ipv6Packets);
    const verbose = execFileSync("tcpdump", ["-vvnr", path], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 1 << 28,
    });
    assert.equal((verbose.match(/incorrect|bad cksum|bad udp cksum|truncated/gi) ?? []).length, 0);
    assert.ok((verbose.match(/\(correct\)/g) ?? []).length > 0);
  });
});

describe("writeSyntheticPcap: any small options read back exactly", () => {
  it("packet and per-port counts, sources, for random sizes, spans, buckets and seeds", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          packets: fc.integer({ min: 1, max: 3000 }),
          sourceShare: fc.double({ min: 0.01, max: 0.6, noNaN: true }),
          seed: fc.integer({ min: 0, max: 2 ** 31 }),
          spanHours: fc.integer({ min: 1, max: 72 }),
          bucketSeconds: fc.constantFrom(60, 3600, 86400),
        }),
        async ({ packets, sourceShare, seed, spanHours, bucketSeconds }) => {
          const sources = Math.max(1, Math.floor(packets * sourceShare));
          const path = tmp();
          const summary = await writeSyntheticPcap(path, {
            packets,
            sources,
            seed,
            spanHours,
            bucketSeconds,
          });
          const back = await readBack(path, summary);
          rmSync(path);
          assert.equal(back.problems, 0);
          assert.equal(back.packets, packets);
          assert.equal(back.firstBucket.size, sources);
          assert.deepEqual(back.perPort, summary.perPort);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("writeSyntheticPcap: impossible options are refused before writing", () => {
  it("too few packets for the sources, a surge past the end, bad numbers", async () => {
    const cases: [SynthOptions, RegExp][] = [
      [{ packets: 100, sources: 100 }, /too few/],
      [{ packets: 1000, sources: 10, surges: [{ protocol: "udp", port: 11211, bucket: 48 }] }, /bucket/],
      [{ packets: 0, sources: 1 }, /packets/],
      [{ packets: 10, sources: 1.5 }, /sources/],
      [{ packets: 10, sources: 1, start: 1_700_000_001 }, /multiple/],
      [{ packets: 10, sources: 1, spanHours: -1 }, /spanHours/],
    ];
    for (const [options, message] of cases)
      await assert.rejects(writeSyntheticPcap(tmp(), options), message, JSON.stringify(options));
  });
});

describe("parseSurge", () => {
  it("reads PORT/PROTO@BUCKET[:SOURCES]", () => {
    assert.deepEqual(parseSurge("11211/udp@30"), { port: 11211, protocol: "udp", bucket: 30 });
    assert.deepEqual(parseSurge("23/tcp@5:400"), { port: 23, protocol: "tcp", bucket: 5, sources: 400 });
  });

  it("round-trips any valid spec and refuses anything else with the text in the message", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom("tcp" as const, "udp" as const),
        fc.integer({ min: 0, max: 10_000 }),
        (port, protocol, bucket) => {
          assert.deepEqual(parseSurge(`${port}/${protocol}@${bucket}`), { port, protocol, bucket });
        },
      ),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const spec = parseSurge(text);
          assert.match(text, /^\d+\/(tcp|udp)@\d+(:\d+)?$/);
          assert.ok(spec.port >= 0);
        } catch (error) {
          assert.ok(error instanceof RangeError);
          assert.ok(error.message.includes(text));
        }
      }),
    );
    for (const bad of ["11211/udp", "11211@30", "x/udp@1", "11211/sctp@1", "70000/udp@1", ""])
      assert.throws(() => parseSurge(bad), RangeError, bad);
  });
});
