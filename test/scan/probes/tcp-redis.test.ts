import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpRedisProbe as probe } from "../../../src/scan/probes/tcp-redis.js";
import { checkTcpRobust } from "./never-throws.js";

/** Redis 7.0.15's protected-mode refusal, as the lab's redis-server sent it: one 1,067-byte line. */
const DENIED =
  "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set " +
  "for the default user. In this mode connections are only accepted from the loopback interface. If you " +
  "want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just " +
  "disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface " +
  "by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not " +
  "publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) " +
  "Alternatively you can just disable the protected mode by editing the Redis configuration file, and " +
  "setting the protected mode option to 'no', and then restarting the server. 3) If you started the " +
  "server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an " +
  "authentication password for the default user. NOTE: You only need to do one of the above things in " +
  "order for the server to start accepting connections from the outside.\r\n";

/** PONG, then INFO server as a RESP bulk string (the shape Redis 7 sends, a few lines of it). */
function pongInfo(lines: string[]): Buffer {
  const text = `# Server\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`;
  return Buffer.from(`+PONG\r\n$${Buffer.byteLength(text)}\r\n${text}`, "latin1");
}
const OPEN = pongInfo([
  "redis_version:7.0.15",
  "redis_git_sha1:00000000",
  "redis_mode:standalone",
  "os:Linux 6.1.0-18-amd64 x86_64",
  "arch_bits:64",
  "process_id:4242",
  "tcp_port:6379",
]);
const NOAUTH = "-NOAUTH Authentication required.\r\n";

describe("tcp-redis probe", () => {
  it("sends an inline PING, then INFO server, pipelined", () => {
    assert.deepEqual(probe.request, Buffer.from("PING\r\nINFO server\r\n", "ascii"));
  });

  it("reads +PONG as open, with version, mode, os and pid from INFO server", () => {
    const r = probe.parse(OPEN);
    assert.deepEqual(r?.fields, {
      auth_required: false,
      protected_mode: false,
      reply: "+PONG",
      version: "7.0.15",
      mode: "standalone",
      os: "Linux 6.1.0-18-amd64 x86_64",
      pid: 4242,
    });
  });

  it("a PONG without INFO (a compatible server, or a read cut short) is still Redis, version unknown", () => {
    const r = probe.parse(Buffer.from("+PONG\r\n"));
    assert.equal(r?.fields.auth_required, false);
    assert.equal(r?.fields.version, null);
    const cut = probe.parse(OPEN.subarray(0, OPEN.indexOf("redis_mode")));
    assert.equal(cut?.fields.version, "7.0.15");
    assert.equal(cut?.fields.mode, null);
    const wrong = probe.parse(Buffer.from("+PONG\r\n-ERR unknown command 'INFO'\r\n"));
    assert.equal(wrong?.fields.version, null);
  });

  it("reads -NOAUTH (answered to both commands) as password required", () => {
    const r = probe.parse(Buffer.from(NOAUTH + NOAUTH));
    assert.equal(r?.fields.auth_required, true);
    assert.equal(r?.fields.protected_mode, false);
    assert.equal(r?.fields.version, null);
  });

  it("reads the real -DENIED line, longer than a kilobyte, as protected mode", () => {
    assert.ok(DENIED.length > 1000);
    const r = probe.parse(Buffer.from(DENIED));
    assert.equal(r?.fields.protected_mode, true);
    assert.equal(r?.fields.auth_required, false);
    assert.ok(String(r?.fields.reply).startsWith("-DENIED Redis is running in protected mode"));
    assert.ok(String(r?.fields.reply).length <= 128);
  });

  it("returns null for other services and for an unterminated line", () => {
    assert.equal(probe.parse(Buffer.from("+PONG")), null);
    assert.equal(probe.parse(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n")), null);
    assert.equal(probe.parse(Buffer.from("-FOO bar\r\n")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [OPEN, Buffer.from(DENIED), Buffer.from(NOAUTH + NOAUTH)]);
  });
});
