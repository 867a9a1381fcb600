import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ntpMonlistProbe as monlist } from "../../../src/scan/probes/ntp-monlist.js";
import { parseVariables, ntpVersionProbe as version } from "../../../src/scan/probes/ntp-version.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 0x2a2a, sourcePort: 40123 };

/** One mode 7 MON_GETLIST_1 response datagram as ntpd builds it: 8-byte header + nitems x 72 bytes. */
function monlistDatagram(seq: number, nitems: number, more: boolean, err = 0): Buffer {
  const h = Buffer.from([more ? 0xd7 : 0x97, seq, 3, 42, (err << 4) | (nitems >> 8), nitems & 0xff, 0, 72]);
  const items = Buffer.alloc(nitems * 72);
  for (let i = 0; i < nitems; i++) items.writeUInt32BE(0xc0000200 + i, i * 72 + 16); // client address
  return Buffer.concat([h, items]);
}

/** A 600-entry monlist: 100 datagrams of 6 entries, 440 bytes each (the CVE-2013-5211 figure). */
const FULL = Array.from({ length: 100 }, (_, s) => monlistDatagram(s, 6, s < 99));

/** A mode 6 READVAR response fragment (ntpd echoes version, sets R, and M on all but the last). */
function readvarFragment(seq: number, offset: number, text: string, more: boolean, error = false): Buffer {
  const data = Buffer.from(text, "latin1");
  const h = Buffer.alloc(12);
  h[0] = 0x16;
  h[1] = 0x80 | (error ? 0x40 : 0) | (more ? 0x20 : 0) | 2;
  h.writeUInt16BE(seq, 2);
  h.writeUInt16BE(0x0618, 4); // system status word
  h.writeUInt16BE(offset, 8);
  h.writeUInt16BE(data.length, 10);
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  return Buffer.concat([h, data, pad]);
}

/** ntpd 4.2.8's `ntpq -c rv` text, with its line breaks. */
const RV =
  "associd=0 status=0618 leap_none, sync_ntp, 1 event, no_sys_peer,\r\n" +
  'version="ntpd 4.2.8p15@1.3728-o Wed Sep 23 11:46:38 UTC 2020 (1)",\r\n' +
  'processor="x86_64", system="Linux/6.1.0-18-amd64", leap=00, stratum=3,\r\n' +
  "precision=-23, rootdelay=14.581, rootdisp=24.404, refid=192.0.2.7,\r\n" +
  "reftime=e9f1c7a1.1d2c5e10  Mon, Nov 23 2026 11:40:17.114, tc=10, peer=41322";

describe("ntp-monlist probe", () => {
  it("sends the 8-byte NTPv2 mode 7 XNTPD MON_GETLIST_1 request", () => {
    const req = monlist.request(cookie);
    assert.equal(req.toString("hex"), "1700032a00000000");
    assert.equal(req.length, 8);
  });

  it("matches mode 7 monlist responses by shape", () => {
    assert.equal(monlist.match(FULL[0]!, cookie), true);
    assert.equal(
      monlist.match(monlistDatagram(0, 0, false, 4), cookie),
      true,
      "an error response is ours too",
    );
    assert.equal(monlist.match(monlist.request(cookie), cookie), false, "a request, not a response");
    const otherCode = Buffer.from(FULL[0]!);
    otherCode[3] = 20;
    assert.equal(monlist.match(otherCode, cookie), false, "another request code");
    const otherImpl = Buffer.from(FULL[0]!);
    otherImpl[2] = 0;
    assert.equal(monlist.match(otherImpl, cookie), false, "another implementation");
    const mode4 = Buffer.from(FULL[0]!);
    mode4[0] = 0x9c;
    assert.equal(monlist.match(mode4, cookie), false, "mode 4 server reply");
    assert.equal(monlist.match(Buffer.alloc(0), cookie), false);
    assert.equal(monlist.match(FULL[0]!.subarray(0, 7), cookie), false);
  });

  it("counts entries and datagrams, ignoring duplicates and out-of-order arrival", () => {
    const arrived = [...FULL].reverse().concat(FULL.slice(0, 5));
    const r = monlist.parse(arrived);
    assert.ok(r);
    assert.deepEqual(r.fields, { entries: 600, datagrams: 100, item_size: 72, error: null });
    assert.equal(r.abusable, true);
    assert.equal(FULL[0]!.length, 440);
  });

  it("does not believe item counts the datagram cannot hold", () => {
    const liar = Buffer.from(monlistDatagram(0, 1, false));
    liar.writeUInt16BE(0x0fff, 4);
    assert.equal(monlist.parse([liar])?.fields.entries, 1);
  });

  it("an error answer (monlist removed or monitoring off) is not abusable", () => {
    const r = monlist.parse([monlistDatagram(0, 0, false, 4)]);
    assert.ok(r);
    assert.equal(r.abusable, false);
    assert.match(String(r.fields.error), /no data/);
    assert.equal(monlist.parse([]), null);
    assert.equal(monlist.parse([Buffer.from("garbage!")]), null);
  });

  robustnessProperties(monlist, cookie, FULL.slice(0, 3));
});

