import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dnsRecursionProbe as probe } from "../../../src/scan/probes/dns-recursion.js";
import { dnsResponse } from "./dns-builders.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 0xbeef, sourcePort: 40000 };
const query = probe.request(cookie);
const A = { type: 1, rdata: Buffer.from([93, 184, 215, 14]) };
/** Flags: QR RD RA = 0x8180 (+rcode); QR RD without RA = 0x8100; QR AA RD = 0x8500. */
const open = dnsResponse(query, { flags: 0x8180, answers: [A] });
const refused = dnsResponse(query, { flags: 0x8105 });
const servfail = dnsResponse(query, { flags: 0x8182 });

describe("dns-recursion probe", () => {
  it("sends a 29-byte RD=1 query for example.com A with the cookie as id", () => {
    assert.equal(query.toString("hex"), "beef01000001000000000000076578616d706c6503636f6d0000010001");
    assert.equal(query.length, 29);
  });

  it("matches responses to our id and question only", () => {
    assert.equal(probe.match(open, cookie), true);
    assert.equal(probe.match(open, { ...cookie, id: 0xbeee }), false, "wrong id");
    assert.equal(probe.match(query, cookie), false, "a query, not a response");
    assert.equal(probe.match(Buffer.alloc(0), cookie), false, "empty");
    assert.equal(probe.match(open.subarray(0, 11), cookie), false, "truncated header");
    assert.equal(probe.match(open.subarray(0, 20), cookie), false, "truncated question");
    const other = dnsResponse(
      Buffer.from("beef01000001000000000000076578616d706c65036f72670000010001", "hex"),
      { flags: 0x8180 },
    );
    assert.equal(probe.match(other, cookie), false, "another question (example.org)");
    const mixed = Buffer.from(open);
    mixed.write("ExAmPlE", 13, "ascii"); // DNS 0x20 case randomisation is still our name
    assert.equal(probe.match(mixed, cookie), true);
    // A REFUSED without the question section still counts.
    const bare = Buffer.from(refused.subarray(0, 12));
    bare.writeUInt16BE(0, 4);
    assert.equal(probe.match(bare, cookie), true);
  });

  it("an open resolver is abusable", () => {
    const r = probe.parse([open]);
    assert.ok(r);
    assert.deepEqual(r.fields, {
      rcode: "NOERROR",
      ra: true,
      aa: false,
      answers: 1,
      addresses: ["93.184.215.14"],
    });
    assert.equal(r.abusable, true);
    assert.match(r.note, /Open resolver/);
    const nx = probe.parse([dnsResponse(query, { flags: 0x8183 })]);
    assert.equal(nx?.abusable, true);
  });

  it("REFUSED or no RA is not open; SERVFAIL with RA is", () => {
    const r = probe.parse([refused]);
    assert.ok(r);
    assert.equal(r.fields.rcode, "REFUSED");
    assert.equal(r.abusable, false);
    assert.equal(probe.parse([dnsResponse(query, { flags: 0x8100 })])?.abusable, false);
    const sf = probe.parse([servfail]);
    assert.equal(sf?.abusable, true);
    assert.match(sf?.note ?? "", /SERVFAIL/);
    // Authoritative answer without RA: not evidence of recursion.
    assert.equal(probe.parse([dnsResponse(query, { flags: 0x8500, answers: [A] })])?.abusable, false);
    // Answer from cache without RA: still hands out answers to strangers.
    assert.equal(probe.parse([dnsResponse(query, { flags: 0x8100, answers: [A] })])?.abusable, true);
  });

  it("reads a truncated (TC) reply's header", () => {
    const tc = dnsResponse(query, { flags: 0x8380, answers: [A, A] }).subarray(0, 40);
    const r = probe.parse([tc]);
    assert.equal(r?.fields.ra, true);
    assert.equal(probe.parse([]), null);
    assert.equal(probe.parse([Buffer.from([1, 2, 3])]), null);
  });

  robustnessProperties(probe, cookie, [open, refused, servfail]);
});
