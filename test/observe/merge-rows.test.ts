/**
 * Merging stored rows (src/observe/merge-rows.ts): the packets of one period split between two
 * ingests (two captures of the same hours, a live capture restarted mid-bucket), each aggregated on
 * its own, must merge into what aggregating all of them at once gives.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { addressText } from "../../src/observe/address.js";
import { Aggregator, type BucketRow, type PortRow } from "../../src/observe/aggregate.js";
import { classifyPacket } from "../../src/observe/classify.js";
import { mergeBucketRows, mergePortRows } from "../../src/observe/merge-rows.js";
import type { DecodedPacket } from "../../src/observe/types.js";
import { icmp, packet, udp } from "./packets.js";

const HOUR = 3_600_000_000;
const T0 = 1_700_000_000_000_000 - (1_700_000_000_000_000 % HOUR);
const MEMCACHED_STATS = Buffer.from("\0\x01\0\0\0\x01\0\0stats\r\n");

function address(n: number): string {
  const v = (0x0b000000 + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Few sources, destinations, ports and hours, so that both halves share keys and addresses. */
const arbPacket = (sources: number) =>
  fc
    .record({
      src: fc.nat(sources - 1),
      dst: fc.nat(6),
      port: fc.constantFrom(23, 445, 11211, 123),
      proto: fc.constantFrom("tcp", "udp", "icmp"),
      hour: fc.nat(2),
      offset: fc.nat(HOUR - 1),
      len: fc.integer({ min: 20, max: 1500 }),
      flags: fc.constantFrom(0x02, 0x12, 0x04),
      ipId: fc.constantFrom(54321, 1),
    })
    .map((r): DecodedPacket => {
      const common = {
        source: address(r.src),
        destination: `192.0.2.${r.dst}`,
        timeMicros: T0 + r.hour * HOUR + r.offset,
        wireLength: r.len,
        ipId: r.ipId,
      };
      if (r.proto === "udp") return udp(r.port, r.port === 11211 ? MEMCACHED_STATS : Buffer.alloc(0), common);
      if (r.proto === "icmp") return icmp(8, common);
      return packet({ ...common, destinationPort: r.port, tcpFlags: r.flags });
    });

/** Packets, each marked for ingest A (true) or B (false). */
const arbSplit = (sources: number, maxLength: number) =>
  fc.array(fc.tuple(arbPacket(sources), fc.boolean()), { minLength: 1, maxLength, size: "max" });

function aggregate(packets: readonly DecodedPacket[], distinctBound?: number): BucketRow[] {
  const agg = new Aggregator({ bucket: "1h", sketches: true, distinctBound });
  for (const p of packets) agg.add(p, classifyPacket(p));
  return agg.buckets();
}

const portKey = (r: PortRow) => `${r.bucket}/${r.protocol}/${r.port ?? ""}`;

/** The fields a merged port row must share with the all-at-once row. */
function portFacts(r: PortRow) {
  return {
    packets: r.packets,
    bytes: r.bytes,
    sources: r.sources,
    destinations: r.destinations,
    firstSeen: r.firstSeen,
    lastSeen: r.lastSeen,
    kinds: r.kinds,
    probes: r.probes,
    tags: r.tags,
  };
}

function bucketFacts(r: BucketRow) {
  return {
    bucket: r.bucket,
    packets: r.packets,
    bytes: r.bytes,
    sources: r.sources,
    destinations: r.destinations,
    firstSeen: r.firstSeen,
    lastSeen: r.lastSeen,
    backscatterPackets: r.backscatterPackets,
    victims: r.victims,
  };
}

function split(marked: readonly [DecodedPacket, boolean][]) {
  return {
    all: marked.map(([p]) => p),
    a: marked.filter(([, inA]) => inA).map(([p]) => p),
    b: marked.filter(([, inA]) => !inA).map(([p]) => p),
  };
}

