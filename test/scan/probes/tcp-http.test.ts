import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpHttpProbe as probe } from "../../../src/scan/probes/tcp-http.js";
import { checkTcpRobust } from "./never-throws.js";

const NGINX = Buffer.from(
  "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 11:00:00 GMT\r\n" +
    "Content-Type: text/html\r\nContent-Length: 169\r\nConnection: close\r\nLocation: https://example.com/\r\n\r\n",
);
const ELASTIC = Buffer.from(
  "HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: 541\r\n\r\n",
);
const BASIC = Buffer.from(
  'HTTP/1.0 401 Unauthorized\r\nServer: Jetty(9.4.z)\r\nWWW-Authenticate: Basic realm="Jenkins"\r\n\r\n',
);

describe("tcp-http probe", () => {
  it("sends HEAD / HTTP/1.0", () => {
    assert.deepEqual(probe.request, Buffer.from("48454144202f20485454502f312e300d0a0d0a", "hex"));
  });

  it("parses status and Server", () => {
    const r = probe.parse(NGINX);
    assert.ok(r);
    assert.equal(r.fields.status, 301);
    assert.equal(r.fields.reason, "Moved Permanently");
    assert.equal(r.fields.server, "nginx/1.22.1");
    assert.equal(r.fields.location, "https://example.com/");
    assert.equal(r.fields.auth_required, false);
  });

  it("recognises Elasticsearch and authentication", () => {
    assert.equal(probe.parse(ELASTIC)?.fields.product, "Elasticsearch");
    assert.equal(probe.parse(ELASTIC)?.fields.server, null);
    const r = probe.parse(BASIC);
    assert.equal(r?.fields.auth_required, true);
    assert.equal(r?.fields.auth_scheme, "Basic");
    assert.equal(r?.fields.http_version, "1.0");
  });

  it("returns null for other services", () => {
    assert.equal(probe.parse(Buffer.from("SSH-2.0-OpenSSH_9.2\r\n")), null);
    assert.equal(probe.parse(Buffer.from("-ERR unknown command 'HEAD'\r\n")), null);
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [NGINX, ELASTIC, BASIC]);
  });
});
