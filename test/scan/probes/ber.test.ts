import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  BER,
  descend,
  encodeInteger,
  encodeOid,
  readChildren,
  readInteger,
  readOid,
  readTlv,
  tlv,
} from "../../../src/scan/probes/ber.js";

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ""), "hex");

describe("BER", () => {
  it("encodes INTEGERs minimally in two's complement (X.690 8.3)", () => {
    const cases: [number, string][] = [
      [0, "020100"],
      [127, "02017f"],
      [128, "02020080"],
      [256, "02020100"],
      [0x8000, "0203008000"],
      [-1, "0201ff"],
      [-128, "020180"],
      [-129, "0202ff7f"],
    ];
    for (const [n, h] of cases) assert.equal(encodeInteger(n).toString("hex"), h, String(n));
  });

  it("encodes OIDs and long lengths", () => {
    assert.equal(encodeOid("1.3.6.1.2.1.1.1.0").toString("hex"), "06082b06010201010100");
    assert.equal(encodeOid("1.2.840.113549").toString("hex"), "06062a864886f70d");
    assert.equal(tlv(0x04, Buffer.alloc(200)).subarray(0, 3).toString("hex"), "0481c8");
    assert.equal(tlv(0x04, Buffer.alloc(300)).subarray(0, 4).toString("hex"), "0482012c");
  });

  it("round-trips integers and OIDs", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (n) => {
        const b = encodeInteger(n);
        assert.equal(readInteger(b, readTlv(b, 0)!), n);
      }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { maxLength: 12 }),
        (a, rest) => {
          const dotted = [a, a < 2 ? 39 : 1000, ...rest].join(".");
          const b = encodeOid(dotted);
          assert.equal(readOid(b, readTlv(b, 0)!), dotted);
        },
      ),
    );
  });

  it("reads TLVs with both length forms and the high tag number form", () => {
    const t = readTlv(hex("04 82 00 03 61 62 63"), 0);
    assert.deepEqual(t && { ...t }, {
      tagClass: 0,
      constructed: false,
      tagNumber: 4,
      tagByte: 4,
      start: 0,
      valueStart: 4,
      end: 7,
    });
    const high = readTlv(hex("9f 81 00 01 ff"), 0); // context class, tag number 128
    assert.equal(high?.tagNumber, 128);
    assert.equal(high?.tagClass, 2);
  });

  it("refuses indefinite, overlong and overrunning lengths", () => {
    assert.equal(readTlv(hex("30 80 02 01 00 00 00"), 0), null, "indefinite");
    assert.equal(readTlv(hex("04 85 01 00 00 00 00"), 0), null, "5 length octets");
    assert.equal(readTlv(hex("04 84 ff ff ff ff 00"), 0), null, "4 GiB declared");
    assert.equal(readTlv(hex("04 05 61"), 0), null, "runs past the buffer");
    assert.equal(readTlv(hex("30 03 04 05 61"), 2, 5), null, "runs past the parent");
    assert.equal(readTlv(hex("1f ff ff ff ff ff 01 00"), 0), null, "endless tag number");
    assert.equal(readTlv(hex("04"), 0), null);
    assert.equal(readTlv(Buffer.alloc(0), 0), null);
    assert.equal(readTlv(hex("0400"), -1), null);
  });

  it("walks children and paths, refusing malformed children", () => {
    const b = tlv(BER.sequence, [encodeInteger(1), tlv(BER.sequence, [encodeOid("1.3.6")])]);
    const root = readTlv(b, 0)!;
    assert.equal(readChildren(b, root)?.length, 2);
    const oid = descend(b, root, [
      { index: 1, tag: BER.sequence },
      { index: 0, tag: BER.oid },
    ]);
    assert.equal(oid && readOid(b, oid), "1.3.6");
    assert.equal(descend(b, root, [{ index: 1, tag: BER.integer }]), null);
    assert.equal(descend(b, root, [{ index: 5 }]), null);
    const broken = hex("30 04 02 01 00 05");
    assert.equal(readChildren(broken, readTlv(broken, 0)!), null);
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 }), (bytes, at) => {
        const b = Buffer.from(bytes);
        const t = readTlv(b, at);
        if (t === null) return;
        assert.ok(t.end <= b.length && t.valueStart <= t.end);
        readChildren(b, t);
        readInteger(b, t);
        readOid(b, t);
        descend(b, t, [{ index: 0 }, { index: 0 }, { index: 1 }]);
      }),
      { numRuns: 2000 },
    );
  });
});
