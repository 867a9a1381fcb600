import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadCatalog } from "../../src/catalog/load.js";
import { lookup, parseQuery } from "../../src/catalog/query.js";
import { InputError } from "../../src/errors.js";

const catalog = await loadCatalog();
const ids = (query: string) => lookup(catalog, query).map((s) => s.id);

describe("parseQuery", () => {
  it("reads ports, with or without a protocol", () => {
    assert.deepEqual(parseQuery("11211"), { kind: "port", port: 11211, protocols: ["tcp", "udp"] });
    assert.deepEqual(parseQuery("11211/udp"), { kind: "port", port: 11211, protocols: ["udp"] });
    assert.deepEqual(parseQuery(" 53/TCP "), { kind: "port", port: 53, protocols: ["tcp"] });
    assert.deepEqual(parseQuery("65535"), { kind: "port", port: 65535, protocols: ["tcp", "udp"] });
  });

  it("reads names", () => {
    assert.deepEqual(parseQuery("memcached"), { kind: "name", text: "memcached" });
    assert.deepEqual(parseQuery("beam.smp"), { kind: "name", text: "beam.smp" });
  });

  for (const bad of ["0", "70000", "65536", "/xyz", "11211/sctp", "80/", "x/udp", "", "   ", "12ab", "-1"]) {
    it(`rejects ${JSON.stringify(bad)} with an InputError`, () => {
      assert.throws(
        () => parseQuery(bad),
        (error: unknown) => error instanceof InputError && /not a catalog query/.test(error.message),
      );
    });
  }
});

describe("lookup", () => {
  it("finds by port across protocols, in catalog order", () => {
    assert.deepEqual(ids("11211"), ["memcached"]);
    assert.deepEqual(ids("389"), ["ldap", "cldap"]);
    assert.deepEqual(ids("389/udp"), ["cldap"]);
    assert.deepEqual(ids("8080").slice(0, 3), ["http-alt", "tomcat", "jenkins"]);
  });

  it("finds by id, name or process, ignoring case", () => {
    assert.deepEqual(ids("memcached"), ["memcached"]);
    assert.deepEqual(ids("MySQL"), ["mysql"]);
    assert.deepEqual(ids("mariadbd"), ["mysql"]);
    assert.deepEqual(ids("mysql / mariadb"), ["mysql"]);
    assert.ok(ids("beam.smp").includes("rabbitmq"));
    assert.ok(ids("beam.smp").includes("couchdb"));
  });

  it("falls back to part of an id or name", () => {
    assert.deepEqual(ids("maria"), ["mysql"]);
    assert.deepEqual(ids("node_exp"), ["node-exporter"]);
  });

  it("returns nothing for an unknown name or port", () => {
    assert.deepEqual(ids("no-such-service"), []);
    assert.deepEqual(ids("40404"), []);
  });
});
