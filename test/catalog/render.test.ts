import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadCatalog } from "../../src/catalog/load.js";
import {
  formatPorts,
  renderCatalogDetails,
  renderCatalogJson,
  renderCatalogTable,
} from "../../src/report/catalog.js";

const catalog = await loadCatalog();
const memcached = catalog.byId("memcached")!;
const ESC = "\u001b[";

describe("catalog renderers", () => {
  it("groups ports by protocol", () => {
    assert.equal(formatPorts(["80/tcp", "443/tcp", "443/udp"]), "80,443/tcp 443/udp");
    assert.equal(formatPorts(["6000-6063/tcp"]), "6000-6063/tcp");
  });

  it("lists every service in the table, one line each, without colour when told", () => {
    const text = renderCatalogTable(catalog.services, { color: false });
    assert.ok(!text.includes(ESC));
    const memcachedLine = text.split("\n").find((l) => l.startsWith("memcached "));
    assert.match(memcachedLine ?? "", /11211\/tcp 11211\/udp\s+lan\s+reflection 51,000x, data-exposure$/);
    assert.match(text, new RegExp(`${catalog.services.length} services\\.`));
  });

  it("shows a service's ports, scope, risks with amplification, fix and references", () => {
    const text = renderCatalogDetails([memcached], { color: false });
    for (const part of [
      "Memcached (memcached)",
      "11211/tcp, 11211/udp",
      "Scope:       lan",
      "reflection (udp, amplification 51,000x)",
      "/etc/memcached.conf: -l 127.0.0.1",
      "RHEL/CentOS/Fedora file: /etc/sysconfig/memcached",
      "/etc/memcached.conf: -U 0",
      "systemd unit: memcached.service",
      "https://www.cisa.gov/news-events/alerts/2014/01/17/udp-based-amplification-attacks",
    ]) {
      assert.ok(text.includes(part), `missing: ${part}`);
    }
    assert.ok(!text.includes(ESC));
  });

  it("colours only when asked", () => {
    assert.ok(renderCatalogDetails([memcached], { color: true }).includes(ESC));
    assert.ok(renderCatalogTable([memcached], { color: true }).includes(ESC));
  });

  it("shows the RHEL unit when it differs", () => {
    assert.match(
      renderCatalogDetails([catalog.byId("ssh")!], { color: false }),
      /ssh\.service\s+RHEL: sshd\.service/,
    );
  });

  it("writes JSON as an array of catalog entries", () => {
    const parsed: unknown = JSON.parse(renderCatalogJson([memcached]));
    assert.deepEqual(parsed, [memcached]);
  });
});
