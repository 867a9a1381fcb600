/**
 * The embedded DuckDB store (src/store/duckdb-store.ts) through its own interface: rows written by
 * the aggregator read back as they were (counter states included, so two ingests of overlapping
 * sources union to each source once), ingest bookkeeping, refusals of files that are not a store of
 * this version, and the stored counter codec (src/store/distinct-codec.ts).
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { deflateRawSync } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { type AddressKey, addressText, keyOfText } from "../../src/observe/address.js";
import { Aggregator, type BucketRow, type PortRow } from "../../src/observe/aggregate.js";
import { classifyPacket } from "../../src/observe/classify.js";
import { Distinct, type DistinctState } from "../../src/observe/distinct.js";
import { MAX_PRECISION, MIN_PRECISION } from "../../src/observe/hll.js";
import { mergeBucketRows, mergePortRows } from "../../src/observe/merge-rows.js";
import type { DecodedPacket } from "../../src/observe/types.js";
import { decodeDistinct, encodeDistinct } from "../../src/store/distinct-codec.js";
import {
  DUCKDB_ALLOCATOR_CONF,
  type DuckDbStore,
  openDuckDbStore,
  returnFreedMemory,
  SCHEMA_VERSION,
} from "../../src/store/duckdb-store.js";
import type { IngestBatch, IngestIdentity } from "../../src/store/observe-store.js";
import { icmp, packet, udp } from "../observe/packets.js";

const dir = mkdtempSync(join(tmpdir(), "moat-store-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `s${n++}.duckdb`);

const HOUR = 3_600_000_000;
const T0 = 1_700_002_800_000_000 - (1_700_002_800_000_000 % HOUR);

function address(i: number): string {
  const v = (0x0b000000 + i) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** A deterministic mix of TCP, UDP and ICMP over `hours` hours from `sources`. */
function traffic(sources: readonly number[], hours: number, perSource = 3): DecodedPacket[] {
  const out: DecodedPacket[] = [];
  let k = 0;
  for (const s of sources) {
    for (let j = 0; j < perSource; j++, k++) {
      const common = {
        source: address(s),
        destination: `192.0.2.${(s + j) % 7}`,
        timeMicros: T0 + (((s * 7919 + j * 104729) * 1_000_003) % (hours * HOUR)),
        wireLength: 40 + ((s + j) % 60),
        index: k,
      };
      const pick = (s + j) % 5;
      if (pick === 0) out.push(icmp(8, common));
      else if (pick === 1) out.push(udp(11211, Buffer.from("\0\x01\0\0\0\x01\0\0stats\r\n"), common));
      else out.push(packet({ ...common, destinationPort: pick === 2 ? 23 : 445 }));
    }
  }
  return out;
}

function aggregate(packets: readonly DecodedPacket[], distinctBound?: number): BucketRow[] {
  const agg = new Aggregator({ bucket: "1h", sketches: true, distinctBound });
  for (const p of packets) agg.add(p, classifyPacket(p));
  return agg.buckets();
}

const identity = (fingerprint: string | null, source = "x.pcap"): IngestIdentity => ({
  source,
  fingerprint,
  kind: "file",
  bucketSizes: ["1h"],
});

const batch = (rows: BucketRow[], extra: Partial<IngestBatch> = {}): IngestBatch => ({
  rows,
  packets: 0,
  problems: 0,
  newProblems: [],
  complete: false,
  ...extra,
});

const portKey = (r: PortRow) => `${r.bucket}/${r.protocol}/${r.port ?? -1}`;
/** The store's order: bucket, protocol, port with ICMP (null) first. */
const byStoreOrder = (a: PortRow, b: PortRow) =>
  a.bucket - b.bucket ||
  (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) ||
  (a.port ?? -1) - (b.port ?? -1);

