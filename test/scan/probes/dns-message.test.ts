import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  DNS_TYPE,
  decodeMessage,
  encodeName,
  encodeQuery,
  queryTemplate,
  readName,
  readTxt,
} from "../../../src/scan/probes/dns-message.js";
import { dnsResponse } from "./dns-builders.js";

describe("DNS message codec", () => {
  it("encodes a recursive query as dig sends it (without EDNS and AD)", () => {
    const q = encodeQuery({ id: 0x1234, name: "example.com", type: DNS_TYPE.A, rd: true });
    assert.equal(q.toString("hex"), "123401000001000000000000076578616d706c6503636f6d0000010001");
  });

  it("a query template gives, for every id, the query encodeQuery gives", () => {
    const q = { name: "version.bind", type: DNS_TYPE.TXT, class: 3 };
    const query = queryTemplate(q);
    for (let id = 0; id <= 0xffff; id++) {
      const sent = query(id);
      if (!sent.equals(encodeQuery({ ...q, id }))) assert.fail(`id ${id}: ${sent.toString("hex")}`);
    }
    assert.equal(query(0x10000 + 7).readUInt16BE(0), 7, "ids wrap to 16 bits as encodeQuery's do");
  });

  it("decodes a response with a compressed answer", () => {
    const q = encodeQuery({ id: 7, name: "example.com", type: DNS_TYPE.A, rd: true });
    const r = dnsResponse(q, {
      flags: 0x8180,
      answers: [{ type: DNS_TYPE.A, rdata: Buffer.from([93, 184, 215, 14]) }],
    });
    const m = decodeMessage(r);
    assert.ok(m);
    assert.equal(m.header.id, 7);
    assert.equal(m.header.ra, true);
    assert.deepEqual(m.questions, [{ name: "example.com", type: 1, class: 1 }]);
    assert.equal(m.answers[0]?.name, "example.com");
    assert.deepEqual([...m.answers[0]!.rdata], [93, 184, 215, 14]);
    assert.equal(m.answers[0]?.ttl, 300);
  });

  it("rejects pointer loops, forward pointers and overlong names", () => {
    const head = Buffer.alloc(12);
    assert.equal(readName(Buffer.concat([head, Buffer.from([0xc0, 12])]), 12), null, "self pointer");
    assert.equal(readName(Buffer.concat([head, Buffer.from([0xc0, 14, 0])]), 12), null, "forward pointer");
    // Two labels pointing at each other: the second points back at the first, which points forward.
    const loop = Buffer.concat([head, Buffer.from([1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12])]);
    assert.equal(readName(loop, 16), null);
    const long = Buffer.concat([
      head,
      ...Array.from({ length: 5 }, () => Buffer.from([63, ...Buffer.alloc(63, 0x61)])),
      Buffer.from([0]),
    ]);
    assert.equal(readName(long, 12), null, "over 255 octets");
    assert.equal(readName(Buffer.from([0x40]), 0), null, "reserved label type");
    assert.throws(() => encodeName("a".repeat(64)));
  });

  it("follows a long chain of backward pointers within bounds", () => {
    // label "a" at 12, then 300 pointers each pointing at the previous one.
    const parts = [Buffer.alloc(12), Buffer.from([1, 0x61, 0])];
    for (let i = 0; i < 300; i++) {
      const prev = 12 + (i === 0 ? 0 : 3 + (i - 1) * 2);
      parts.push(Buffer.from([0xc0 | (prev >> 8), prev & 0xff]));
    }
    const msg = Buffer.concat(parts);
    assert.equal(readName(msg, 15)?.name, "a");
    // Past the 255-step cap the name is refused rather than followed.
    assert.equal(readName(msg, msg.length - 2), null);
  });

  it("refuses record counts the message cannot hold", () => {
    const q = encodeQuery({ id: 1, name: "a", type: 1 });
    const r = Buffer.from(q);
    r.writeUInt16BE(0xffff, 6);
    assert.equal(decodeMessage(r), null);
  });

  it("escapes dots and odd bytes inside labels so names cannot be forged", () => {
    const msg = Buffer.concat([Buffer.alloc(12), Buffer.from([3, 0x61, 0x2e, 0x00, 0])]);
    assert.equal(readName(msg, 12)?.name, "a\\.\\000");
  });

  it("reads TXT character-strings and refuses overruns", () => {
    assert.deepEqual(readTxt(Buffer.from([2, 0x68, 0x69, 1, 0x21])), ["hi", "!"]);
    assert.equal(readTxt(Buffer.from([5, 0x68])), null);
  });

  it("never throws and finishes on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 600 }), (bytes, at) => {
        const b = Buffer.from(bytes);
        decodeMessage(b);
        readName(b, at);
      }),
      { numRuns: 2000 },
    );
  });
});
