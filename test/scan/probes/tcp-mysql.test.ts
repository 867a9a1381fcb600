import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpMysqlProbe as probe } from "../../../src/scan/probes/tcp-mysql.js";
import { checkTcpRobust, hex } from "./never-throws.js";

const a = (s: string) => Buffer.from(s, "latin1").toString("hex");

function packet(payload: Buffer, seq = 0): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}

/**
 * Initial Handshake v10: version, connection id 42, scramble part 1, filler, capabilities 0xffff
 * (includes CLIENT_SSL) / upper 0x81bf (includes CLIENT_PLUGIN_AUTH), charset, status, auth data length
 * 21, 10 reserved, scramble part 2 (13 bytes), plugin name.
 */
function greeting(version: string, plugin: string): Buffer {
  return packet(
    hex(`0a ${a(version)} 00 2a000000 3132333435363738 00 ffff ff 0200 bf81 15 ${"00".repeat(10)}
         ${a("abcdefghijkl")} 00 ${a(plugin)} 00`),
  );
}
const MYSQL8 = greeting("8.0.36-0ubuntu0.22.04.1", "caching_sha2_password");
const MARIADB = greeting("5.5.5-10.11.6-MariaDB-0+deb12u1", "mysql_native_password");
const NOT_ALLOWED = packet(
  hex(`ff 6a04 ${a("Host '198.51.100.7' is not allowed to connect to this MySQL server")}`),
);

describe("tcp-mysql probe", () => {
  it("waits for the server to speak", () => {
    assert.equal(probe.request, null);
  });

  it("parses a MySQL 8 handshake", () => {
    const r = probe.parse(MYSQL8);
    assert.ok(r);
    assert.equal(r.fields.server_version, "8.0.36-0ubuntu0.22.04.1");
    assert.equal(r.fields.version, "8.0.36-0ubuntu0.22.04.1");
    assert.equal(r.fields.connection_id, 42);
    assert.equal(r.fields.auth_plugin, "caching_sha2_password");
    assert.equal(r.fields.ssl, true);
    assert.equal(r.fields.mariadb, false);
  });

  it("parses a MariaDB handshake; version without the 5.5.5- prefix for old replication clients", () => {
    const r = probe.parse(MARIADB);
    assert.equal(r?.fields.mariadb, true);
    assert.equal(r?.fields.server_version, "5.5.5-10.11.6-MariaDB-0+deb12u1");
    assert.equal(r?.fields.version, "10.11.6-MariaDB-0+deb12u1");
    // MariaDB 11 dropped the prefix; a MySQL 5.5.5 is a MySQL 5.5.5.
    const mariadb11 = probe.parse(greeting("11.4.2-MariaDB-ubu2404", "mysql_native_password"));
    assert.equal(mariadb11?.fields.version, "11.4.2-MariaDB-ubu2404");
    const mysql555 = probe.parse(greeting("5.5.5-log", "mysql_native_password"));
    assert.equal(mysql555?.fields.version, "5.5.5-log");
    assert.equal(r?.fields.auth_plugin, "mysql_native_password");
  });

  it("parses the host-not-allowed error", () => {
    const r = probe.parse(NOT_ALLOWED);
    assert.equal(r?.fields.error_code, 1130);
    assert.equal(
      r?.fields.error_message,
      "Host '198.51.100.7' is not allowed to connect to this MySQL server",
    );
  });

  it("reads what there is of a handshake cut by the read limit", () => {
    const r = probe.parse(MYSQL8.subarray(0, 4 + 1 + 24 + 4 + 8 + 3));
    assert.equal(r?.fields.connection_id, 42);
    assert.equal(r?.fields.auth_plugin, null);
  });

  it("returns null for other services", () => {
    assert.equal(probe.parse(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n")), null);
    assert.equal(probe.parse(packet(hex("0a"), 1)), null);
    assert.equal(probe.parse(Buffer.from("HTTP/1.1 400 Bad Request\r\n")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [MYSQL8, MARIADB, NOT_ALLOWED]);
  });
});
