import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpRedisProbe as probe } from "../../../src/scan/probes/tcp-redis.js";
import { checkTcpRobust } from "./never-throws.js";

const DENIED =
  "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set " +
  "for the default user. In this mode connections are only accepted from the loopback interface.\r\n";

describe("tcp-redis probe", () => {
  it("sends an inline PING", () => {
    assert.deepEqual(probe.request, Buffer.from("50494e470d0a", "hex"));
  });

  it("reads +PONG as open", () => {
    const r = probe.parse(Buffer.from("+PONG\r\n"));
    assert.deepEqual(r?.fields, { auth_required: false, protected_mode: false, reply: "+PONG" });
  });

  it("reads -NOAUTH as password required", () => {
    const r = probe.parse(Buffer.from("-NOAUTH Authentication required.\r\n"));
    assert.equal(r?.fields.auth_required, true);
    assert.equal(r?.fields.protected_mode, false);
  });

  it("reads -DENIED as protected mode", () => {
    const r = probe.parse(Buffer.from(DENIED));
    assert.equal(r?.fields.protected_mode, true);
    assert.equal(r?.fields.auth_required, false);
    assert.ok(String(r?.fields.reply).length <= 128);
  });

  it("returns null for other services and for an unterminated line", () => {
    assert.equal(probe.parse(Buffer.from("+PONG")), null);
    assert.equal(probe.parse(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n")), null);
    assert.equal(probe.parse(Buffer.from("-FOO bar\r\n")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [
      Buffer.from("+PONG\r\n"),
      Buffer.from(DENIED),
      Buffer.from("-NOAUTH Authentication required.\r\n"),
    ]);
  });
});
