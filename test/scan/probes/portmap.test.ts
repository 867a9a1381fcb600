import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { portmapProbe as probe } from "../../../src/scan/probes/portmap.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };

function u32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** An accepted SUCCESS reply (RFC 5531 section 9) with a pmaplist (RFC 1833 section 3). */
function reply(xid = 0x6d6f1234, entries: [number, number, number, number][] = DEFAULT): Buffer {
  const list = entries.map((e) => `00000001 ${e.map(u32).join(" ")}`).join(" ");
  return hex(`${u32(xid)} 00000001 00000000 00000000 00000000 00000000 ${list} 00000000`);
}
const DEFAULT: [number, number, number, number][] = [
  [100000, 4, 6, 111],
  [100000, 2, 17, 111],
  [100003, 3, 6, 2049],
  [100005, 3, 17, 20048],
  [395175, 1, 6, 40001],
];

describe("portmap probe", () => {
  it("builds an RPC CALL for PMAPPROC_DUMP with AUTH_NULL and the cookie in the xid", () => {
    const req = probe.request(cookie);
    assert.deepEqual(
      req,
      hex("6d6f1234 00000000 00000002 000186a0 00000002 00000004 00000000 00000000 00000000 00000000"),
    );
    assert.equal(req.length, 40);
  });

  it("matches replies to our xid only", () => {
    assert.equal(probe.match(reply(), cookie), true);
    assert.equal(probe.match(reply(0x6d6f1235), cookie), false);
    assert.equal(probe.match(reply(0x00001234), cookie), false, "high bits are ours too");
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a CALL is not a REPLY");
    assert.equal(probe.match(reply().subarray(0, 8), cookie), false);
  });

  it("lists the registered programs", () => {
    const r = probe.parse([reply()]);
    assert.ok(r);
    assert.deepEqual(r.fields.programs, [
      "100000 portmapper v4 tcp 111",
      "100000 portmapper v2 udp 111",
      "100003 nfs v3 tcp 2049",
      "100005 mountd v3 udp 20048",
      "395175 v1 tcp 40001",
    ]);
    assert.equal(r.fields.program_count, 5);
    assert.equal(r.fields.truncated, false);
    assert.equal(r.abusable, true);
  });

  it("caps the list and flags a reply cut short", () => {
    const many = Array.from({ length: 100 }, (_, i): [number, number, number, number] => [
      200000 + i,
      1,
      17,
      i,
    ]);
    const r = probe.parse([reply(0x6d6f1234, many)]);
    assert.ok(r);
    assert.equal((r.fields.programs as string[]).length, 64);
    assert.equal(r.fields.program_count, 100);
    const cut = probe.parse([reply().subarray(0, 24 + 20 * 2)]);
    assert.equal(cut?.fields.program_count, 2);
    assert.equal(cut?.fields.truncated, true);
  });

  it("skips a verifier body and reports refusals", () => {
    const withVerf = hex("6d6f1234 00000001 00000000 00000001 00000005 6162636465000000 00000000 00000000");
    assert.equal(probe.parse([withVerf])?.fields.program_count, 0);
    const unavail = probe.parse([hex("6d6f1234 00000001 00000000 00000000 00000000 00000001")]);
    assert.equal(unavail?.fields.accept_stat, "PROG_UNAVAIL");
    assert.equal(unavail?.abusable, false);
    const denied = probe.parse([hex("6d6f1234 00000001 00000001 00000001 00000005")]);
    assert.equal(denied?.fields.accept_stat, "MSG_DENIED AUTH_ERROR");
  });

  it("rejects a verifier length bomb and garbage list markers", () => {
    assert.equal(probe.parse([hex("6d6f1234 00000001 00000000 00000000 ffffffff 00000000")]), null);
    assert.equal(probe.parse([hex("6d6f1234 00000001 00000000 00000000 00000000 00000000 00000007")]), null);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [reply()], cookie);
  });
});
