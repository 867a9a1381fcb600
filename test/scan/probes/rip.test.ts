import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ripProbe as probe } from "../../../src/scan/probes/rip.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };

/** RIPv1 response (RFC 1058 section 3.1): 10.0.0.0 metric 1, 192.168.5.0 metric 2. */
const V1 = hex(`
  02 01 0000
  0002 0000 0a000000 00000000 00000000 00000001
  0002 0000 c0a80500 00000000 00000000 00000002`);
/** RIPv2 response (RFC 2453 section 4) with an authentication entry, masks and next hops. */
const V2 = hex(`
  02 02 0000
  ffff 0002 ${Buffer.from("secretsecret1234").toString("hex")}
  0002 0000 0a010000 ffff0000 00000000 00000003
  0002 0007 c6336400 ffffff00 c0000201 00000010`);

describe("rip probe", () => {
  it("builds the RFC 1058 whole-table request", () => {
    const req = probe.request(cookie);
    assert.deepEqual(req, hex("01 01 0000 0000 0000 00000000 00000000 00000000 00000010"));
    assert.equal(req.length, 24);
  });

  it("matches well-formed responses only", () => {
    assert.equal(probe.match(V1, cookie), true);
    assert.equal(probe.match(V2, cookie), true);
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a request is not a response");
    assert.equal(probe.match(V1.subarray(0, V1.length - 1), cookie), false, "partial entry");
    assert.equal(probe.match(V1.subarray(0, 4), cookie), false, "no entries");
    assert.equal(
      probe.match(hex("02 01 0000 0002 0000 0a000000 00000000 00000000 00000011"), cookie),
      false,
      "metric 17",
    );
    assert.equal(
      probe.match(hex("02 01 0000 0002 0000 0a000000 ffffff00 00000000 00000001"), cookie),
      false,
      "v1 mbz",
    );
    assert.equal(
      probe.match(hex("02 03 0000 0002 0000 0a000000 00000000 00000000 00000001"), cookie),
      false,
      "version 3",
    );
    assert.equal(
      probe.match(Buffer.concat([hex("02010000"), Buffer.alloc(26 * 20)]), cookie),
      false,
      "26 entries",
    );
  });

  it("counts and lists routes across datagrams", () => {
    const r = probe.parse([V1, V2]);
    assert.ok(r);
    assert.equal(r.fields.version, 1);
    assert.equal(r.fields.route_count, 4);
    assert.deepEqual(r.fields.routes, [
      "10.0.0.0 metric 1",
      "192.168.5.0 metric 2",
      "10.1.0.0/16 metric 3",
      "198.51.100.0/24 metric 16",
    ]);
    assert.equal(r.fields.datagrams, 2);
    assert.equal(r.abusable, true);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [V1, V2], cookie);
  });
});
