import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BER, encodeInteger, encodeOctetString, encodeOid, tlv } from "../../../src/scan/probes/ber.js";
import { encodeGetRequest, snmpProbe as probe, SYS_DESCR } from "../../../src/scan/probes/snmp.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const DESCR = "Linux lab 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64";

/** A GetResponse as net-snmp's snmpd sends it: same version, community and request-id. */
function response(opts: {
  id?: number;
  pdu?: number;
  value?: Buffer;
  version?: number;
  status?: number;
}): Buffer {
  const varbind = tlv(BER.sequence, [encodeOid(SYS_DESCR), opts.value ?? encodeOctetString(DESCR)]);
  const pdu = tlv(opts.pdu ?? 0xa2, [
    encodeInteger(opts.id ?? cookie.id),
    encodeInteger(opts.status ?? 0),
    encodeInteger(0),
    tlv(BER.sequence, [varbind]),
  ]);
  return tlv(BER.sequence, [encodeInteger(opts.version ?? 1), encodeOctetString("public"), pdu]);
}

describe("snmp probe", () => {
  it("sends a 41-byte v2c GetRequest for sysDescr.0 with community public", () => {
    // SEQUENCE { INTEGER 1 (v2c), OCTET STRING "public", GetRequest-PDU [0] { request-id 0x1234,
    // error-status 0, error-index 0, VarBindList { VarBind { 1.3.6.1.2.1.1.1.0, NULL } } } }
    const expected =
      "3027" +
      "020101" +
      "0406" +
      "7075626c6963" +
      "a01a" +
      "02021234" +
      "020100" +
      "020100" +
      "300e" +
      "300c" +
      "06082b06010201010100" +
      "0500";
    const req = probe.request(cookie);
    assert.equal(req.toString("hex"), expected);
    assert.equal(req.length, 41);
    // Ids with the top bit set need a sign octet: one byte longer, still a positive INTEGER.
    assert.equal(probe.request({ id: 0x8001, sourcePort: 1 }).subarray(15, 20).toString("hex"), "0203008001");
  });

  it("sends for every 16-bit id exactly the request encoded field by field (the template is only faster)", () => {
    for (let id = 0; id <= 0xffff; id++) {
      const sent = probe.request({ id, sourcePort: 1 });
      if (!sent.equals(encodeGetRequest(id))) assert.fail(`id ${id}: ${sent.toString("hex")}`);
    }
  });

  it("matches GetResponses carrying our request-id only", () => {
    const ok = response({});
    assert.equal(probe.match(ok, cookie), true);
    assert.equal(probe.match(response({ id: 0x1235 }), cookie), false, "wrong request-id");
    assert.equal(probe.match(response({ pdu: 0xa0 }), cookie), false, "a GetRequest, not a response");
    assert.equal(probe.match(response({ version: 0 }), cookie), false, "SNMPv1 reply to a v2c request");
    assert.equal(probe.match(Buffer.alloc(0), cookie), false);
    assert.equal(probe.match(ok.subarray(0, ok.length - 1), cookie), false, "truncated");
    assert.equal(probe.match(probe.request(cookie), cookie), false);
  });

  it("reads sysDescr and flags the public community as abusable", () => {
    const r = probe.parse([response({})]);
    assert.ok(r);
    assert.deepEqual(r.fields, { sysDescr: DESCR, community: "public", error: null, exception: null });
    assert.equal(r.abusable, true);
    assert.match(r.note, /GetBulk/);
  });

  it("reports noSuchObject and error-status answers", () => {
    const r = probe.parse([response({ value: Buffer.from([0x80, 0]) })]);
    assert.equal(r?.fields.sysDescr, null);
    assert.equal(r?.fields.exception, "noSuchObject");
    assert.equal(probe.parse([response({ status: 5 })])?.fields.error, "genErr");
    assert.equal(probe.parse([]), null);
    assert.equal(probe.parse([Buffer.from("30030201", "hex")]), null);
  });

  robustnessProperties(probe, cookie, [response({}), response({ value: Buffer.from([0x81, 0]) })]);
});
