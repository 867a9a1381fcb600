import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpSshProbe as probe } from "../../../src/scan/probes/tcp-ssh.js";
import { checkTcpRobust } from "./never-throws.js";

const OPENSSH = Buffer.from("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");

describe("tcp-ssh probe", () => {
  it("waits for the server to speak", () => {
    assert.equal(probe.request, null);
  });

  it("parses the identification string", () => {
    assert.deepEqual(probe.parse(OPENSSH)?.fields, {
      protocol_version: "2.0",
      software: "OpenSSH_9.2p1",
      comment: "Debian-2+deb12u3",
      banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    });
    assert.equal(
      probe.parse(Buffer.from("SSH-2.0-dropbear_2022.83\r\n"))?.fields.software,
      "dropbear_2022.83",
    );
    assert.equal(probe.parse(Buffer.from("SSH-1.99-Cisco-1.25\n"))?.fields.software, "Cisco-1.25");
  });

  it("skips lines before the identification (RFC 4253 4.2)", () => {
    const r = probe.parse(Buffer.from("Welcome to host\r\nAuthorized use only\r\nSSH-2.0-OpenSSH_8.4\r\n"));
    assert.equal(r?.fields.software, "OpenSSH_8.4");
  });

  it("returns null for other services", () => {
    assert.equal(probe.parse(Buffer.from("220 mail ESMTP Postfix\r\n")), null);
    assert.equal(probe.parse(Buffer.from("SSH-garbage\r\n")), null);
    assert.equal(probe.parse(Buffer.alloc(0)), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [OPENSSH]);
  });
});
