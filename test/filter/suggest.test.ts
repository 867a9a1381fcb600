import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classify } from "../../src/audit/classify.js";
import { loadCatalog } from "../../src/catalog/load.js";
import { InputError } from "../../src/errors.js";
import { evaluate } from "../../src/filter/evaluate.js";
import { parseFilter, renderFilterYaml } from "../../src/filter/load.js";
import { suggestFilter } from "../../src/filter/suggest.js";
import type { Packet } from "../../src/filter/types.js";
import { parseSs } from "../../src/host/ss.js";
import { parseCidr } from "../../src/net/cidr.js";
import { runMoat } from "../helpers/moat.js";

const catalog = await loadCatalog();
const SS = `Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=700,fd=3))
tcp   LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=700,fd=4))
tcp   LISTEN 0      511          0.0.0.0:443        0.0.0.0:*    users:(("nginx",pid=800,fd=6))
tcp   LISTEN 0      80           0.0.0.0:3306       0.0.0.0:*    users:(("mariadbd",pid=900,fd=20))
udp   UNCONN 0      0            0.0.0.0:11211      0.0.0.0:*    users:(("memcached",pid=950,fd=27))
tcp   LISTEN 0      128        127.0.0.1:6379       0.0.0.0:*    users:(("redis-server",pid=990,fd=6))
`;
const findings = classify(
  { source: "t", host: "h", sockets: parseSs(SS, "ss.txt"), warnings: [] },
  catalog,
  new Date(0),
).findings;

function packet(protocol: "tcp" | "udp", source: string, port: number): Packet {
  const family = source.includes(":") ? "ipv6" : "ipv4";
  const destination = family === "ipv4" ? "198.51.100.10" : "2001:db8::10";
  return { protocol, family, source, destination, sourcePort: 40000, destinationPort: port, fragment: false };
}

describe("moat filter suggest", () => {
  const admin = [parseCidr("203.0.113.0/24")];
  const filter = suggestFilter(findings, catalog, { admin, mode: "stateful", name: "host" });

  it("keeps public services open, admin only from --admin, and denies the rest", () => {
    const verdict = (p: Packet) => evaluate(filter, p).verdict;
    assert.equal(verdict(packet("tcp", "192.0.2.50", 443)), "allow");
    assert.equal(verdict(packet("tcp", "203.0.113.9", 22)), "allow");
    assert.equal(verdict(packet("tcp", "192.0.2.50", 22)), "deny");
    assert.equal(verdict(packet("tcp", "2001:db8:ffff::1", 22)), "deny");
    assert.equal(verdict(packet("tcp", "192.0.2.50", 3306)), "deny");
    assert.equal(verdict(packet("udp", "192.0.2.50", 11211)), "deny");
    assert.match(filter.description ?? "", /Denied by default: .*11211\/udp.*MySQL.*3306\/tcp/);
    assert.doesNotMatch(filter.description ?? "", /6379/); // loopback-only Redis is nobody's business
  });

  it("refuses to lock the admin out when an admin service listens and no --admin is given", () => {
    assert.throws(
      () => suggestFilter(findings, catalog, { admin: [], mode: "stateful", name: "host" }),
      (e: unknown) => e instanceof InputError && /--admin/.test(e.message) && /SSH|ssh/.test(e.message),
    );
  });

  it("stateless mode adds the return traffic and fragment rules a cloud filter needs", () => {
    const cloud = suggestFilter(findings, catalog, { admin, mode: "stateless", name: "cloud" });
    const reply = packet("udp", "192.0.2.53", 45000);
    assert.equal(evaluate(cloud, reply).verdict, "allow");
    assert.equal(evaluate(filter, reply).verdict, "deny");
    assert.ok(cloud.rules.some((r) => r.protocol === "fragment"));
  });

  it("writes a file that reads back into the same filter", () => {
    const again = parseFilter(renderFilterYaml(filter), "host.yaml");
    assert.deepEqual(
      again.rules.map((r) => ({ ...r, line: null })),
      filter.rules,
    );
  });

  it("runs from the command line on ss text, and the result passes moat filter check", async () => {
    const result = await runMoat(["filter", "suggest", "--ss", "-", "--admin", "203.0.113.0/24"], {
      input: SS,
    });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.ok(lines.some((l) => l.includes("destinationPort: 443")));
    const refused = await runMoat(["filter", "suggest", "--ss", "-"], { input: SS });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--admin NETWORK/);
  });
});
