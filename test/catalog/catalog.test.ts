import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildCatalog, parsePortSpec } from "../../src/catalog/catalog.js";
import { loadCatalog } from "../../src/catalog/load.js";
import type { Service } from "../../src/catalog/schema.js";

const catalog = await loadCatalog();

function service(id: string, ports: string[], processes: string[]): Service {
  return {
    id,
    name: id,
    description: id,
    ports,
    processes,
    scope: "lan",
    risks: [],
    fix: { summary: "fix", config: [] },
    references: [],
  };
}

describe("indexes", () => {
  it("expands port ranges, both ends included", () => {
    for (const port of [6000, 6010, 6063]) assert.equal(catalog.byPort(port, "tcp")[0]?.id, "x11");
    assert.deepEqual(
      catalog.byPort(6064, "tcp").map((s) => s.id),
      [],
    );
    assert.ok(catalog.byPort(5905, "tcp").some((s) => s.id === "vnc"));
  });

  it("keeps TCP and UDP apart", () => {
    assert.deepEqual(
      catalog.byPort(389, "udp").map((s) => s.id),
      ["cldap"],
    );
    assert.deepEqual(
      catalog.byPort(389, "tcp").map((s) => s.id),
      ["ldap"],
    );
    assert.deepEqual(
      catalog.byPort(2049, "udp").map((s) => s.id),
      ["nfs"],
    );
  });

  it("finds services by exact process name", () => {
    assert.deepEqual(
      catalog.byProcess("memcached").map((s) => s.id),
      ["memcached"],
    );
    assert.ok(catalog.byProcess("java").length > 3);
    assert.deepEqual(catalog.byProcess("Memcached"), []);
  });

  it("lists services sharing a port in catalog order", () => {
    const tiny = buildCatalog([service("a", ["80/tcp"], ["x"]), service("b", ["70-90/tcp"], ["y"])]);
    assert.deepEqual(
      tiny.byPort(80, "tcp").map((s) => s.id),
      ["a", "b"],
    );
    assert.equal(tiny.byId("b")?.ports[0], "70-90/tcp");
  });

  it("parses port specs", () => {
    assert.deepEqual(parsePortSpec("6000-6063/tcp"), { start: 6000, end: 6063, protocol: "tcp" });
    assert.deepEqual(parsePortSpec("53/udp"), { start: 53, end: 53, protocol: "udp" });
  });
});

describe("identify", () => {
  it("tells 8080 apart by process: java is Tomcat, python3 a development server", () => {
    assert.equal(catalog.identify(8080, "tcp", "java")?.id, "tomcat");
    assert.equal(catalog.identify(8080, "tcp", "python3")?.id, "http-alt");
    assert.equal(catalog.identify(8080, "tcp", "node")?.id, "http-alt");
  });

  it("tells 9090 apart: prometheus vs cockpit (socket-activated, owned by systemd)", () => {
    assert.equal(catalog.identify(9090, "tcp", "prometheus")?.id, "prometheus");
    assert.equal(catalog.identify(9090, "tcp", "cockpit-tls")?.id, "cockpit");
    assert.equal(catalog.identify(9090, "tcp", "systemd")?.id, "cockpit");
  });

  it("tells the DNS servers on 53 apart", () => {
    assert.equal(catalog.identify(53, "udp", "named")?.id, "dns");
    assert.equal(catalog.identify(53, "udp", "dnsmasq")?.id, "dnsmasq");
    assert.equal(catalog.identify(53, "udp", "unbound")?.id, "unbound");
    assert.equal(catalog.identify(53, "udp", "systemd-resolve")?.id, "systemd-resolved");
    assert.equal(catalog.identify(123, "udp", "chronyd")?.id, "chrony");
    assert.equal(catalog.identify(123, "udp", "ntpd")?.id, "ntp");
  });

  it("matches a known daemon on a port the catalog does not list for it", () => {
    assert.equal(catalog.identify(7000, "tcp", "redis-server")?.id, "redis");
    assert.equal(catalog.identify(2222, "tcp", "sshd")?.id, "ssh");
    assert.equal(catalog.identify(12345, "udp", "memcached")?.id, "memcached");
  });

  it("does not guess from a generic runtime alone", () => {
    assert.equal(catalog.identify(12345, "tcp", "java"), undefined);
    assert.equal(catalog.identify(12345, "tcp", "python3"), undefined);
    assert.equal(catalog.identify(12345, "tcp"), undefined);
  });

  it("falls back to the port's first entry when the owner is unknown or unlisted", () => {
    assert.equal(catalog.identify(11211, "udp")?.id, "memcached");
    assert.equal(catalog.identify(8080, "tcp")?.id, "http-alt");
    assert.equal(catalog.identify(80, "tcp", "varnishd")?.id, "http");
    assert.equal(catalog.identify(80, "tcp", "")?.id, "http");
  });
});
