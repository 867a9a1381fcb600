import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { filterGate } from "../../src/audit/gates.js";
import { reachability } from "../../src/audit/reachability.js";
import { evaluate } from "../../src/filter/evaluate.js";
import { parseFilter } from "../../src/filter/load.js";
import type { Socket } from "../../src/host/types.js";
import { cidrContains, parseCidr } from "../../src/net/cidr.js";

function socket(protocol: "tcp" | "udp", address: string, port: number): Socket {
  const family = address.includes(":") ? "ipv6" : "ipv4";
  return {
    protocol,
    family,
    address,
    port,
    device: null,
    inode: null,
    netns: null,
    processes: [],
    ownerUnknown: null,
  };
}

const WEB = parseFilter(
  `name: web
mode: stateless
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp, destinationPort: 80 }
  - { action: allow, protocol: tcp, source: ["203.0.113.0/24", "2001:db8:1::/48"], destinationPort: 22 }
  - { action: deny, protocol: udp, destinationPort: 11211, description: memcached }
  - { action: allow, protocol: udp, source: 198.51.100.7, destinationPort: 11211 }
`,
  "web.yaml",
);

describe("reachability through a packet filter", () => {
  const gate = filterGate(WEB, "web.yaml");

  it("a port every source may reach is exposed", () => {
    assert.equal(reachability(socket("tcp", "0.0.0.0", 80), [gate]).exposure, "exposed");
  });

  it("SSH from the admin networks only is restricted, and names them", () => {
    const r = reachability(socket("tcp", "::", 22), [gate]);
    assert.equal(r.exposure, "restricted");
    assert.match(r.reasons[0]!, /^Reachable only from 203\.0\.113\.0\/24, 2001:db8:1::\/48;/);
  });

  it("a port the filter drops from everywhere is blocked, naming the deciding rule", () => {
    const r = reachability(socket("udp", "0.0.0.0", 11211), [gate]);
    assert.equal(r.exposure, "blocked");
    assert.match(r.reasons[0]!, /rule 3 \("memcached"\)/);
  });

  it("an IPv4-only filter leaves IPv6 open on a dual-stack socket", () => {
    const v4only = parseFilter("name: v4\nfamilies: [ipv4]\ndefault: deny\nrules: []\n", "v4.yaml");
    assert.equal(
      reachability(socket("tcp", "0.0.0.0", 3306), [filterGate(v4only, "v4.yaml")]).exposure,
      "blocked",
    );
    const dual = reachability(socket("tcp", "::", 3306), [filterGate(v4only, "v4.yaml")]);
    assert.equal(dual.exposure, "restricted");
    assert.match(dual.reasons[0]!, /::\/0|2000::|::/);
  });

  it("one set of gates judges each family on its own (the no-rules answer is cached per set of gates)", () => {
    const v6only = parseFilter("name: v6\nfamilies: [ipv6]\ndefault: deny\nrules: []\n", "v6.yaml");
    const gates = [filterGate(v6only, "v6.yaml")];
    const v4 = reachability(socket("tcp", "192.0.2.5", 3306), gates);
    assert.equal(v4.exposure, "exposed");
    assert.match(v4.reasons[0]!, /^Reachable from anywhere: /);
    assert.equal(reachability(socket("tcp", "2001:db8::5", 3306), gates).exposure, "blocked");
    assert.equal(reachability(socket("tcp", "::", 3306), gates).exposure, "restricted");
    assert.equal(reachability(socket("tcp", "::ffff:192.0.2.5", 3306), gates).exposure, "exposed");
    assert.equal(reachability(socket("tcp", "192.0.2.6", 3306), gates), v4, "one shared answer");
  });

  it("agrees with the filter on random sources: restricted names exactly the sources it lets in", () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
    // Networks on octet boundaries keep the generator simple; the cuts between them are what matters.
    const networks = fc.array(
      fc
        .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.constantFrom(8, 16, 24, 32))
        .map(([a, b, c, p]) => {
          const octets = [a, p >= 16 ? b : 0, p >= 24 ? c : 0, p === 32 ? c : 0];
          return `${octets.join(".")}/${p}`;
        }),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(
        networks,
        fc.boolean(),
        fc.array(v4, { minLength: 5, maxLength: 20 }),
        (nets, allow, probes) => {
          const rules = nets
            .map(
              (n, i) =>
                `  - { action: ${(i % 2 === 0) === allow ? "allow" : "deny"}, protocol: tcp, source: ${n}, destinationPort: 5432 }`,
            )
            .join("\n");
          const filter = parseFilter(
            `name: r\nfamilies: [ipv4]\ndefault: deny\nrules:\n${rules}\n`,
            "r.yaml",
          );
          const r = reachability(socket("tcp", "0.0.0.0", 5432), [filterGate(filter, "r.yaml")]);
          const lets = (source: string) =>
            evaluate(filter, {
              protocol: "tcp",
              family: "ipv4",
              source,
              destination: "0.0.0.0",
              sourcePort: 40000,
              destinationPort: 5432,
              fragment: false,
            }).verdict === "allow";
          const routable = probes.filter((p) => !/^(0|127|22[4-9]|2[3-5]\d)\./.test(p));
          if (r.exposure === "exposed") for (const p of routable) assert.ok(lets(p), p);
          if (r.exposure === "blocked") for (const p of routable) assert.ok(!lets(p), p);
          if (r.exposure === "restricted") {
            const listed = /^Reachable only from (.*?);/.exec(r.reasons[0]!)?.[1] ?? "";
            if (!listed.includes("more networks")) {
              const cidrs = listed.split(", ").map((c) => parseCidr(c));
              for (const p of routable)
                assert.equal(
                  cidrs.some((c) => cidrContains(c, p)),
                  lets(p),
                  p,
                );
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