describe("ntp-version probe", () => {
  it("sends a 12-byte mode 6 READVAR (as ntpq -c rv) with the cookie as sequence", () => {
    const req = version.request(cookie);
    assert.equal(req.toString("hex"), "16022a2a0000000000000000");
    assert.equal(req.length, 12);
  });

  const one = readvarFragment(cookie.id, 0, RV, false);

  it("matches READVAR responses carrying our sequence", () => {
    assert.equal(version.match(one, cookie), true);
    assert.equal(version.match(one, { ...cookie, id: 1 }), false, "wrong sequence");
    const unsynced = Buffer.from(one);
    unsynced[0] = 0xd6; // leap indicator 3 (clock not synchronised) is still our reply
    assert.equal(version.match(unsynced, cookie), true);
    assert.equal(version.match(version.request(cookie), cookie), false, "a request, not a response");
    const readstat = Buffer.from(one);
    readstat[1] = 0x81;
    assert.equal(version.match(readstat, cookie), false, "another opcode");
    assert.equal(version.match(Buffer.alloc(0), cookie), false);
    assert.equal(version.match(one.subarray(0, 11), cookie), false);
  });

  it("reads version, system, processor and stratum, from fragments in any order", () => {
    const cut = 150;
    const frags = [
      readvarFragment(cookie.id, cut, RV.slice(cut), false),
      readvarFragment(cookie.id, 0, RV.slice(0, cut), true),
    ];
    for (const replies of [[one], frags, [...frags, frags[0]!]]) {
      const r = version.parse(replies);
      assert.ok(r);
      assert.deepEqual(r.fields, {
        version: "ntpd 4.2.8p15@1.3728-o Wed Sep 23 11:46:38 UTC 2020 (1)",
        system: "Linux/6.1.0-18-amd64",
        processor: "x86_64",
        stratum: 3,
      });
      assert.equal(r.abusable, false);
      assert.match(r.note, /monlist/);
    }
  });

  it("an error response is still ntpd, with no fields", () => {
    const r = version.parse([readvarFragment(cookie.id, 0, "", false, true)]);
    assert.ok(r);
    assert.equal(r.fields.version, null);
    assert.equal(version.parse([]), null);
  });

  it("parses variable lists with quotes holding commas and broken quoting", () => {
    const v = parseVariables('a="x, y", b=2,c, d="unterminated');
    assert.equal(v.get("a"), "x, y");
    assert.equal(v.get("b"), "2");
    assert.equal(v.get("c"), "");
    assert.equal(v.get("d"), "unterminated");
  });

  robustnessProperties(version, cookie, [one, readvarFragment(cookie.id, 0, RV.slice(0, 100), true)]);
});
