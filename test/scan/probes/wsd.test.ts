import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { wsdProbe as probe } from "../../../src/scan/probes/wsd.js";
import { checkUdpRobust } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };
const OURS = "urn:uuid:6d6f6174-7363-4000-8000-9c4000001234";

/** An ONVIF camera's ProbeMatches (WS-Discovery 2005/04, section 5.3). */
function reply(relatesTo = OURS): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
<SOAP-ENV:Header>
<wsa:MessageID>urn:uuid:0a6dc791-2e7e-4b3b-a4e3-7a9f5c1d2e3f</wsa:MessageID>
<wsa:RelatesTo>${relatesTo}</wsa:RelatesTo>
<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
<d:AppSequence MessageNumber="68" InstanceId="1" SOAP-ENV:mustUnderstand="true"/>
</SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>
<wsa:EndpointReference><wsa:Address>urn:uuid:2419d68a-2dd2-21b2-a205-ec8d3a1b2c3d</wsa:Address></wsa:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/IPC</d:Scopes>
<d:XAddrs>http://192.0.2.10/onvif/device_service http://[2001:db8::10]/onvif/device_service</d:XAddrs>
<d:MetadataVersion>10</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
    "utf8",
  );
}

describe("ws-discovery probe", () => {
  it("builds a SOAP Probe with the cookie in the MessageID", () => {
    const req = probe.request(cookie).toString("utf8");
    assert.ok(req.includes(`<a:MessageID>${OURS}</a:MessageID>`));
    assert.ok(req.includes("<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"));
    assert.ok(req.includes("<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"));
    assert.ok(req.includes("<s:Body><d:Probe/></s:Body>"));
    assert.ok(req.startsWith("<s:Envelope ") && req.endsWith("</s:Envelope>"));
    assert.ok(probe.request(cookie).length < 512);
  });

  it("matches on RelatesTo only", () => {
    assert.equal(probe.match(reply(), cookie), true);
    assert.equal(probe.match(reply(OURS.toUpperCase().replace("URN:UUID", "urn:uuid")), cookie), true);
    assert.equal(probe.match(reply(OURS.replace("1234", "1235")), cookie), false);
    assert.equal(probe.match(reply(), { id: 0x1234, sourcePort: 40001 }), false);
    assert.equal(probe.match(probe.request(cookie), cookie), false, "our own Probe has no RelatesTo");
    assert.equal(probe.match(reply().subarray(0, 300), cookie), false);
  });

  it("parses Types and XAddrs", () => {
    const r = probe.parse([reply()]);
    assert.ok(r);
    assert.deepEqual(r.fields.types, ["dn:NetworkVideoTransmitter", "tds:Device"]);
    assert.deepEqual(r.fields.xaddrs, [
      "http://192.0.2.10/onvif/device_service",
      "http://[2001:db8::10]/onvif/device_service",
    ]);
    assert.equal(r.abusable, true);
    assert.equal(probe.parse([Buffer.from("<html>hello</html>")]), null);
  });

  it("is linear on tag soup", () => {
    const soup = Buffer.from("<a:RelatesTo ".repeat(5000) + "<d:ProbeMatch ".repeat(5000));
    const t0 = performance.now();
    assert.equal(probe.match(soup, cookie), false);
    probe.parse([soup]);
    assert.ok(performance.now() - t0 < 250);
  });

  it("never throws and stays fast on hostile replies", () => {
    checkUdpRobust(probe, [reply()], cookie, 150);
  });
});