async function withStore<T>(path: string, use: (s: DuckDbStore) => Promise<T>, readOnly = false): Promise<T> {
  const store = await openDuckDbStore(path, { readOnly });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

describe("DuckDbStore: rows round trip", () => {
  it("port rows and bucket rows read back as committed, counter states included, after a reopen", async () => {
    const path = dbPath();
    const rows = aggregate(traffic([...Array(300).keys()], 3));
    assert.ok(rows.length === 3 && rows.every((r) => r.ports.length >= 4), "three hours, several ports each");
    await withStore(path, async (s) => {
      const id = await s.startIngest(identity("f1"));
      await s.commit(id, batch(rows.slice(0, 2)));
      await s.commit(id, batch(rows.slice(2), { complete: true }));
    });
    await withStore(
      path,
      async (s) => {
        const ports = await s.portRows({ bucketSize: "1h" });
        const expected = rows.flatMap((r) => r.ports).sort(byStoreOrder);
        assert.deepEqual(ports, expected);
        assert.ok(ports.every((p) => p.sourcesState !== undefined && p.destinationsState !== undefined));
        const buckets = await s.bucketRows({ bucketSize: "1h" });
        assert.deepEqual(
          buckets,
          rows.map((r) => ({ ...r, ports: [] })),
        );
        // Another bucket size holds nothing.
        assert.deepEqual(await s.portRows({ bucketSize: "1m" }), []);
      },
      true,
    );
  });

  it("sketch states (past the exact bound) round trip too", async () => {
    const path = dbPath();
    const rows = aggregate(traffic([...Array(400).keys()], 1), 16);
    const sketched = rows[0]!.ports.filter((p) => p.sourcesState && !("exact" in p.sourcesState));
    assert.ok(sketched.length > 0, "some port rows became sketches");
    await withStore(path, async (s) => {
      const id = await s.startIngest(identity("f2"));
      await s.commit(id, batch(rows, { complete: true }));
      assert.deepEqual(await s.portRows({ bucketSize: "1h" }), rows[0]!.ports.slice().sort(byStoreOrder));
      const [b] = await s.bucketRows({ bucketSize: "1h" });
      assert.deepEqual(b!.sourcesState, rows[0]!.sourcesState);
    });
  });

  it("queries by time range, protocol and port select exactly the matching rows", async () => {
    const path = dbPath();
    const rows = aggregate(traffic([...Array(200).keys()], 4));
    const all = rows.flatMap((r) => r.ports);
    await withStore(path, async (s) => {
      const id = await s.startIngest(identity("f3"));
      await s.commit(id, batch(rows, { complete: true }));
      const b1 = rows[1]!.bucket;
      const b3 = rows[3]!.bucket;
      const keys = (list: PortRow[]) => list.map(portKey).sort();
      assert.deepEqual(
        keys(await s.portRows({ bucketSize: "1h", since: b1, until: b3 })),
        keys(all.filter((r) => r.bucket >= b1 && r.bucket < b3)),
      );
      assert.deepEqual(
        keys(await s.portRows({ bucketSize: "1h", protocol: "udp", port: 11211 })),
        keys(all.filter((r) => r.protocol === "udp" && r.port === 11211)),
      );
      assert.deepEqual(
        keys(await s.portRows({ bucketSize: "1h", protocol: "icmp", port: null })),
        keys(all.filter((r) => r.protocol === "icmp")),
      );
      assert.deepEqual(
        keys(await s.portRows({ bucketSize: "1h", protocol: "tcp" })),
        keys(all.filter((r) => r.protocol === "tcp")),
      );
      assert.deepEqual(
        (await s.bucketRows({ bucketSize: "1h", since: b1 })).map((r) => r.bucket),
        rows.slice(1).map((r) => r.bucket),
      );
    });
  });
});

describe("DuckDbStore: two ingests of overlapping sources", () => {
  for (const bound of [undefined, 8]) {
    it(`merged rows count each source once (${bound === undefined ? "exact sets" : "sketches"})`, async () => {
      const path = dbPath();
      const first = [...Array(120).keys()];
      const second = [...Array(120).keys()].map((i) => i + 60); // 60 shared
      const a = traffic(first, 2);
      const b = traffic(second, 2);
      await withStore(path, async (s) => {
        const ia = await s.startIngest(identity("fa", "a.pcap"));
        await s.commit(ia, batch(aggregate(a, bound), { complete: true }));
        const ib = await s.startIngest(identity("fb", "b.pcap"));
        await s.commit(ib, batch(aggregate(b, bound), { complete: true }));
      });
      await withStore(
        path,
        async (s) => {
          const merged = mergePortRows(await s.portRows({ bucketSize: "1h" }));
          assert.ok(
            merged.some((r) => r.rows === 2),
            "some buckets seen by both ingests",
          );
          // Ground truth: the packets themselves.
          const all = [...a, ...b];
          for (const r of merged) {
            const here = all.filter(
              (p) =>
                Math.floor(p.timeMicros / HOUR) * 3600 === r.bucket &&
                p.protocol === r.protocol &&
                (p.protocol === "icmp" ? null : p.destinationPort) === r.port,
            );
            const sources = new Set(here.map((p) => p.source));
            assert.equal(r.packets, here.length);
            if (bound === undefined) assert.equal(r.sources, sources.size, portKey(r));
            else {
              const reference = new Distinct({ bound });
              for (const x of sources) reference.add(x);
              assert.equal(r.sources, reference.count(), portKey(r));
            }
            assert.equal(r.approximate, false);
          }
          const buckets = mergeBucketRows(await s.bucketRows({ bucketSize: "1h" }));
          for (const r of buckets) {
            const here = all.filter((p) => Math.floor(p.timeMicros / HOUR) * 3600 === r.bucket);
            if (bound === undefined) assert.equal(r.sources, new Set(here.map((p) => p.source)).size);
            // Top sources from the stored summaries: what one ingest of all the packets would list.
            const truth = new Map<string, number>();
            for (const p of here)
              truth.set(addressText(p.source), (truth.get(addressText(p.source)) ?? 0) + 1);
            const expected = [...truth]
              .map(([address, packets]) => ({ address, packets, error: 0 }))
              .sort((x, y) => y.packets - x.packets || (x.address < y.address ? -1 : 1))
              .slice(0, 10);
            assert.deepEqual(r.topSources, expected);
          }
        },
        true,
      );
    });
  }
});

describe("DuckDbStore: ingest bookkeeping", () => {
  it("findIngest, committedBuckets, ingests and problems reflect the commits", async () => {
    const path = dbPath();
    const rows = aggregate(traffic([...Array(100).keys()], 3));
    await withStore(path, async (s) => {
      assert.equal(await s.findIngest("nope"), null);
      assert.deepEqual(await s.ingests(), []);
      const id = await s.startIngest(identity("fp", "cap.pcap"));
      let record = await s.findIngest("fp");
      assert.equal(record?.id, id);
      assert.equal(record?.complete, false);
      assert.equal(record?.packets, 0);
      assert.deepEqual(await s.committedBuckets(id), new Set());

      const problems = (from: number, count: number) =>
        Array.from({ length: count }, (_, i) => ({
          index: from + i,
          offset: 24 + (from + i) * 100,
          problem: `p${from + i}`,
        }));
      await s.commit(
        id,
        batch(rows.slice(0, 2), { packets: 10, problems: 300, newProblems: problems(0, 300) }),
      );
      record = await s.findIngest("fp");
      assert.equal(record?.packets, 10);
      assert.equal(record?.problems, 300);
      assert.equal(record?.buckets, 2);
      assert.equal(record?.complete, false);
      assert.deepEqual(await s.committedBuckets(id), new Set(rows.slice(0, 2).map((r) => `1h/${r.bucket}`)));

      // A second batch: the stored problem list is capped, the count is not.
      await s.commit(
        id,
        batch(rows.slice(2), { packets: 25, problems: 600, newProblems: problems(300, 300), complete: true }),
      );
      const stored = await s.problems(id);
      assert.equal(stored.length, 500);
      assert.deepEqual(stored, problems(0, 500));
      const [only] = await s.ingests();
      assert.deepEqual(
        { ...only, startedAt: undefined },
        {
          id,
          source: "cap.pcap",
          fingerprint: "fp",
          kind: "file",
          bucketSizes: ["1h"],
          startedAt: undefined,
          packets: 25,
          problems: 600,
          complete: true,
          buckets: rows.length,
        },
      );
      assert.ok(Math.abs(only!.startedAt.getTime() - Date.now()) < 3_600_000, "started now, in UTC");

      // A second ingest of the same fingerprint (--force): the newest one is found.
      const again = await s.startIngest(identity("fp", "copy.pcap"));
      assert.equal((await s.findIngest("fp"))?.id, again);
      assert.deepEqual(await s.problems(again), []);
      const live = await s.startIngest({
        source: "eth1",
        fingerprint: null,
        kind: "live",
        bucketSizes: ["1m"],
      });
      assert.deepEqual(
        (await s.ingests()).map((i) => [i.id, i.kind]),
        [
          [id, "file"],
          [again, "file"],
          [live, "live"],
        ],
      );
    });
  });

  it("a commit that fails part-way leaves nothing of its batch, and the store stays usable", async () => {
    const path = dbPath();
    const rows = aggregate(traffic([...Array(100).keys()], 3));
    const broken: BucketRow = { ...rows[2]!, ports: rows[2]!.ports.map((p) => ({ ...p })) };
    broken.ports[1]!.packets = Number.NaN; // BigInt(NaN) throws while the batch is being appended
    await withStore(path, async (s) => {
      const id = await s.startIngest(identity("fp"));
      await s.commit(id, batch(rows.slice(0, 1), { packets: 5 }));
      await assert.rejects(s.commit(id, batch([rows[1]!, broken], { packets: 9 })));
      await s.commit(id, batch([rows[3] ?? rows[2]!], { packets: 12 }));
    });
    await withStore(
      path,
      async (s) => {
        const ports = await s.portRows({ bucketSize: "1h" });
        const expected = [rows[0]!, rows[3] ?? rows[2]!].flatMap((r) => r.ports).sort(byStoreOrder);
        assert.deepEqual(ports, expected);
        const [record] = await s.ingests();
        assert.equal(record?.packets, 12);
        assert.equal(record?.buckets, 2);
      },
      true,
    );
  });
});

describe("openDuckDbStore: files that are not a store of this version", () => {
  it("a schema version other than this moat's is an InputError naming the file", async () => {
    const path = dbPath();
    await withStore(path, async () => undefined);
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(`UPDATE moat_meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema'`);
    connection.closeSync();
    instance.closeSync();
    for (const readOnly of [false, true]) {
      await assert.rejects(openDuckDbStore(path, { readOnly }), (error: unknown) => {
        assert.ok(error instanceof InputError);
        assert.ok(error.message.includes(path), error.message);
        assert.match(error.message, new RegExp(`version ${SCHEMA_VERSION + 1}`));
        return true;
      });
    }
  });

  it("a text file, a pcap or an empty file is an InputError naming it, and is left untouched", async () => {
    const text = join(dir, "notes.txt");
    writeFileSync(text, "these are my notes\n");
    const pcap = join(dir, "capture.pcap");
    copyFileSync(new URL("../observe/fixtures/ethernet.pcap", import.meta.url), pcap);
    const empty = join(dir, "empty.duckdb");
    writeFileSync(empty, "");
    for (const path of [text, pcap, empty]) {
      const before = readFileSync(path);
      for (const readOnly of [false, true]) {
        await assert.rejects(openDuckDbStore(path, { readOnly }), (error: unknown) => {
          assert.ok(error instanceof InputError, String(error));
          assert.ok(error.message.includes(path), error.message);
          assert.match(error.message, /not a moat observe store/);
          return true;
        });
      }
      assert.ok(readFileSync(path).equals(before), `${path} unchanged`);
    }
  });

  it("a DuckDB file of something else is refused, not written into", async () => {
    const path = dbPath();
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(
      "CREATE TABLE sales (day DATE, amount INTEGER); INSERT INTO sales VALUES ('2024-01-01', 3)",
    );
    connection.closeSync();
    instance.closeSync();
    for (const readOnly of [true, false]) {
      await assert.rejects(openDuckDbStore(path, { readOnly }), (error: unknown) => {
        assert.ok(error instanceof InputError, String(error));
        assert.ok(error.message.includes(path), error.message);
        return true;
      });
    }
    const check = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
    const c = await check.connect();
    const tables = (
      await c.runAndReadAll("SELECT table_name FROM information_schema.tables")
    ).getRowObjects();
    c.closeSync();
    check.closeSync();
    assert.deepEqual(
      tables.map((t) => t.table_name),
      ["sales"],
    );
  });

  it("a read-only open of a missing file says there is no such store, and creates nothing", async () => {
    const path = join(dir, "missing.duckdb");
    await assert.rejects(openDuckDbStore(path, { readOnly: true }), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, /no such store/);
      return true;
    });
    assert.throws(() => readFileSync(path), /ENOENT/);
  });
});

