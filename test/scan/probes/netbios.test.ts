import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { netbiosProbe as probe } from "../../../src/scan/probes/netbios.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const STAR = `20 434b${"41".repeat(30)} 00`;

function entry(name: string, suffix: number, flags: number): string {
  return Buffer.from(name.padEnd(15, " "), "latin1").toString("hex") + hex2(suffix, 1) + hex2(flags, 2);
}
function hex2(n: number, bytes: number): string {
  return n.toString(16).padStart(bytes * 2, "0");
}

/** A Samba-style node status response (RFC 1002, 4.2.18): three names, MAC, 40 bytes of statistics. */
function reply(id = 0x1234, flags = 0x8400): Buffer {
  const names = [
    entry("FILESERVER", 0x00, 0x0400),
    entry("FILESERVER", 0x20, 0x0400),
    entry("WORKGROUP", 0x00, 0x8400),
  ];
  const rdata = `03${names.join("")} 000c29aabbcc ${"00".repeat(40)}`;
  const rdLength = hex(rdata).length;
  return hex(
    `${hex2(id, 2)} ${hex2(flags, 2)} 0000 0001 0000 0000 ${STAR} 0021 0001 00000000 ${hex2(rdLength, 2)} ${rdata}`,
  );
}

describe("netbios probe", () => {
  it("builds the RFC 1002 NBSTAT query for *", () => {
    const req = probe.request(cookie);
    assert.deepEqual(req, hex(`1234 0000 0001 0000 0000 0000 ${STAR} 0021 0001`));
    assert.equal(req.length, 50);
  });

  it("matches only a response to our transaction id", () => {
    assert.equal(probe.match(reply(), cookie), true);
    assert.equal(probe.match(reply(0x1235), cookie), false);
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a query is not a response");
    assert.equal(probe.match(reply(0x1234, 0xa400), cookie), false, "opcode 4 is a registration");
    assert.equal(probe.match(reply().subarray(0, 11), cookie), false);
  });

  it("parses names, MAC and host name", () => {
    const r = probe.parse([reply()]);
    assert.ok(r);
    assert.deepEqual(r.fields.names, ["FILESERVER<00>", "FILESERVER<20>", "WORKGROUP<00> group"]);
    assert.equal(r.fields.mac, "00:0c:29:aa:bb:cc");
    assert.equal(r.fields.hostname, "FILESERVER");
    assert.equal(r.abusable, true);
  });

  it("parses a reply whose statistics block is cut short, but not one cut inside the names", () => {
    const full = reply();
    assert.ok(probe.parse([full.subarray(0, full.length - 40)]));
    assert.equal(probe.parse([full.subarray(0, 12 + 34 + 10 + 1 + 30)]), null);
  });

  it("returns null for a negative response with no answer", () => {
    assert.equal(probe.parse([hex("1234 8403 0000 0000 0000 0000")]), null);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [reply()], cookie);
    // A name count of 255 with nothing behind it, and a pointer as the record name.
    checkUdpRobust(probe, [hex(`1234 8400 0000 0001 0000 0000 c00c 0021 0001 00000000 ffff ff`)], cookie, 50);
  });
});
