import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { coapProbe as probe } from "../../../src/scan/probes/coap.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const a = (s: string) => Buffer.from(s, "ascii").toString("hex");
const LINKS =
  '</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor",</.well-known/core>';

/** Piggybacked 2.05 Content in an ACK (RFC 7252 section 5.2.1), Content-Format 40 (link-format). */
const PIGGYBACKED = hex(`62 45 1234 1234 c1 28 ff ${a(LINKS)}`);
/** Separate response (section 5.2.2): empty ACK first, then a CON with a new message id and our token. */
const EMPTY_ACK = hex("60 00 1234");
const SEPARATE = hex(`42 45 7777 1234 c1 28 ff ${a(LINKS)}`);

describe("coap probe", () => {
  it("builds a CON GET /.well-known/core with the cookie as message id and token", () => {
    const req = probe.request(cookie);
    assert.deepEqual(req, hex(`42 01 1234 1234 bb ${a(".well-known")} 04 ${a("core")}`));
    assert.equal(req.length, 23);
  });

  it("matches ACK/RST by message id and separate responses by token", () => {
    assert.equal(probe.match(PIGGYBACKED, cookie), true);
    assert.equal(probe.match(EMPTY_ACK, cookie), true);
    assert.equal(probe.match(SEPARATE, cookie), true);
    assert.equal(probe.match(hex("70 00 1234"), cookie), true, "RST");
    assert.equal(probe.match(hex("60 00 1235"), cookie), false, "wrong message id");
    assert.equal(probe.match(hex(`62 45 1234 1235 ff ${a(LINKS)}`), cookie), false, "wrong token");
    assert.equal(probe.match(hex(`42 45 7777 1235 ff ${a(LINKS)}`), cookie), false, "wrong token");
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a request is not a response");
    assert.equal(probe.match(hex("a0 00 1234"), cookie), false, "version 2");
    assert.equal(probe.match(hex("62 45 12"), cookie), false);
  });

  it("parses the link-format resources", () => {
    for (const replies of [[PIGGYBACKED], [EMPTY_ACK, SEPARATE]]) {
      const r = probe.parse(replies);
      assert.ok(r);
      assert.equal(r.fields.code, "2.05");
      assert.deepEqual(r.fields.resources, ["/sensors/temp", "/sensors/light", "/.well-known/core"]);
      assert.equal(r.fields.content_format, 40);
      assert.equal(r.fields.more_blocks, false);
      assert.equal(r.abusable, true);
    }
  });

  it("reads extended option deltas and the Block2 more flag", () => {
    // Content-Format (12), then Block2 (23 = 12 + 11): NUM 0, M 1, SZX 2.
    const r = probe.parse([hex(`62 45 1234 1234 c1 28 b1 0a ff ${a("</a>")}`)]);
    assert.equal(r?.fields.more_blocks, true);
    // Option 300 via a 2-byte extended delta (14: 269 + 31), then payload.
    const ext = probe.parse([hex(`62 45 1234 1234 e1 001f 00 ff ${a("</b>")}`)]);
    assert.deepEqual(ext?.fields.resources, ["/b"]);
  });

  it("reports errors, resets and a lone ACK as present but not reflecting", () => {
    assert.equal(probe.parse([hex("62 84 1234 1234")])?.fields.code, "4.04");
    assert.equal(probe.parse([hex("62 84 1234 1234")])?.abusable, false);
    assert.equal(probe.parse([hex("70 00 1234")])?.fields.code, "RST");
    assert.equal(probe.parse([EMPTY_ACK])?.abusable, false);
    assert.equal(probe.parse([hex("62 45 1234 1234 f1 00")]), null, "reserved option nibble");
    assert.equal(probe.parse([hex("62 45 1234 1234 ff")]), null, "marker without payload");
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [PIGGYBACKED, EMPTY_ACK, SEPARATE], cookie);
  });
});