// ---- distinct-codec ----

/** Addresses: what the counters hold (the codec relies on them never containing a newline). */
/** Addresses as the aggregator holds them: IPv4 as integer keys, IPv6 as text. */
const arbAddresses = fc.array(fc.oneof(fc.ipV4(), fc.ipV6()).map(keyOfText), { maxLength: 60 });
const arbSketch = fc
  .integer({ min: MIN_PRECISION, max: 12 })
  .chain((precision) =>
    fc
      .uint8Array({ minLength: 1 << precision, maxLength: 1 << precision, max: 50 })
      .map((registers): DistinctState => ({ precision, registers })),
  );
const arbState: fc.Arbitrary<DistinctState> = fc.oneof(
  arbAddresses.map((exact): DistinctState => ({ exact })),
  arbSketch,
);

describe("distinct-codec", () => {
  it("decode(encode(state)) is the state (an exact set's values in any order)", () => {
    // IPv4 keys are stored before IPv6 texts: the set is the same, the order may not be.
    const canonical = (s: DistinctState | null) =>
      s !== null && "exact" in s
        ? { exact: [...s.exact].sort((a, b) => String(a).localeCompare(String(b))) }
        : s;
    fc.assert(
      fc.property(arbState, (state) => {
        assert.deepEqual(canonical(decodeDistinct(encodeDistinct(state))), canonical(state));
      }),
    );
  });

  it("a real counter's state, encoded and decoded, counts the same", () => {
    fc.assert(
      fc.property(arbAddresses, fc.integer({ min: 1, max: 64 }), (values, bound) => {
        const d = new Distinct({ bound, precision: 10 });
        for (const v of values) d.add(v);
        const back = decodeDistinct(encodeDistinct(d.toState()));
        assert.ok(back !== null);
        assert.equal(Distinct.fromState(back).count(), d.count());
      }),
    );
  });

  it("random bytes never throw: null, or a state a counter can be rebuilt from", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // Behind each format's tag byte, so the parsers past it are reached.
      fc
        .tuple(fc.constantFrom(2, 3), fc.nat(255), fc.uint8Array({ maxLength: 300 }))
        .map(([tag, p, rest]) => new Uint8Array([tag, p, ...rest])),
      // A valid precision and deflated bytes of any length.
      fc
        .tuple(fc.integer({ min: MIN_PRECISION, max: MAX_PRECISION }), fc.uint8Array({ maxLength: 5000 }))
        .map(([p, raw]) => new Uint8Array([2, p, ...deflateRawSync(raw)])),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const state = decodeDistinct(b);
        if (state !== null) Distinct.fromState(state).count();
      }),
    );
  });

  it("a truncated sketch is null", () => {
    fc.assert(
      fc.property(arbSketch, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (state, cut) => {
        const bytes = encodeDistinct(state);
        assert.equal(decodeDistinct(bytes.subarray(0, Math.floor(bytes.length * cut))), null);
      }),
    );
  });

  it("a truncated exact set is refused or keeps every IPv4 key and IPv6 prefixes, never more", () => {
    fc.assert(
      fc.property(
        arbAddresses,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (exact, cut) => {
          const bytes = encodeDistinct({ exact });
          const back = decodeDistinct(bytes.subarray(0, Math.floor(bytes.length * cut)));
          if (back === null) return;
          assert.ok("exact" in back);
          const v4 = (list: AddressKey[]) => list.filter((k) => typeof k === "number");
          const v6 = (list: AddressKey[]) => list.filter((k): k is string => typeof k === "string");
          assert.deepEqual(v4(back.exact), v4(exact));
          assert.ok(v6(back.exact).length <= v6(exact).length);
          for (const [i, v] of v6(back.exact).entries())
            assert.ok(v6(exact)[i]!.startsWith(v), `${v} of ${v6(exact)[i]}`);
        },
      ),
    );
  });

  it("an exact set whose IPv4 count exceeds its bytes is refused before anything is allocated", () => {
    const bogus = Buffer.from([3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
    assert.equal(decodeDistinct(bogus), null);
  });
});

describe("returnFreedMemory", () => {
  it("sets DuckDB's allocator to return freed memory at once, unless the user chose otherwise", () => {
    const env: NodeJS.ProcessEnv = {};
    returnFreedMemory(env);
    assert.equal(env.DUCKDB_JE_MALLOC_CONF, DUCKDB_ALLOCATOR_CONF);
    const chosen: NodeJS.ProcessEnv = { DUCKDB_JE_MALLOC_CONF: "dirty_decay_ms:5000" };
    returnFreedMemory(chosen);
    assert.equal(chosen.DUCKDB_JE_MALLOC_CONF, "dirty_decay_ms:5000");
  });
});
