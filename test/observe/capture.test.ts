import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { openCapture, readCaptureBuffer } from "../../src/observe/capture/open.js";
import {
  fixture,
  hasTcpdump,
  micros,
  readAll,
  readBuffer,
  readFile,
  tcpdumpLines,
} from "./capture-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "moat-capture-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const write = (name: string, bytes: Buffer): string => {
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  return path;
};

const PCAPS = [
  "ethernet.pcap",
  "ethernet-nano.pcap",
  "snaplen64.pcap",
  "cooked-sll.pcap",
  "cooked-sll2.pcap",
  "rawip.pcap",
];

/** Rewrite a little-endian pcap as big-endian (no tool on x86 writes one). */
function toBigEndian(le: Buffer): Buffer {
  const be = Buffer.from(le);
  be.writeUInt32BE(le.readUInt32LE(0), 0);
  be.writeUInt16BE(le.readUInt16LE(4), 4);
  be.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const at of [8, 12, 16, 20]) be.writeUInt32BE(le.readUInt32LE(at), at);
  for (let at = 24; at + 16 <= le.length; ) {
    for (let field = 0; field < 16; field += 4) be.writeUInt32BE(le.readUInt32LE(at + field), at + field);
    at += 16 + le.readUInt32LE(at + 8);
  }
  return be;
}

describe("capture readers on the lab fixtures", () => {
  const expected: Record<string, { format: string; packets: number; linkTypes: number[] }> = {
    "ethernet.pcap": { format: "pcap", packets: 71, linkTypes: [1] },
    "ethernet-nano.pcap": { format: "pcap", packets: 6, linkTypes: [1] },
    "snaplen64.pcap": { format: "pcap", packets: 29, linkTypes: [1] },
    "cooked-sll.pcap": { format: "pcap", packets: 40, linkTypes: [113] },
    "cooked-sll2.pcap": { format: "pcap", packets: 40, linkTypes: [276] },
    "rawip.pcap": { format: "pcap", packets: 6, linkTypes: [101] },
    "ethernet.pcapng": { format: "pcapng", packets: 71, linkTypes: [1] },
    "ethernet-nano.pcapng": { format: "pcapng", packets: 6, linkTypes: [1] },
    "merged.pcapng": { format: "pcapng", packets: 46, linkTypes: [1, 113] },
    "two-sections.pcapng": { format: "pcapng", packets: 52, linkTypes: [1, 113] },
    "ethernet.pcap.gz": { format: "pcap", packets: 71, linkTypes: [1] },
  };
  for (const [name, want] of Object.entries(expected)) {
    it(`${name}: ${want.packets} packets, no problems`, async () => {
      const { records, summary } = await readFile(name);
      assert.equal(summary.format, want.format);
      assert.equal(summary.packets, want.packets);
      assert.deepEqual(summary.problems, []);
      assert.deepEqual([...new Set(records.map((r) => r.linkType))].sort(), want.linkTypes);
      assert.deepEqual(
        records.map((r) => r.index),
        records.map((_, i) => i),
      );
      for (const record of records) assert.ok(record.wireLength >= record.data.length);
    });
  }

  // Not merged.pcapng: libpcap refuses a pcapng whose interfaces have different link types.
  for (const name of [...PCAPS, "ethernet.pcapng"]) {
    it(`${name}: times and lengths agree with tcpdump -nr -tt`, {
      skip: !hasTcpdump() && "no tcpdump",
    }, async () => {
      const { records } = await readFile(name);
      const lines = tcpdumpLines(fixture(name));
      assert.equal(records.length, lines.length);
      records.forEach((record, i) => {
        assert.equal(record.timeMicros, micros(lines[i]!.split(" ")[0]!), `packet ${i}`);
      });
    });
  }

  it("the pcapng copies carry the same packets as their pcap", async () => {
    for (const [pcap, pcapng] of [
      ["ethernet.pcap", "ethernet.pcapng"],
      ["ethernet-nano.pcap", "ethernet-nano.pcapng"],
      ["ethernet.pcap", "ethernet.pcap.gz"],
    ] as const) {
      const a = await readFile(pcap);
      const b = await readFile(pcapng);
      assert.deepEqual(
        b.records.map((r) => [r.timeMicros, r.linkType, r.wireLength, r.data.toString("hex")]),
        a.records.map((r) => [r.timeMicros, r.linkType, r.wireLength, r.data.toString("hex")]),
        `${pcap} vs ${pcapng}`,
      );
    }
  });

  it("nanosecond stamps become microseconds (pcap magic a1b23c4d and pcapng if_tsresol 9)", async () => {
    const raw = readFileSync(fixture("ethernet-nano.pcap"));
    assert.equal(raw.readUInt32LE(0), 0xa1b23c4d);
    const { records } = await readFile("ethernet-nano.pcap");
    const nanos = raw.readUInt32LE(24 + 4);
    assert.equal(records[0]!.timeMicros, raw.readUInt32LE(24) * 1e6 + Math.floor(nanos / 1000));
  });

  it("a big-endian pcap reads the same as the little-endian original", async () => {
    const le = readFileSync(fixture("ethernet.pcap"));
    const be = toBigEndian(le);
    assert.equal(be.readUInt32BE(0), 0xa1b2c3d4);
    const a = await readBuffer(le);
    const b = await readBuffer(be);
    assert.deepEqual(
      b.records.map((r) => [r.timeMicros, r.wireLength, r.data.toString("hex")]),
      a.records.map((r) => [r.timeMicros, r.wireLength, r.data.toString("hex")]),
    );
  });

  it("records spanning chunk boundaries come out whole, whatever the chunk size", async () => {
    for (const name of ["ethernet.pcap", "two-sections.pcapng"]) {
      const bytes = readFileSync(fixture(name));
      const whole = await readBuffer(bytes);
      for (const chunk of [1, 7, 64, 1000, 4096]) {
        const pieces = await readBuffer(bytes, chunk);
        assert.deepEqual(pieces.summary.problems, []);
        assert.deepEqual(
          pieces.records.map((r) => r.data.toString("hex")),
          whole.records.map((r) => r.data.toString("hex")),
          `${name} in chunks of ${chunk}`,
        );
      }
    }
  });

  it("data is a view into the read chunk, not a copy", async () => {
    const bytes = readFileSync(fixture("ethernet.pcap"));
    const reader = readCaptureBuffer(bytes);
    const record = reader.next() ?? ((await reader.fill()) ? reader.next() : null);
    assert.ok(record);
    assert.equal(record.data.buffer, bytes.buffer);
    assert.equal(record.data.byteOffset, bytes.byteOffset + 24 + 16);
  });
});

