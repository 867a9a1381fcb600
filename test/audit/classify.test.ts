import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { classify } from "../../src/audit/classify.js";
import { filterGate } from "../../src/audit/gates.js";
import { SEVERITIES } from "../../src/audit/types.js";
import { loadCatalog } from "../../src/catalog/load.js";
import { parseFilter } from "../../src/filter/load.js";
import type { ProcessInfo, Socket, SocketTable } from "../../src/host/types.js";

const catalog = await loadCatalog();
const now = new Date("2026-11-23T10:00:00Z");

function proc(name: string, pid: number, cmdline: string | null, unit: string | null = null): ProcessInfo {
  return { name, pid, cmdline, unit };
}

function sock(partial: Partial<Socket> & Pick<Socket, "protocol" | "address" | "port">): Socket {
  return {
    family: partial.address.includes(":") ? "ipv6" : "ipv4",
    device: null,
    inode: null,
    netns: null,
    processes: [],
    ownerUnknown: null,
    ...partial,
  };
}

function table(sockets: Socket[]): SocketTable {
  return { source: "test", host: "h", sockets, warnings: [] };
}

const memcachedOpen = proc(
  "memcached",
  5088,
  "/usr/bin/memcached -m 64 -p 11211 -U 11211 -l 0.0.0.0",
  "memcached.service",
);

describe("classify: memcached gets special care", () => {
  const report = classify(
    table([
      sock({ protocol: "tcp", address: "0.0.0.0", port: 11211, processes: [memcachedOpen] }),
      sock({ protocol: "udp", address: "0.0.0.0", port: 11211, processes: [memcachedOpen] }),
    ]),
    catalog,
    now,
  );
  const udp = report.findings.find((f) => f.protocol === "udp")!;
  const tcp = report.findings.find((f) => f.protocol === "tcp")!;

  it("the UDP socket is an exposed critical reflector", () => {
    assert.equal(udp.severity, "critical");
    assert.equal(udp.exposure, "exposed");
    assert.equal(udp.scope, "all");
    assert.deepEqual(udp.service, { id: "memcached", name: catalog.byId("memcached")!.name });
    assert.deepEqual(udp.process, { name: "memcached", pid: 5088, unit: "memcached.service" });
    assert.ok(udp.risks.some((r) => r.kind === "reflection" && (r.amplification ?? 0) >= 10000));
  });

  it("says UDP on, all addresses and no SASL, each in its own sentence", () => {
    assert.equal(udp.reasons.filter((r) => /^UDP is on/.test(r)).length, 1);
    assert.equal(udp.reasons.filter((r) => /all addresses \(0\.0\.0\.0\)/.test(r)).length, 1);
    assert.equal(udp.reasons.filter((r) => /SASL authentication is off/.test(r)).length, 1);
    assert.ok(tcp.reasons.some((r) => /UDP is on too \(11211\/udp\)/.test(r)));
  });

  it("the fix names -l 127.0.0.1, -U 0, the config file and the unit to restart", () => {
    const fix = udp.fix.join("\n");
    assert.match(fix, /\/etc\/memcached\.conf.* -l 127\.0\.0\.1/);
    assert.match(fix, /\/etc\/memcached\.conf.* -U 0/);
    assert.ok(udp.fix.includes("systemctl restart memcached.service"));
  });

  it("with -S, SASL is not reported", () => {
    const sasl = proc("memcached", 9, "memcached -S -l 0.0.0.0");
    const r = classify(
      table([sock({ protocol: "tcp", address: "0.0.0.0", port: 11211, processes: [sasl] })]),
      catalog,
      now,
    );
    assert.ok(!r.findings[0]!.reasons.some((x) => /SASL/.test(x)));
    assert.ok(!r.findings[0]!.reasons.some((x) => /UDP/.test(x)));
  });

  it("memcached on loopback only is local and info, with nothing to fix", () => {
    const r = classify(
      table([
        sock({
          protocol: "tcp",
          address: "127.0.0.1",
          port: 11211,
          processes: [proc("memcached", 7, "memcached -l 127.0.0.1 -U 0")],
        }),
      ]),
      catalog,
      now,
    );
    assert.equal(r.findings[0]!.exposure, "local");
    assert.equal(r.findings[0]!.severity, "info");
    assert.deepEqual(r.findings[0]!.fix, []);
  });
});

