import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { keyOfText } from "../../src/observe/address.js";
import { Aggregator } from "../../src/observe/aggregate.js";
import { classifyPacket } from "../../src/observe/classify.js";
import { HeavyHitters } from "../../src/observe/heavy.js";
import type { DecodedPacket } from "../../src/observe/types.js";
import { icmp, packet, udp } from "./packets.js";

const T0 = 1_700_000_000_000_000; // microseconds
const HOUR = 3_600_000_000;

function address(n: number): string {
  const v = (0x0b000000 + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** An arbitrary small packet: few sources, ports and hours so that keys collide. */
const arbPacket = fc
  .record({
    src: fc.nat(20),
    dst: fc.nat(5),
    port: fc.constantFrom(22, 23, 445, 11211, 123, 53),
    proto: fc.constantFrom("tcp", "udp", "icmp"),
    hour: fc.nat(2),
    offset: fc.nat(HOUR - 1),
    len: fc.integer({ min: 20, max: 1500 }),
    flags: fc.constantFrom(0x02, 0x12, 0x04),
  })
  .map((r): DecodedPacket => {
    const common = {
      source: address(r.src),
      destination: `192.0.2.${r.dst}`,
      timeMicros: T0 - (T0 % HOUR) + r.hour * HOUR + r.offset,
      wireLength: r.len,
    };
    if (r.proto === "udp") return udp(r.port, Buffer.alloc(0), common);
    if (r.proto === "icmp") return icmp(8, common);
    return packet({ ...common, destinationPort: r.port, tcpFlags: r.flags });
  });

/** Rows with every exact counter state and heavy-hitter summary in sorted order (they are sets). */
function canonical<T>(rows: T): T {
  const sortState = (value: unknown): unknown => {
    if (value === null || typeof value !== "object") return value instanceof Uint8Array ? [...value] : value;
    const v = value as { exact?: unknown[]; keys?: unknown[]; counts?: number[] };
    if (Array.isArray(v.exact)) return { exact: [...v.exact].sort() };
    if (Array.isArray(v.keys) && Array.isArray(v.counts)) {
      const pairs = v.keys
        .map((k, i) => [k, v.counts![i]] as const)
        .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
      return { ...v, keys: pairs.map((p) => p[0]), counts: pairs.map((p) => p[1]) };
    }
    return value instanceof Uint8Array ? [...value] : value;
  };
  return JSON.parse(JSON.stringify(rows, (_key, value) => sortState(value)));
}

function ingest(agg: Aggregator, packets: DecodedPacket[]): void {
  for (const p of packets) agg.add(p, classifyPacket(p));
}

describe("Aggregator", () => {
  it("bucket start = floor(time / size), in Unix seconds", () => {
    const agg = new Aggregator({ bucket: "1h" });
    const t = 1_700_003_599_999_999;
    assert.equal(agg.bucketOf(t), Math.floor(t / HOUR) * 3600);
    assert.equal(new Aggregator({ bucket: "1m" }).bucketOf(61_500_000), 60);
    assert.equal(new Aggregator({ bucket: "1d" }).bucketOf(86_400_000_000 * 3 + 5), 86_400 * 3);
  });

  it("totals equal the sums of their parts, and small counts are exact", () => {
    fc.assert(
      fc.property(fc.array(arbPacket, { maxLength: 300, size: "max" }), (packets) => {
        const agg = new Aggregator({ bucket: "1h", topPorts: 100 });
        ingest(agg, packets);
        const rows = agg.buckets();
        assert.equal(
          rows.reduce((n, b) => n + b.packets, 0),
          packets.length,
        );
        for (const b of rows) {
          const inBucket = packets.filter((p) => agg.bucketOf(p.timeMicros) === b.bucket);
          assert.equal(b.packets, inBucket.length);
          assert.equal(
            b.bytes,
            inBucket.reduce((n, p) => n + p.wireLength, 0),
          );
          assert.equal(
            b.packets,
            b.ports.reduce((n, r) => n + r.packets, 0),
          );
          assert.equal(
            b.bytes,
            b.ports.reduce((n, r) => n + r.bytes, 0),
          );
          assert.equal(b.sources, new Set(inBucket.map((p) => p.source)).size);
          assert.equal(b.firstSeen, Math.min(...inBucket.map((p) => p.timeMicros)));
          assert.equal(b.lastSeen, Math.max(...inBucket.map((p) => p.timeMicros)));
          for (const r of b.ports) {
            const mine = inBucket.filter(
              (p) => p.protocol === r.protocol && (r.port === null || p.destinationPort === r.port),
            );
            assert.equal(r.packets, mine.length);
            assert.equal(r.sources, new Set(mine.map((p) => p.source)).size);
            assert.equal(r.destinations, new Set(mine.map((p) => p.destination)).size);
            assert.equal(
              Object.values(r.kinds).reduce((n, k) => n + (k ?? 0), 0),
              r.packets,
            );
          }
          const backscatter = inBucket.filter((p) => classifyPacket(p).kind === "backscatter");
          assert.equal(b.backscatterPackets, backscatter.length);
          assert.equal(b.victims, new Set(backscatter.map((p) => p.source)).size);
        }
      }),
      { seed: 21, numRuns: 150 },
    );
  });

  it("top 5 ports by packets are exact, ties broken by protocol then port", () => {
    const packets: DecodedPacket[] = [];
    const volume: [number, number][] = [
      [23, 50],
      [445, 40],
      [22, 30],
      [80, 30],
      [8080, 10],
      [3389, 9],
      [25, 1],
    ];
    let n = 0;
    for (const [port, count] of volume) {
      for (let i = 0; i < count; i++)
        packets.push(packet({ destinationPort: port, source: address(n++ % 7), timeMicros: T0 + i }));
    }
    const agg = new Aggregator({ bucket: "1d" });
    ingest(agg, packets);
    const [b] = agg.buckets();
    assert.ok(b);
    // expected: count per port by hand from the input, sorted
    const counts = new Map<number, number>();
    for (const p of packets) counts.set(p.destinationPort!, (counts.get(p.destinationPort!) ?? 0) + 1);
    const expected = [...counts].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 5);
    assert.deepEqual(
      b.topPorts.map((t) => [t.port, t.packets]),
      expected,
    );
  });

  it("counts kinds, probes, tags and backscatter victims per key", () => {
    const agg = new Aggregator({ bucket: "1m" });
    const memcached = Buffer.concat([Buffer.from("0000000000010000", "hex"), Buffer.from("stats\r\n")]);
    ingest(agg, [
      udp(11211, memcached, { timeMicros: T0 }),
      udp(11211, memcached, { timeMicros: T0 + 1, ipId: 54321 }),
      packet({ destinationPort: 23, ipId: 54321, timeMicros: T0 + 2 }),
      packet({
        tcpFlags: 0x12,
        source: "203.0.113.80",
        sourcePort: 80,
        destinationPort: 5555,
        timeMicros: T0 + 3,
      }),
      packet({
        tcpFlags: 0x12,
        source: "203.0.113.80",
        sourcePort: 80,
        destinationPort: 5556,
        timeMicros: T0 + 4,
      }),
    ]);
    const [b] = agg.buckets();
    assert.ok(b);
    const key = (proto: string, port: number) => b.ports.find((r) => r.protocol === proto && r.port === port);
    assert.deepEqual(key("udp", 11211)?.probes, { "memcached-stats": 2 });
    assert.deepEqual(key("udp", 11211)?.tags, { zmap: 1 });
    assert.deepEqual(key("tcp", 23)?.kinds, { "tcp-syn-scan": 1 });
    assert.deepEqual(key("tcp", 5555)?.kinds, { backscatter: 1 });
    assert.equal(b.victims, 1);
    assert.deepEqual(b.topVictims, [{ address: "203.0.113.80", packets: 2, error: 0 }]);
  });

  it("ICMP has no port; separate buckets stay separate; drain removes closed buckets", () => {
    const agg = new Aggregator({ bucket: "1h" });
    ingest(agg, [
      icmp(8, { timeMicros: T0 }),
      icmp(8, { timeMicros: T0 + HOUR }),
      icmp(8, { timeMicros: T0 + 2 * HOUR }),
    ]);
    const rows = agg.buckets();
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.ports.length === 1 && r.ports[0]!.port === null));
    const drained = agg.drain(rows[2]!.bucket);
    assert.deepEqual(
      drained.map((r) => r.bucket),
      [rows[0]!.bucket, rows[1]!.bucket],
    );
    assert.equal(agg.buckets().length, 1);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(rows)));
  });

  it("stays bounded under a flood of a million unique sources, and still finds the heavy source", () => {
    const bound = 1024;
    const capacity = 64;
    const agg = new Aggregator({ bucket: "1h", distinctBound: bound, heavyCapacity: capacity });
    const p = udp(11211, Buffer.alloc(0), { timeMicros: T0 });
    const c = classifyPacket(p);
    const N = 1_000_000;
    for (let i = 0; i < N; i++) {
      // one loud scanner among a million spoofed one-packet sources
      p.source = i % 10 === 0 ? "198.51.100.99" : address(i);
      p.destination = `192.0.2.${i & 255}`;
      agg.add(p, c);
    }
    const stored = agg.storedEntries();
    assert.equal(stored.portKeys, 1);
    assert.ok(stored.heavyEntries <= 2 * capacity, `heavy entries ${stored.heavyEntries}`);
    // per counter: exact values only while under the bound; the flooded ones became sketches
    assert.ok(stored.exactValues <= 5 * (bound + 1), `exact values ${stored.exactValues}`);
    assert.ok(stored.sketches >= 2);
    const [b] = agg.buckets();
    assert.ok(b);
    const truth = N - N / 10 + 1;
    assert.ok(Math.abs(b.sources - truth) / truth < 0.03, `sources ${b.sources} vs ${truth}`);
    assert.equal(b.destinations, 256);
    assert.equal(b.topSources[0]?.address, "198.51.100.99");
    assert.ok(b.topSources[0]!.packets - b.topSources[0]!.error <= N / 10);
    assert.ok(b.topSources[0]!.packets >= N / 10);
  });

  it("a coarse bucket folded from closed fine buckets equals one built from every packet", () => {
    const arbPackets = fc.array(
      fc.tuple(arbPacket, fc.nat(59)).map(([p, minute]) => ({
        ...p,
        timeMicros: p.timeMicros - (p.timeMicros % HOUR) + minute * 60_000_000 + (p.timeMicros % 60_000_000),
      })),
      { maxLength: 300, size: "max" },
    );
    fc.assert(
      fc.property(arbPackets, fc.integer({ min: 2, max: 64 }), (packets, bound) => {
        const options = { distinctBound: bound, precision: 10, sketches: true, topPorts: 100 } as const;
        const direct = new Aggregator({ bucket: "1h", ...options });
        ingest(direct, packets);
        const minutes = new Aggregator({ bucket: "1m", ...options });
        ingest(minutes, packets);
        const folded = new Aggregator({ bucket: "1h", ...options });
        for (const b of minutes.drainStates()) folded.fold(b);
        // Exact states are sets (their order is the order of arrival); sketch registers must be
        // identical: a union of sketches is the sketch of the union.
        assert.deepEqual(canonical(folded.drain()), canonical(direct.drain()));
      }),
      { numRuns: 150 },
    );
  });

  it("can carry distinct-counter state in the rows for later merging", () => {
    const agg = new Aggregator({ bucket: "1h", sketches: true });
    ingest(agg, [packet({ timeMicros: T0 }), packet({ timeMicros: T0 + 1, source: "198.51.100.8" })]);
    const row = agg.buckets()[0]!.ports[0]!;
    assert.deepEqual(row.sourcesState, { exact: [keyOfText("198.51.100.7"), keyOfText("198.51.100.8")] });
  });
});

describe("HeavyHitters", () => {
  it("is exact while under capacity and keeps every item above total/k", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(40), { maxLength: 500, size: "max" }),
        fc.integer({ min: 1, max: 30 }),
        (items, k) => {
          const ss = new HeavyHitters(k);
          const truth = new Map<string, number>();
          for (const x of items) {
            ss.add(String(x));
            truth.set(String(x), (truth.get(String(x)) ?? 0) + 1);
          }
          assert.ok(ss.size <= 2 * k);
          assert.ok(ss.top().length <= k);
          const held = new Map(ss.top().map((h) => [h.key, h]));
          for (const [key, count] of truth) {
            if (count > items.length / k) assert.ok(held.has(key), `${key} (${count}) missing`);
            const h = held.get(key);
            if (h) assert.ok(h.count >= count && h.count - h.error <= count);
          }
          if (truth.size <= k) for (const [key, count] of truth) assert.equal(held.get(key)?.count, count);
        },
      ),
      { seed: 9, numRuns: 200 },
    );
  });
});
