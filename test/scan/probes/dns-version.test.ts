import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dnsVersionProbe as probe } from "../../../src/scan/probes/dns-version.js";
import { dnsResponse } from "./dns-builders.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 0x0102, sourcePort: 40000 };
const query = probe.request(cookie);
const txt = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, "latin1")]);
const bind = dnsResponse(query, {
  flags: 0x8400,
  answers: [{ type: 16, class: 3, rdata: txt("9.18.28-1~deb12u2-Debian") }],
});
const hidden = dnsResponse(query, { flags: 0x8405 });

describe("dns-version probe", () => {
  it("sends version.bind CH TXT, no recursion, cookie as id (30 bytes)", () => {
    // As `dig +noedns +noadflag +norec @host version.bind chaos txt` sends it.
    assert.equal(query.toString("hex"), "0102000000010000000000000776657273696f6e0462696e640000100003");
    assert.equal(query.length, 30);
  });

  it("matches our response only", () => {
    assert.equal(probe.match(bind, cookie), true);
    assert.equal(probe.match(bind, { ...cookie, id: 3 }), false);
    assert.equal(probe.match(Buffer.alloc(0), cookie), false);
    assert.equal(probe.match(bind.subarray(0, 25), cookie), false);
    const inClass = Buffer.from(bind);
    inClass.writeUInt16BE(1, 28); // question class IN instead of CH
    assert.equal(probe.match(inClass, cookie), false);
  });

  it("reads the version text, or null when hidden", () => {
    const r = probe.parse([bind]);
    assert.equal(r?.fields.version, "9.18.28-1~deb12u2-Debian");
    assert.equal(r?.abusable, false);
    const split = dnsResponse(query, {
      flags: 0x8400,
      answers: [{ type: 16, class: 3, rdata: Buffer.concat([txt("unbound "), txt("1.17.1\x00\x07")]) }],
    });
    assert.equal(probe.parse([split])?.fields.version, "unbound 1.17.1");
    const h = probe.parse([hidden]);
    assert.equal(h?.fields.version, null);
    assert.equal(h?.fields.rcode, "REFUSED");
  });

  robustnessProperties(probe, cookie, [bind, hidden]);
});