describe("classify: the general cases", () => {
  it("an unknown program on all addresses is a medium finding telling how to identify it", () => {
    const r = classify(
      table([
        sock({
          protocol: "tcp",
          address: "::",
          port: 47113,
          processes: [proc("mystery", 4242, "mystery --serve")],
        }),
      ]),
      catalog,
      now,
    );
    const f = r.findings[0]!;
    assert.equal(f.service, null);
    assert.equal(f.severity, "medium");
    assert.equal(f.scope, "all");
    assert.equal(f.family, "ipv6");
    assert.ok(f.fix.includes("ls -l /proc/4242/exe"));
  });

  it("a socket without a visible owner says why and how to find it", () => {
    const r = classify(
      table([
        sock({
          protocol: "udp",
          address: "0.0.0.0",
          port: 47114,
          ownerUnknown: "owner not visible: run moat as root",
        }),
      ]),
      catalog,
      now,
    );
    const f = r.findings[0]!;
    assert.equal(f.process, null);
    assert.ok(f.reasons.includes("owner not visible: run moat as root"));
    assert.ok(f.fix.includes("ss -ulpn 'sport = :47114'"));
  });

  it("an IPv4-mapped loopback bind is loopback, a link-local bind is link-local", () => {
    const r = classify(
      table([
        sock({ protocol: "tcp", address: "::ffff:127.0.0.1", port: 6379 }),
        sock({ protocol: "udp", address: "fe80::1", port: 5353, device: "eth0" }),
      ]),
      catalog,
      now,
    );
    assert.deepEqual(
      r.findings.map((f) => [f.port, f.scope, f.exposure]),
      [
        [5353, "link-local", "local"],
        [6379, "loopback", "local"],
      ],
    );
  });

  it("the unit the process really runs under is the one to restart", () => {
    const r = classify(
      table([
        sock({
          protocol: "tcp",
          address: "0.0.0.0",
          port: 6379,
          processes: [proc("redis-server", 3, "redis-server *:6379", "redis-custom.service")],
        }),
      ]),
      catalog,
      now,
    );
    assert.ok(r.findings[0]!.fix.includes("systemctl restart redis-custom.service"));
    assert.equal(r.findings[0]!.service?.id, "redis");
  });

  it("the summary counts every finding once, worst first", () => {
    const port = fc.integer({ min: 1, max: 65535 });
    const address = fc.constantFrom(
      "0.0.0.0",
      "::",
      "127.0.0.1",
      "::1",
      "10.1.1.1",
      "203.0.113.4",
      "fe80::2",
    );
    const socket = fc.record({ protocol: fc.constantFrom("tcp" as const, "udp" as const), address, port });
    fc.assert(
      fc.property(fc.array(socket, { maxLength: 40 }), (specs) => {
        const r = classify(table(specs.map((s) => sock(s))), catalog, now);
        assert.equal(r.findings.length, specs.length);
        assert.equal(
          SEVERITIES.reduce((n, s) => n + r.summary[s], 0),
          specs.length,
        );
        const ranks = r.findings.map((f) => SEVERITIES.indexOf(f.severity));
        assert.deepEqual(
          ranks,
          [...ranks].sort((a, b) => a - b),
        );
        for (const f of r.findings) {
          assert.equal(f.exposure === "exposed", f.scope === "all" || f.scope === "public");
          assert.equal(f.fix.length === 0, f.severity === "info");
        }
      }),
    );
  });

  it("orders findings by severity, port, protocol, address, namespace (as a plain sort would)", () => {
    // Few ports and namespaces, so that many findings tie on severity and port.
    const socket = fc.record({
      protocol: fc.constantFrom("tcp" as const, "udp" as const),
      address: fc.constantFrom("0.0.0.0", "::", "127.0.0.1", "::1", "10.1.1.1", "203.0.113.4"),
      port: fc.constantFrom(22, 53, 11211, 40000),
      netns: fc.constantFrom(null, "a", "b"),
    });
    const key = (f: {
      severity: string;
      port: number;
      protocol: string;
      address: string;
      netns: string | null;
    }) => [
      SEVERITIES.indexOf(f.severity as (typeof SEVERITIES)[number]),
      f.port,
      f.protocol,
      f.address,
      f.netns ?? "",
    ];
    fc.assert(
      fc.property(fc.array(socket, { maxLength: 60 }), (specs) => {
        const r = classify(table(specs.map((s) => sock(s))), catalog, now);
        const expected = [...r.findings].sort((a, b) => {
          const [ka, kb] = [key(a), key(b)];
          for (let i = 0; i < ka.length; i++) {
            const x = ka[i]!;
            const y = kb[i]!;
            const d = typeof x === "number" ? x - (y as number) : x.localeCompare(y as string);
            if (d !== 0) return d;
          }
          return 0;
        });
        assert.deepEqual(r.findings.map(key), expected.map(key));
      }),
    );
  });
});

