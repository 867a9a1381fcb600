import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cldapProbe as probe, searchRootDse } from "../../../src/scan/probes/cldap.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };

/** A definite-length TLV, written here independently of src/scan/probes/ber.ts. */
function t(tag: number, ...parts: (Buffer | string)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)));
  const len =
    body.length < 0x80
      ? [body.length]
      : body.length < 0x100
        ? [0x81, body.length]
        : [0x82, body.length >> 8, body.length & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
const str = (s: string) => t(0x04, s);
const attr = (name: string, ...vals: string[]) => t(0x30, str(name), t(0x31, ...vals.map(str)));

/** searchResEntry + searchResDone in one datagram, as Active Directory answers (RFC 4511 4.5.2). */
function reply(id: Buffer = hex("02021234")): Buffer {
  const entry = t(
    0x30,
    id,
    t(
      0x64,
      str(""),
      t(
        0x30,
        attr("dnsHostName", "dc01.corp.example.com"),
        attr("defaultNamingContext", "DC=corp,DC=example,DC=com"),
        attr("supportedLDAPVersion", "3", "2"),
      ),
    ),
  );
  const done = t(0x30, id, t(0x65, hex("0a0100"), str(""), str("")));
  return Buffer.concat([entry, done]);
}

describe("cldap probe", () => {
  it("sends for every 16-bit id exactly the request encoded field by field (the template is only faster)", () => {
    for (let id = 0; id <= 0xffff; id++) {
      const sent = probe.request({ id, sourcePort: 1 });
      if (!sent.equals(searchRootDse(id))) assert.fail(`id ${id}: ${sent.toString("hex")}`);
    }
  });

  it("builds the RFC 4511 rootDSE searchRequest with three attributes", () => {
    const ascii = (s: string) => Buffer.from(s, "ascii").toString("hex");
    const expected = hex(
      `305f 02021234 6359 0400 0a0100 0a0100 020100 020100 010100 870b${ascii("objectClass")}
       3039 040b${ascii("dnsHostName")} 0414${ascii("defaultNamingContext")} 0414${ascii("supportedLDAPVersion")}`,
    );
    assert.deepEqual(probe.request(cookie), expected);
    assert.ok(probe.request(cookie).length <= 100);
  });

  it("encodes a messageID with the top bit set as a positive INTEGER", () => {
    const req = probe.request({ id: 0x8001, sourcePort: 1 });
    assert.deepEqual(req.subarray(2, 7), hex("0203008001"));
    assert.equal(probe.match(reply(hex("0203008001")), { id: 0x8001, sourcePort: 1 }), true);
  });

  it("matches responses with our messageID only", () => {
    assert.equal(probe.match(reply(), cookie), true);
    assert.equal(probe.match(reply(hex("02021235")), cookie), false);
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a request is not a response");
    assert.equal(probe.match(reply().subarray(0, 10), cookie), false);
    assert.equal(probe.match(Buffer.from("HTTP/1.1 400 Bad Request\r\n"), cookie), false);
  });

  it("parses the rootDSE attributes", () => {
    const r = probe.parse([reply()]);
    assert.ok(r);
    assert.equal(r.fields.dns_host_name, "dc01.corp.example.com");
    assert.equal(r.fields.default_naming_context, "DC=corp,DC=example,DC=com");
    assert.deepEqual(r.fields.supported_ldap_version, ["3", "2"]);
    assert.equal(r.fields.result_code, 0);
    assert.equal(r.abusable, true);
  });

  it("reports a searchResDone alone as not a reflector", () => {
    const r = probe.parse([t(0x30, hex("02021234"), t(0x65, hex("0a0135"), str(""), str("unwilling")))]);
    assert.equal(r?.fields.result_code, 53);
    assert.equal(r?.abusable, false);
  });

  it("refuses length bombs and indefinite lengths", () => {
    assert.equal(probe.match(hex("3084ffffffff 02021234"), cookie), false);
    assert.equal(probe.match(hex("3080 02021234 6400 0000"), cookie), false);
    assert.equal(probe.parse([hex("3084ffffffff 02021234")]), null);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [reply()], cookie);
  });
});
