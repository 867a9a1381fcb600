/** CharGEN, QOTD and SSDP: the reflectors with no id field, matched by source port and reply shape. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chargenProbe } from "../../../src/scan/probes/chargen.js";
import { qotdProbe } from "../../../src/scan/probes/qotd.js";
import { ssdpProbe } from "../../../src/scan/probes/ssdp.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 7, sourcePort: 40000 };

/** RFC 864's rotating pattern: 72 printable characters from offset `n`, then CRLF (74 bytes). */
function chargenLine(n: number): Buffer {
  const chars = Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + ((n + i) % 95)));
  return Buffer.from(`${chars.join("")}\r\n`, "ascii");
}

describe("chargen probe", () => {
  it("sends one byte", () => {
    assert.equal(chargenProbe.request(cookie).toString("hex"), "0a");
  });
  it("matches any non-empty datagram and reports its length", () => {
    const line = chargenLine(1);
    assert.equal(chargenProbe.match(line, cookie), true);
    assert.equal(chargenProbe.match(Buffer.alloc(0), cookie), false);
    const r = chargenProbe.parse([line]);
    assert.deepEqual(r?.fields, { length: 74, datagrams: 1, printable: true });
    assert.equal(r?.abusable, true);
    assert.equal(chargenProbe.parse([Buffer.from([0, 1, 2])])?.fields.printable, false);
    assert.equal(chargenProbe.parse([]), null);
    assert.equal(chargenProbe.parse([Buffer.alloc(0)]), null);
  });
  robustnessProperties(chargenProbe, cookie, [chargenLine(0), chargenLine(40)]);
});

const QUOTE = '"The only way to do great work is to love what you do."\r\n  Steve Jobs\r\n';

describe("qotd probe", () => {
  it("sends CRLF", () => {
    assert.equal(qotdProbe.request(cookie).toString("hex"), "0d0a");
  });
  it("matches any non-empty datagram; the quote is trimmed, flattened and capped", () => {
    const q = Buffer.from(QUOTE);
    assert.equal(qotdProbe.match(q, cookie), true);
    assert.equal(qotdProbe.match(Buffer.alloc(0), cookie), false);
    const r = qotdProbe.parse([q]);
    assert.equal(r?.fields.quote, '"The only way to do great work is to love what you do." Steve Jobs');
    assert.equal(r?.abusable, true);
    const long = qotdProbe.parse([Buffer.alloc(5000, 0x41)]);
    assert.equal(String(long?.fields.quote).length, 512);
    assert.equal(long?.fields.length, 5000);
    assert.equal(qotdProbe.parse([Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x41])])?.fields.quote, "[2JA");
    assert.equal(qotdProbe.parse([]), null);
  });
  robustnessProperties(qotdProbe, cookie, [Buffer.from(QUOTE)]);
});

/** A miniupnpd 2.x M-SEARCH response, one per advertised service. */
function ssdpReply(st: string): Buffer {
  return Buffer.from(
    [
      "HTTP/1.1 200 OK",
      "CACHE-CONTROL: max-age=120",
      `ST: ${st}`,
      `USN: uuid:bc4c3f4e-a5f0-4a8b-9f11-3c7d1d2a0b01::${st}`,
      "EXT:",
      "SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.3",
      "LOCATION: http://192.0.2.1:5000/rootDesc.xml",
      'OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01',
      "01-NLS: 1",
      "BOOTID.UPNP.ORG: 1",
      "CONFIGID.UPNP.ORG: 1337",
      "",
      "",
    ].join("\r\n"),
  );
}

describe("ssdp probe", () => {
  it("sends the M-SEARCH for ssdp:all", () => {
    const req = ssdpProbe.request(cookie);
    assert.equal(
      req.toString("latin1"),
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n',
    );
    assert.equal(req.length, 94);
  });

  it("matches HTTP 200 replies with SSDP headers only", () => {
    const r = ssdpReply("upnp:rootdevice");
    assert.equal(ssdpProbe.match(r, cookie), true);
    assert.equal(ssdpProbe.match(Buffer.from("HTTP/1.1 404 Not Found\r\nST: x\r\n\r\n"), cookie), false);
    assert.equal(ssdpProbe.match(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), cookie), false);
    assert.equal(ssdpProbe.match(ssdpProbe.request(cookie), cookie), false, "another scanner's M-SEARCH");
    assert.equal(ssdpProbe.match(Buffer.alloc(0), cookie), false);
    assert.equal(ssdpProbe.match(r.subarray(0, 10), cookie), false);
  });

  it("reads server, location, st and usn, and lists the services", () => {
    const replies = ["upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"].map(ssdpReply);
    const r = ssdpProbe.parse(replies);
    assert.ok(r);
    assert.deepEqual(r.fields, {
      server: "Debian/12 UPnP/1.1 MiniUPnPd/2.3.3",
      location: "http://192.0.2.1:5000/rootDesc.xml",
      st: "upnp:rootdevice",
      usn: "uuid:bc4c3f4e-a5f0-4a8b-9f11-3c7d1d2a0b01::upnp:rootdevice",
      services: ["upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"],
      responses: 2,
    });
    assert.equal(r.abusable, true);
    assert.equal(ssdpProbe.parse([Buffer.from("hello")]), null);
  });

  robustnessProperties(ssdpProbe, cookie, [ssdpReply("upnp:rootdevice"), ssdpReply("ssdp:all")]);
});