describe("bad input", () => {
  it("an empty file is an InputError naming it", async () => {
    const path = write("empty.pcap", Buffer.alloc(0));
    await assert.rejects(openCapture(path), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /empty\.pcap.*empty/);
      return true;
    });
  });

  it("an empty gzip is an InputError", async () => {
    await assert.rejects(openCapture(write("empty.pcap.gz", gzipSync(Buffer.alloc(0)))), InputError);
  });

  it("a missing file is an InputError", async () => {
    await assert.rejects(openCapture(join(scratch, "nope.pcap")), InputError);
  });

  it("an unknown magic names the file and its first bytes", async () => {
    const path = write("text.pcap", Buffer.from("GET / HTTP/1.1\r\n"));
    await assert.rejects(openCapture(path), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /text\.pcap/);
      assert.match(error.message, /47 45 54 20 2f 20 48 54/);
      assert.equal(error.place?.offset, 0);
      return true;
    });
  });

  it("truncation at every offset: a prefix of the packets, a problem when cut mid-record, never a throw", async () => {
    for (const name of ["snaplen64.pcap", "two-sections.pcapng"]) {
      const bytes = readFileSync(fixture(name));
      const whole = await readBuffer(bytes);
      // Offsets where a record ends: cutting there is a clean end.
      const ends = new Set(whole.records.map((r) => r.data.byteOffset - bytes.byteOffset + r.data.length));
      for (let cut = 1; cut < 4; cut++)
        assert.throws(() => readCaptureBuffer(bytes.subarray(0, cut)), InputError);
      for (let cut = 4; cut < bytes.length; cut++) {
        const { records, summary } = await readBuffer(bytes.subarray(0, cut), 512);
        assert.ok(records.length <= whole.records.length);
        records.forEach((r, i) => {
          assert.ok(r.data.equals(whole.records[i]!.data), `${name} cut ${cut}`);
        });
        if (name.endsWith(".pcap") && !ends.has(cut) && cut !== 24) {
          assert.equal(summary.problemCount, 1, `${name} cut at ${cut}`);
          assert.equal(summary.problems[0]!.index, records.length);
          assert.match(summary.problems[0]!.problem, /truncated/);
        }
      }
    }
  });

  it("a truncated gzip gives the packets before the cut and a problem", async () => {
    const gz = readFileSync(fixture("ethernet.pcap.gz"));
    const path = write("cut.pcap.gz", gz.subarray(0, Math.floor(gz.length * 0.6)));
    const { records, summary } = await readAll(await openCapture(path));
    assert.ok(records.length > 0 && records.length < 71);
    assert.ok(summary.problemCount >= 1);
  });

  it("a bogus pcap record length stops the reader with the packet index and offset", async () => {
    const bytes = Buffer.from(readFileSync(fixture("ethernet.pcap")));
    const whole = await readBuffer(bytes);
    const third = whole.records[3]!.offset;
    bytes.writeUInt32LE(0x7fffffff, third + 8);
    const { records, summary } = await readBuffer(bytes);
    assert.equal(records.length, 3);
    assert.deepEqual(summary.problems, [
      { index: 3, offset: third, problem: "captured length 2147483647 is larger than 256 KiB" },
    ]);
  });

  it("a pcap record longer than the rest of the file is a truncated end", async () => {
    const bytes = Buffer.from(readFileSync(fixture("ethernet.pcap")));
    const whole = await readBuffer(bytes);
    const last = whole.records.at(-1)!;
    bytes.writeUInt32LE(200_000, last.offset + 8);
    const { records, summary } = await readBuffer(bytes);
    assert.equal(records.length, whole.records.length - 1);
    assert.equal(summary.problems[0]!.index, whole.records.length - 1);
    assert.match(summary.problems[0]!.problem, /truncated/);
  });

  it("pcapng: unknown and oversized blocks are skipped, a bad packet block is counted and skipped", async () => {
    const bytes = readFileSync(fixture("ethernet-nano.pcapng"));
    const whole = await readBuffer(bytes);
    const firstPacket = whole.records[0]!.offset;
    const custom = Buffer.alloc(20);
    custom.writeUInt32LE(0x0bad, 0);
    custom.writeUInt32LE(20, 4);
    custom.writeUInt32LE(20, 16);
    const big = Buffer.alloc(2 << 20);
    big.writeUInt32LE(0x0bad, 0);
    big.writeUInt32LE(big.length, 4);
    big.writeUInt32LE(big.length, big.length - 4);
    const badPacket = Buffer.from(bytes.subarray(firstPacket, whole.records[1]!.offset));
    badPacket.writeUInt32LE(9, 8); // interface 9 was never declared
    const edited = Buffer.concat([
      bytes.subarray(0, firstPacket),
      custom,
      big,
      badPacket,
      bytes.subarray(firstPacket),
    ]);
    for (const chunk of [100, 1 << 20]) {
      const { records, summary } = await readBuffer(edited, chunk);
      assert.equal(records.length, 6);
      assert.deepEqual(
        summary.problems.map((p) => [p.index, p.problem]),
        [[0, "packet on undeclared interface 9"]],
      );
      assert.deepEqual(
        records.map((r) => r.index),
        [1, 2, 3, 4, 5, 6],
      );
    }
  });

  it("pcapng: a block length that is not a multiple of 4, or disagrees with its trailer, stops cleanly", async () => {
    const bytes = readFileSync(fixture("ethernet-nano.pcapng"));
    const whole = await readBuffer(bytes);
    const at = whole.records[2]!.offset;
    const odd = Buffer.from(bytes);
    odd.writeUInt32LE(odd.readUInt32LE(at + 4) + 2, at + 4);
    const a = await readBuffer(odd);
    assert.equal(a.records.length, 2);
    assert.equal(a.summary.problems[0]!.index, 2);
    assert.equal(a.summary.problems[0]!.offset, at);
    const longer = Buffer.from(bytes);
    longer.writeUInt32LE(longer.readUInt32LE(at + 4) + 4, at + 4);
    const b = await readBuffer(longer);
    assert.equal(b.records.length, 2);
    assert.match(b.summary.problems[0]!.problem, /trailing/);
  });

  it("fuzz: random bytes behind a valid magic never throw and always end", async () => {
    const magics = [
      Buffer.from("d4c3b2a1", "hex"),
      Buffer.from("a1b2c3d4", "hex"),
      Buffer.from("4d3cb2a1", "hex"),
      Buffer.from("0a0d0d0a", "hex"),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...magics),
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.integer({ min: 1, max: 700 }),
        async (magic, rest, chunk) => {
          const { records, summary } = await readBuffer(Buffer.concat([magic, rest]), chunk);
          assert.ok(records.length <= rest.length);
          assert.ok(summary.problems.length <= summary.problemCount);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("fuzz: bit flips and overwritten lengths in real captures never throw; problems carry index and offset", async () => {
    const files = ["ethernet.pcap", "two-sections.pcapng"].map((name) => readFileSync(fixture(name)));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.tuple(fc.nat(), fc.constantFrom(0, 0xffffffff, 0x40001, 13, 3))),
        async (file, flips, length) => {
          const bytes = Buffer.from(file);
          // Past the magic: a wrong magic is an InputError, tested above.
          for (const [at, bit] of flips) bytes[4 + (at % (bytes.length - 4))]! ^= 1 << bit;
          if (length) bytes.writeUInt32LE(length[1], 4 + (length[0] % ((bytes.length >> 2) - 1)) * 4);
          const { summary } = await readBuffer(bytes, 997);
          for (const problem of summary.problems) {
            assert.ok(Number.isInteger(problem.index) && problem.index >= 0);
            assert.ok(problem.offset >= 0 && problem.offset <= bytes.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
