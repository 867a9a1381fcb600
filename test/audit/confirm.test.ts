/** The audit join: findings x scan results from a vantage point (src/audit/confirm.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { confirmFromOutside, type OutsideResult, reachedAt } from "../../src/audit/confirm.js";
import type { Finding } from "../../src/audit/types.js";
import { parseIpAddrJson, parseScanLine } from "../../src/audit/vantage.js";

function finding(
  protocol: "tcp" | "udp",
  address: string,
  port: number,
  exposure: Finding["exposure"],
): Finding {
  return {
    protocol,
    family: address.includes(":") ? "ipv6" : "ipv4",
    address,
    port,
    scope: exposure === "local" ? "loopback" : "all",
    netns: "web1",
    process: null,
    service: null,
    exposure,
    severity: "medium",
    risks: [],
    reasons: ["It listens."],
    fix: [],
  };
}

function result(
  ip: string,
  protocol: "tcp" | "udp",
  port: number,
  state: OutsideResult["state"],
  amplification: number | null = null,
): OutsideResult {
  return { ip, protocol, port, state, amplification, fields: state === "open" ? { version: "1.6.18" } : {} };
}

const FROM = "netns:probe";

describe("confirmFromOutside", () => {
  it("marks an answering wildcard socket open, with amplification, fields and a reason", () => {
    const [udp] = confirmFromOutside([finding("udp", "0.0.0.0", 11211, "exposed")], {
      from: FROM,
      results: [
        result("192.0.2.2", "udp", 11211, "open", 30.5),
        result("2001:db8::2", "udp", 11211, "closed"),
      ],
    });
    assert.deepEqual(udp!.outside, {
      state: "open",
      from: FROM,
      address: "192.0.2.2",
      amplification: 30.5,
      fields: { version: "1.6.18" },
    });
    assert.equal(
      udp!.reasons.at(-1),
      "Confirmed from netns:probe: it answered at 192.0.2.2 (amplification 30.5x).",
    );
    assert.equal(udp!.exposure, "exposed");
  });

  it("keeps exposure as computed when nothing answers, and says so", () => {
    const [tcp] = confirmFromOutside([finding("tcp", "0.0.0.0", 11211, "blocked")], {
      from: FROM,
      results: [result("192.0.2.2", "tcp", 11211, "filtered")],
    });
    assert.equal(tcp!.outside?.state, "filtered");
    assert.equal(tcp!.outside?.amplification, undefined);
    assert.equal(tcp!.exposure, "blocked");
    assert.match(tcp!.reasons.at(-1)!, /^Not reachable from netns:probe: filtered at 192\.0\.2\.2/);
  });

  it("says when a blocked socket answers anyway", () => {
    const [tcp] = confirmFromOutside([finding("tcp", "0.0.0.0", 22, "blocked")], {
      from: FROM,
      results: [result("192.0.2.2", "tcp", 22, "open")],
    });
    assert.match(tcp!.reasons.at(-1)!, /the firewall rules read back say it is blocked/);
  });

  it("never touches local findings, nor findings no result is for", () => {
    const local = finding("udp", "127.0.0.1", 11211, "local");
    const other = finding("tcp", "0.0.0.0", 8080, "exposed");
    const out = confirmFromOutside([local, other], {
      from: FROM,
      results: [result("127.0.0.1", "udp", 11211, "open"), result("192.0.2.2", "tcp", 80, "open")],
    });
    assert.equal(out[0], local);
    assert.equal(out[1], other);
  });

  it("matches a bound address exactly, IPv4-mapped forms included", () => {
    const out = confirmFromOutside([finding("tcp", "::ffff:192.0.2.2", 80, "exposed")], {
      from: FROM,
      results: [result("192.0.2.3", "tcp", 80, "open"), result("192.0.2.2", "tcp", 80, "closed")],
    });
    assert.equal(out[0]!.outside?.state, "closed");
    assert.equal(out[0]!.outside?.address, "192.0.2.2");
  });
});

describe("reachedAt", () => {
  const hosts = ["192.0.2.2", "2001:db8::2"];

  it("reaches :: at IPv4 addresses too, unless a 0.0.0.0 socket on the port takes them", () => {
    const alone = finding("tcp", "::", 80, "exposed");
    assert.deepEqual(reachedAt([alone], hosts).get(alone), hosts);
    const v6 = finding("tcp", "::", 443, "exposed");
    const v4 = finding("tcp", "0.0.0.0", 443, "exposed");
    const plan = reachedAt([v6, v4], hosts);
    assert.deepEqual(plan.get(v6), ["2001:db8::2"]);
    assert.deepEqual(plan.get(v4), ["192.0.2.2"]);
  });

  it("plans nothing for local findings", () => {
    assert.equal(reachedAt([finding("udp", "127.0.0.1", 11211, "local")], hosts).size, 0);
  });
});

describe("vantage parsers", () => {
  it("reads addresses from ip -j addr show", () => {
    const text = JSON.stringify([
      { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1" }] },
      {
        ifname: "eth0",
        addr_info: [
          { family: "inet", local: "192.0.2.2" },
          { family: "inet6", local: "fe80::1" },
        ],
      },
      { ifname: "dummy0" },
    ]);
    assert.deepEqual(parseIpAddrJson(text), ["127.0.0.1", "192.0.2.2", "fe80::1"]);
    assert.throws(() => parseIpAddrJson("Object not found"), /JSON list/);
  });

  it("reads a moat scan --json line and rejects anything else", () => {
    const line = JSON.stringify({
      ip: "192.0.2.2",
      protocol: "udp",
      port: 11211,
      state: "open",
      service: "memcached",
      amplification: 30.5,
      fields: { version: "1.6.18" },
    });
    assert.deepEqual(parseScanLine(line, 1), {
      ip: "192.0.2.2",
      protocol: "udp",
      port: 11211,
      state: "open",
      amplification: 30.5,
      fields: { version: "1.6.18" },
    });
    assert.throws(() => parseScanLine("{", 2), /line 2: not JSON/);
    assert.throws(() => parseScanLine(line.replace('"open"', '"up"'), 3), /no state/);
  });
});
