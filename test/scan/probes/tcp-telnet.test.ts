import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpTelnetProbe as probe } from "../../../src/scan/probes/tcp-telnet.js";
import { checkTcpRobust, hex } from "./never-throws.js";

/** inetutils telnetd opening: IAC DO TERMINAL-TYPE, IAC DO TSPEED, IAC DO XDISPLOC, IAC DO NEW-ENVIRON. */
const LINUX = hex("fffd18 fffd20 fffd23 fffd27");
/** A BusyBox-style device: IAC WILL ECHO, IAC WILL SGA, then a banner and a login prompt. */
const DEVICE = Buffer.concat([hex("fffb01 fffb03"), Buffer.from("\r\nRouter OS 1.2\r\n\r\nrouter login: ")]);

describe("tcp-telnet probe", () => {
  it("waits for the server to speak", () => {
    assert.equal(probe.request, null);
  });

  it("parses option negotiation", () => {
    const r = probe.parse(LINUX);
    assert.deepEqual(r?.fields.negotiation, [
      "DO TERMINAL-TYPE",
      "DO TERMINAL-SPEED",
      "DO X-DISPLAY-LOCATION",
      "DO NEW-ENVIRON",
    ]);
    assert.equal(r?.fields.prompt, null);
  });

  it("parses negotiation followed by a login prompt", () => {
    const r = probe.parse(DEVICE);
    assert.deepEqual(r?.fields.negotiation, ["WILL ECHO", "WILL SUPPRESS-GO-AHEAD"]);
    assert.equal(r?.fields.prompt, "router login:");
    assert.equal(r?.fields.banner, "Router OS 1.2 / router login:");
  });

  it("accepts a bare prompt and subnegotiation", () => {
    assert.equal(
      probe.parse(Buffer.from("User Access Verification\r\n\r\nUsername: "))?.fields.prompt,
      "Username:",
    );
    assert.deepEqual(probe.parse(hex("fffa1801fff0"))?.fields.negotiation, ["SB TERMINAL-TYPE"]);
  });

  it("returns null for banners of other services", () => {
    assert.equal(probe.parse(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n")), null);
    assert.equal(probe.parse(Buffer.from("220 ProFTPD Server ready.\r\n")), null);
    assert.equal(probe.parse(hex("ff")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [LINUX, DEVICE, hex("fffa18 01 41414141")]);
  });
});
