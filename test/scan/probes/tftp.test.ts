import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tftpProbe as probe } from "../../../src/scan/probes/tftp.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const a = (s: string) => Buffer.from(s, "ascii").toString("hex");
/** tftpd-hpa's answer to a missing file (RFC 1350, ERROR packet, code 1). */
const NOT_FOUND = hex(`0005 0001 ${a("File not found")} 00`);
const DATA = Buffer.concat([hex("0003 0001"), Buffer.alloc(512, 0x41)]);

describe("tftp probe", () => {
  it("builds an RFC 1350 RRQ in octet mode for a harmless name", () => {
    const req = probe.request(cookie);
    assert.deepEqual(req, hex(`0001 ${a("moat-probe")} 00 ${a("octet")} 00`));
    assert.equal(req.length, 19);
  });

  it("matches ERROR and first DATA packets by shape", () => {
    assert.equal(probe.match(NOT_FOUND, cookie), true);
    assert.equal(probe.match(DATA, cookie), true);
    assert.equal(probe.match(hex("0003 0002 41"), cookie), false, "not the first block");
    assert.equal(probe.match(Buffer.concat([DATA, Buffer.from("x")]), cookie), false, "block over 512");
    assert.equal(probe.match(hex("0005 0063 00"), cookie), false, "unknown error code");
    assert.equal(probe.match(probe.request(cookie), cookie), false, "an RRQ is not a reply");
    assert.equal(probe.match(hex("0005 00"), cookie), false);
  });

  it("parses an error as a present but not reflecting service", () => {
    const r = probe.parse([NOT_FOUND]);
    assert.ok(r);
    assert.equal(r.fields.opcode, 5);
    assert.equal(r.fields.error_code, 1);
    assert.equal(r.fields.error_message, "File not found");
    assert.equal(r.abusable, false);
  });

  it("tolerates a missing NUL after the error message", () => {
    assert.equal(
      probe.parse([hex(`0005 0002 ${a("Access violation")}`)])?.fields.error_message,
      "Access violation",
    );
  });

  it("parses DATA (with retransmissions) as a reflector", () => {
    const r = probe.parse([DATA, DATA, DATA]);
    assert.ok(r);
    assert.equal(r.fields.opcode, 3);
    assert.equal(r.fields.data_bytes, 512);
    assert.equal(r.fields.data_packets, 3);
    assert.equal(r.abusable, true);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [NOT_FOUND, DATA], cookie);
  });
});