describe("mergePortRows / mergeBucketRows", () => {
  it("two ingests' rows merge into the rows of one ingest of all the packets", () => {
    fc.assert(
      fc.property(fc.oneof(arbSplit(8, 250), arbSplit(25, 250)), fc.boolean(), (marked, reversed) => {
        const { all, a, b } = split(marked);
        const whole = aggregate(all);
        const parts = reversed ? [aggregate(b), aggregate(a)] : [aggregate(a), aggregate(b)];

        const merged = mergePortRows(parts.flatMap((rows) => rows.flatMap((r) => r.ports)));
        const expected = whole.flatMap((r) => r.ports);
        assert.deepEqual(merged.map(portKey).sort(), expected.map(portKey).sort());
        const byKey = new Map(merged.map((r) => [portKey(r), r]));
        for (const e of expected) {
          const m = byKey.get(portKey(e))!;
          assert.deepEqual(portFacts(m), portFacts(e), portKey(e));
          assert.equal(m.approximate, false);
          assert.ok(m.rows === 1 || m.rows === 2);
        }

        const mergedBuckets = mergeBucketRows(parts.flat());
        assert.deepEqual(
          mergedBuckets.map(bucketFacts).sort((x, y) => x.bucket - y.bucket),
          whole.map(bucketFacts),
        );
        for (const m of mergedBuckets) {
          assert.equal(m.approximate, false);
          // Top sources: merged from the whole summaries, exact (few sources: no counter was cut).
          const here = all.filter((p) => Math.floor(p.timeMicros / HOUR) * 3600 === m.bucket);
          const truth = new Map<string, number>();
          for (const p of here) truth.set(addressText(p.source), (truth.get(addressText(p.source)) ?? 0) + 1);
          const sorted = [...truth]
            .map(([address, packets]) => ({ address, packets, error: 0 }))
            .sort((x, y) => y.packets - x.packets || (x.address < y.address ? -1 : 1));
          assert.deepEqual(m.topSources, sorted.slice(0, 10));
        }
      }),
      { seed: 5, numRuns: 150 },
    );
  });

  it("past the exact bound, the union of sketches counts the distinct sources within the sketch's error", () => {
    fc.assert(
      fc.property(arbSplit(3000, 1500), (marked) => {
        const { all, a, b } = split(marked);
        const merged = mergePortRows([...aggregate(a, 8), ...aggregate(b, 8)].flatMap((r) => r.ports));
        for (const m of merged) {
          const here = all.filter(
            (p) =>
              Math.floor(p.timeMicros / HOUR) * 3600 === m.bucket &&
              p.protocol === m.protocol &&
              (p.protocol === "icmp" ? null : p.destinationPort) === m.port,
          );
          const truth = new Set(here.map((p) => p.source)).size;
          assert.equal(m.packets, here.length);
          // Precision 14: a standard error of 0.8%; these counts are small, where it is nearly exact.
          assert.ok(Math.abs(m.sources - truth) <= Math.max(2, truth * 0.03), `${m.sources} vs ${truth}`);
          assert.equal(m.approximate, false);
        }
      }),
      { seed: 9, numRuns: 20 },
    );
  });

  it("a row without counter state is added, not unioned, and the merged row says it is approximate", () => {
    const p1 = packet({ source: "198.51.100.1", timeMicros: T0 + 1 });
    const p2 = packet({ source: "198.51.100.1", timeMicros: T0 + 2 });
    const withState = aggregate([p1])[0]!.ports[0]!;
    const agg = new Aggregator({ bucket: "1h" });
    agg.add(p2, classifyPacket(p2));
    const without = agg.buckets()[0]!.ports[0]!;
    assert.equal(without.sourcesState, undefined);
    const [m] = mergePortRows([withState, without]);
    assert.equal(m!.sources, 2, "one source, counted once per row: all a sum can say");
    assert.equal(m!.approximate, true);
    const [both] = mergePortRows([withState, aggregate([p2])[0]!.ports[0]!]);
    assert.equal(both!.sources, 1);
    assert.equal(both!.approximate, false);
  });

  it("without stored summaries (older rows), top lists merge by adding what each list kept", () => {
    const a = aggregate([
      packet({ source: address(1), timeMicros: T0 }),
      packet({ source: address(2), timeMicros: T0 }),
    ]);
    const b = aggregate([packet({ source: address(2), timeMicros: T0 })]);
    const bare = (rows: BucketRow[]) => rows.map((r) => ({ ...r, topSourcesState: undefined }));
    const [m] = mergeBucketRows([...bare(a), ...b]);
    assert.deepEqual(m!.topSources, [
      { address: address(2), packets: 2, error: 0 },
      { address: address(1), packets: 1, error: 0 },
    ]);
  });

  it("top sources of merged rows find a source that one ingest's stored top 10 left out", () => {
    const at = (n: number) => packet({ source: address(n), timeMicros: T0 });
    // Ingest A: eleven sources with one packet each (its top 10 drops one); B: one more from that one.
    const a = [...Array(11).keys()].map(at);
    const dropped = address(
      [...Array(11).keys()].find((i) => !aggregate(a)[0]!.topSources.some((s) => s.address === address(i)))!,
    );
    const b = [packet({ source: dropped, timeMicros: T0 })];
    const [m] = mergeBucketRows([...aggregate(a), ...aggregate(b)]);
    assert.deepEqual(m!.topSources[0], { address: dropped, packets: 2, error: 0 });
  });
});
