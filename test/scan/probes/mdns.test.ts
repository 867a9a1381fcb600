import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mdnsProbe as probe } from "../../../src/scan/probes/mdns.js";
import { checkUdpRobust, hex } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const a = (s: string) => Buffer.from(s, "ascii").toString("hex");
/** `_services._dns-sd._udp.local` in wire format; starts at offset 12, "local" at offset 35 (0x23). */
const SERVICES = `09${a("_services")} 07${a("_dns-sd")} 04${a("_udp")} 05${a("local")} 00`;

/** A legacy unicast response (RFC 6762 section 6.7): question echoed, two PTR answers, compressed. */
function reply(id = "1234", question = true): Buffer {
  const q = question ? `${SERVICES} 000c 0001` : "";
  const owner = question ? "c00c" : SERVICES;
  const local = question ? "c023" : `05${a("local")}00`;
  const http = `05${a("_http")} 04${a("_tcp")} ${local}`;
  const ssh = `04${a("_ssh")} 04${a("_tcp")} ${local}`;
  const len = (h: string) => hex(h).length.toString(16).padStart(4, "0");
  return hex(
    `${id} 8400 ${question ? "0001" : "0000"} 0002 0000 0000 ${q}
     ${owner} 000c 0001 00001194 ${len(http)} ${http}
     ${owner} 000c 0001 00001194 ${len(ssh)} ${ssh}`,
  );
}

describe("mdns probe", () => {
  it("builds a DNS-SD service enumeration PTR query with the QU bit", () => {
    const req = probe.request(cookie);
    assert.deepEqual(req, hex(`1234 0000 0001 0000 0000 0000 ${SERVICES} 000c 8001`));
    assert.equal(req.length, 46);
  });

  it("matches legacy unicast replies echoing our id", () => {
    assert.equal(probe.match(reply(), cookie), true);
    assert.equal(probe.match(reply("1234", false), cookie), true);
    assert.equal(probe.match(reply("1235"), cookie), false);
    assert.equal(probe.match(probe.request(cookie), cookie), false, "a query is not a response");
    assert.equal(probe.match(reply().subarray(0, 11), cookie), false);
  });

  it("accepts id 0 only when the query went out from port 5353", () => {
    assert.equal(probe.match(reply("0000", false), cookie), false);
    assert.equal(probe.match(reply("0000", false), { id: 0x1234, sourcePort: 5353 }), true);
  });

  it("rejects a response to some other question", () => {
    const other = hex(`1234 8400 0001 0000 0000 0000 04${a("host")} 05${a("local")} 00 0001 0001`);
    assert.equal(probe.match(other, cookie), false);
  });

  it("lists the advertised service types", () => {
    for (const r of [probe.parse([reply()]), probe.parse([reply("1234", false)])]) {
      assert.ok(r);
      assert.deepEqual(r.fields.service_types, ["_http._tcp.local", "_ssh._tcp.local"]);
      assert.equal(r.fields.service_count, 2);
      assert.equal(r.abusable, true);
    }
  });

  it("survives compression pointer loops", () => {
    const loop = hex(`1234 8400 0000 0001 0000 0000 c00c 000c 0001 00000000 0002 c022`);
    assert.equal(probe.parse([loop]), null);
    const self = hex(`1234 8400 0001 0000 0000 0000 c00c 000c 0001`);
    assert.equal(probe.match(self, cookie), false);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [reply(), reply("1234", false)], cookie);
  });
});