describe("classify: the order of a finding's reasons", () => {
  // A LAN-only service reached through a filter that lets one network in, with no visible owner:
  // every kind of note a finding can carry, each in its place.
  const gate = filterGate(
    parseFilter(
      `name: lan
mode: stateless
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp, source: 203.0.113.0/24, destinationPort: 6379 }
  - { action: allow, protocol: udp, source: 203.0.113.0/24, destinationPort: 47114 }
`,
      "lan.yaml",
    ),
    "lan.yaml",
  );
  const owner = "owner not visible: run moat as root";
  const r = classify(
    table([
      sock({ protocol: "tcp", address: "0.0.0.0", port: 6379, ownerUnknown: owner }),
      sock({ protocol: "udp", address: "0.0.0.0", port: 47114, ownerUnknown: owner }),
      sock({ protocol: "udp", address: "0.0.0.0", port: 47115 }),
    ]),
    catalog,
    now,
    [gate],
  );
  const byPort = (port: number) => r.findings.find((f) => f.port === port)!;

  it("where it listens, what the filter lets in, whom it is meant for, its risks, then the owner", () => {
    const redis = byPort(6379);
    const risks = catalog.byId("redis")!.risks.filter((k) => k.protocol !== "udp").length;
    assert.equal(redis.exposure, "restricted");
    assert.match(redis.reasons[0]!, /^It listens on all IPv4 addresses/);
    assert.match(redis.reasons[1]!, /^Reachable only from 203\.0\.113\.0\/24/);
    assert.match(redis.reasons[2]!, /is meant for a private network, not the internet/);
    assert.equal(redis.reasons.length, 3 + risks + 1);
    assert.equal(redis.reasons.at(-1), owner);
  });

  it("an unknown program: where, the filter, the unknown port, then the owner", () => {
    const unknown = byPort(47114);
    assert.equal(unknown.reasons.length, 4);
    assert.match(unknown.reasons[1]!, /^Reachable only from 203\.0\.113\.0\/24/);
    assert.match(unknown.reasons[2]!, /^No service Moat knows uses 47114\/udp/);
    assert.equal(unknown.reasons[3], owner);
  });

  it("an unknown program the filter drops is blocked, with nothing said of the unknown port", () => {
    const dropped = byPort(47115);
    assert.equal(dropped.exposure, "blocked");
    assert.match(dropped.reasons[0]!, /^It listens on all IPv4 addresses/);
    assert.equal(dropped.reasons.length, 2);
  });
});
