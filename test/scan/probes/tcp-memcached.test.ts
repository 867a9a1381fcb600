import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpMemcachedProbe as probe } from "../../../src/scan/probes/tcp-memcached.js";
import { checkTcpRobust } from "./never-throws.js";

describe("tcp-memcached probe", () => {
  it("sends `version`", () => {
    assert.deepEqual(probe.request, Buffer.from("76657273696f6e0d0a", "hex"));
  });

  it("parses the version line", () => {
    const r = probe.parse(Buffer.from("VERSION 1.6.21\r\n"));
    assert.ok(r);
    assert.equal(r.fields.version, "1.6.21");
    assert.equal(r.fields.auth_required, false);
    assert.equal(r.abusable, false);
  });

  it("recognises text-protocol authentication", () => {
    assert.equal(probe.parse(Buffer.from("CLIENT_ERROR unauthenticated\r\n"))?.fields.auth_required, true);
  });

  it("returns null for other services", () => {
    assert.equal(probe.parse(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n")), null);
    assert.equal(probe.parse(Buffer.from("ERROR\r\n")), null);
    assert.equal(probe.parse(Buffer.alloc(0)), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [
      Buffer.from("VERSION 1.6.21\r\n"),
      Buffer.from("CLIENT_ERROR unauthenticated\r\n"),
    ]);
  });
});
