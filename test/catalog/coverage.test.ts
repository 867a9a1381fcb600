/** The catalog covers every port the advisories and the reflector list name, with the facts they give. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadCatalog } from "../../src/catalog/load.js";
import type { Protocol } from "../../src/host/types.js";

const catalog = await loadCatalog();

/** reference/exposure-advisories.md: ports default installs leave open. */
const ADVISORY_PORTS: Array<[number, Protocol]> = [
  [8080, "tcp"],
  [8081, "tcp"],
  [8888, "tcp"],
  [111, "tcp"],
  [111, "udp"],
  [5353, "udp"],
  [27017, "tcp"],
  [137, "udp"],
  [445, "tcp"],
  [23, "tcp"],
  [3306, "tcp"],
  [2049, "tcp"],
  [11211, "tcp"],
  [11211, "udp"],
  [80, "tcp"],
  [25, "tcp"],
  [110, "tcp"],
  [68, "udp"],
  [22, "tcp"],
  [123, "udp"],
];

/** reference/reflectors.md: port and the lowest factor reported there. */
const REFLECTORS: Array<[number, number]> = [
  [11211, 10000],
  [123, 556.9],
  [53, 28],
  [19, 358.8],
  [17, 140.3],
  [1900, 30.8],
  [161, 6.3],
  [137, 3.8],
  [111, 7],
  [389, 56],
  [5353, 2],
  [520, 131],
  [69, 60],
  [3702, 1],
  [5683, 10],
];

/** Services the catalog promises beyond the two reference lists, by one port each. */
const ALSO: Array<[string, number, Protocol]> = [
  ["redis", 6379, "tcp"],
  ["postgresql", 5432, "tcp"],
  ["elasticsearch", 9200, "tcp"],
  ["elasticsearch", 9300, "tcp"],
  ["opensearch", 9200, "tcp"],
  ["couchdb", 5984, "tcp"],
  ["cassandra", 9042, "tcp"],
  ["cassandra", 7000, "tcp"],
  ["etcd", 2379, "tcp"],
  ["etcd", 2380, "tcp"],
  ["zookeeper", 2181, "tcp"],
  ["kafka", 9092, "tcp"],
  ["rabbitmq", 5672, "tcp"],
  ["rabbitmq", 15672, "tcp"],
  ["rabbitmq", 25672, "tcp"],
  ["epmd", 4369, "tcp"],
  ["docker-api", 2375, "tcp"],
  ["docker-api", 2376, "tcp"],
  ["kubelet", 10250, "tcp"],
  ["kubelet", 10255, "tcp"],
  ["kube-apiserver", 6443, "tcp"],
  ["rdp", 3389, "tcp"],
  ["vnc", 5900, "tcp"],
  ["vnc", 5910, "tcp"],
  ["x11", 6000, "tcp"],
  ["x11", 6063, "tcp"],
  ["rsync", 873, "tcp"],
  ["jupyter", 8888, "tcp"],
  ["prometheus", 9090, "tcp"],
  ["cockpit", 9090, "tcp"],
  ["node-exporter", 9100, "tcp"],
  ["grafana", 3000, "tcp"],
  ["ldap", 389, "tcp"],
  ["ldap", 636, "tcp"],
  ["cldap", 389, "udp"],
  ["ipmi", 623, "udp"],
  ["ftp", 21, "tcp"],
  ["submission", 587, "tcp"],
  ["imap", 143, "tcp"],
  ["imap", 993, "tcp"],
  ["pop3", 995, "tcp"],
  ["http", 443, "tcp"],
  ["netbios", 138, "udp"],
  ["smb", 139, "tcp"],
  ["nfs-mountd", 20048, "tcp"],
  ["cups", 631, "tcp"],
  ["daytime", 13, "udp"],
  ["echo", 7, "udp"],
  ["hadoop-hdfs", 9870, "tcp"],
  ["hadoop-hdfs", 8020, "tcp"],
  ["influxdb", 8086, "tcp"],
  ["consul", 8500, "tcp"],
  ["consul", 8301, "udp"],
  ["nomad", 4646, "tcp"],
  ["solr", 8983, "tcp"],
  ["mssql", 1433, "tcp"],
  ["mssql", 1434, "udp"],
  ["oracle", 1521, "tcp"],
  ["webmin", 10000, "tcp"],
  ["tomcat", 8080, "tcp"],
  ["jenkins", 8080, "tcp"],
  ["kibana", 5601, "tcp"],
  ["minio", 9000, "tcp"],
  ["nats", 4222, "tcp"],
  ["sip", 5060, "udp"],
  ["openvpn", 1194, "udp"],
  ["wireguard", 51820, "udp"],
  ["ubiquiti-discovery", 10001, "udp"],
  ["mysql", 3306, "tcp"],
  ["mongodb", 27017, "tcp"],
];

describe("catalog coverage", () => {
  for (const [port, protocol] of ADVISORY_PORTS) {
    it(`advisory port ${port}/${protocol} has a service`, () => {
      assert.ok(catalog.byPort(port, protocol).length > 0);
    });
  }

  for (const [port, lowest] of REFLECTORS) {
    it(`reflector ${port}/udp has a UDP reflection risk with an amplification factor`, () => {
      const services = catalog.byPort(port, "udp");
      assert.ok(services.length > 0, "no service");
      const risks = services.flatMap((s) => s.risks).filter((r) => r.kind === "reflection");
      assert.ok(risks.length > 0, "no reflection risk");
      for (const risk of risks) {
        assert.equal(risk.protocol, "udp");
        assert.ok(
          risk.amplification !== undefined && risk.amplification >= lowest,
          `factor ${risk.amplification}`,
        );
      }
    });
  }

  it("memcached carries the advisories' facts", () => {
    const memcached = catalog.byId("memcached")!;
    const reflection = memcached.risks.find((r) => r.kind === "reflection")!;
    assert.equal(reflection.amplification, 51000);
    assert.equal(memcached.fix.unit, "memcached.service");
    const listen = memcached.fix.config.find((c) => c.key === "-l")!;
    assert.equal(listen.file, "/etc/memcached.conf");
    assert.equal(listen.rhelFile, "/etc/sysconfig/memcached");
    assert.equal(listen.value, "127.0.0.1");
    assert.match(listen.note ?? "", /OPTIONS="-l 127\.0\.0\.1 -U 0"/);
    assert.equal(memcached.fix.config.find((c) => c.key === "-U")?.value, "0");
  });

  it("SSH is public but carries a remote-admin risk", () => {
    const ssh = catalog.byId("ssh")!;
    assert.equal(ssh.scope, "public");
    assert.ok(ssh.risks.some((r) => r.kind === "remote-admin"));
  });

  for (const [id, port, protocol] of ALSO) {
    it(`${id} is found on ${port}/${protocol}`, () => {
      assert.ok(
        catalog.byPort(port, protocol).some((s) => s.id === id),
        catalog
          .byPort(port, protocol)
          .map((s) => s.id)
          .join(","),
      );
    });
  }
});
