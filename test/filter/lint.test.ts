import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import fc from "fast-check";
import { loadCatalog } from "../../src/catalog/load.js";
import { reportError } from "../../src/cli/errors.js";
import { registerFilterCheck } from "../../src/cli/filter-check.js";
import { compileFilter, newPacketBits, type PacketBits } from "../../src/filter/evaluate.js";
import {
  analyzeFilter,
  CHECKS,
  CLOUD_MAX_RULES,
  LINT_CODES,
  type LintFinding,
  type LintOptions,
  lintFilter,
} from "../../src/filter/lint.js";
import { parseFilter } from "../../src/filter/load.js";
import { instantiatePreset, listPresets } from "../../src/filter/presets.js";
import { addressPoint, CLASS, contains, type Point } from "../../src/filter/space.js";
import { parseSshConnection } from "../../src/filter/ssh-session.js";
import type { Filter, FilterProtocol, FilterRule, PortRange } from "../../src/filter/types.js";
import type { Family } from "../../src/host/types.js";
import { parseAddress, parseCidr } from "../../src/net/cidr.js";
import { renderLintJson, renderLintText } from "../../src/report/lint.js";
import { colors } from "../../src/report/style.js";

const catalog = await loadCatalog();

function filterOf(yaml: string): Filter {
  return parseFilter(yaml, "test.yaml");
}

function lint(filter: Filter, options: Partial<LintOptions> = {}): LintFinding[] {
  return lintFilter(filter, { catalog, ...options });
}

function codes(findings: LintFinding[]): string[] {
  return findings.map((f) => f.code);
}

function only(findings: LintFinding[], code: string): LintFinding {
  const hits = findings.filter((f) => f.code === code);
  assert.equal(hits.length, 1, `expected one ${code} finding, got ${JSON.stringify(findings, null, 1)}`);
  return hits[0]!;
}

/** A filter with none of the problems the linter knows: the negative control for every check. */
const CLEAN = `
name: clean
description: a web server
mode: stateless
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp, destinationPort: [80, 443], description: web }
  - { action: allow, protocol: tcp, source: 203.0.113.0/24, destinationPort: 22, description: ssh from admin }
  - { action: allow, protocol: icmp }
  - { action: allow, protocol: icmpv6 }
  - { action: allow, protocol: fragment }
  - { action: allow, protocol: tcp, destinationPort: 32768-60999, description: return tcp }
  - { action: allow, protocol: udp, destinationPort: 32768-60999, description: return udp }
  - { action: deny, protocol: ip, description: deny all }
`;

describe("lint: a clean filter and the presets have no findings", () => {
  it("the clean filter has none, with an SSH session from the admin network, on nft", () => {
    assert.deepEqual(
      lint(filterOf(CLEAN), { sshConnection: "203.0.113.9 50123 192.0.2.10 22", target: "nft" }),
      [],
    );
  });

  it("every preset has none except ipv6-open where the preset covers IPv4 only", async () => {
    const presets = listPresets();
    assert.ok(presets.length > 0);
    for (const preset of presets) {
      const params: Record<string, string> = {};
      for (const p of preset.parameters) params[p.name] = p.example;
      const filter = await instantiatePreset(preset.name, params);
      const expected = filter.families.includes("ipv6") ? [] : ["ipv6-open"];
      assert.deepEqual(codes(lint(filter)), expected, preset.name);
      assert.deepEqual(codes(lint(filter, { target: "nft" })), expected, preset.name);
      // On the IPv4-only cloud filter IPv6 is always open; nothing else may come up.
      assert.deepEqual(codes(lint(filter, { target: "cloud" })), ["ipv6-open"], `${preset.name} on cloud`);
    }
  });

  it("a preset with SSH from admin keeps a session from the admin network", async () => {
    const filter = await instantiatePreset("linux-unneeded-ports", {
      admin: "198.51.100.0/24",
      ntp: "192.0.2.123",
    });
    assert.ok(
      !codes(lint(filter, { sshConnection: "198.51.100.77 40000 192.0.2.10 22" })).includes("ssh-lockout"),
    );
    const locked = only(lint(filter, { sshConnection: "203.0.113.5 40000 192.0.2.10 22" }), "ssh-lockout");
    assert.equal(locked.severity, "error");
  });
});

describe("lint (a): unreachable rules", () => {
  it("names the earlier rules that decide every packet of the shadowed rule", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4]
default: deny
rules:
  - { action: deny, protocol: tcp, source: 192.0.2.0/25, destinationPort: 22 }
  - { action: allow, protocol: udp, destinationPort: 53 }
  - { action: deny, protocol: tcp, source: 192.0.2.128/25, destinationPort: 20-30 }
  - { action: allow, protocol: tcp, source: 192.0.2.0/24, destinationPort: 22 }
`);
    const finding = only(lint(filter), "unreachable");
    assert.deepEqual(finding.rules, [4]);
    assert.equal(finding.severity, "error");
    assert.match(finding.message, /rules 1 and 3/);
    assert.doesNotMatch(finding.message, /rules? 2\b/);
    assert.match(finding.fix, /Move rule 4 above rule 1/);
  });

  it("exact over sets: two halves cover the whole, a near miss does not", () => {
    const halves = filterOf(`
name: t
mode: stateful
families: [ipv4]
default: deny
rules:
  - { action: allow, protocol: tcp, source: 192.0.2.0/25, destinationPort: 1-1000 }
  - { action: allow, protocol: tcp, source: 192.0.2.128/25, destinationPort: [1-499, 500-1000] }
  - { action: allow, protocol: tcp, source: 192.0.2.0/24, destinationPort: 10-20 }
`);
    const finding = only(lint(halves), "unreachable");
    assert.deepEqual(finding.rules, [3]);
    assert.equal(finding.severity, "warning");
    assert.match(finding.fix, /Delete rule 3/);

    const missOnePort = filterOf(`
name: t
mode: stateful
families: [ipv4]
default: deny
rules:
  - { action: allow, protocol: tcp, source: 192.0.2.0/25, destinationPort: 1-1000 }
  - { action: allow, protocol: tcp, source: 192.0.2.128/25, destinationPort: [1-14, 16-1000] }
  - { action: allow, protocol: tcp, source: 192.0.2.0/24, destinationPort: 10-20 }
`);
    assert.ok(!codes(lint(missOnePort)).includes("unreachable"));
  });

  it("a tcp rule does not shadow later fragment rules; an ip rule with sources shadows all protocols from them", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp }
  - { action: allow, protocol: fragment }
  - { action: deny, protocol: ip, source: 198.51.100.0/24 }
  - { action: deny, protocol: udp, source: 198.51.100.7, destinationPort: 53 }
  - { action: deny, protocol: icmp, source: 198.51.100.0/25 }
`);
    const findings = lint(filter).filter((f) => f.code === "unreachable");
    assert.deepEqual(
      findings.map((f) => f.rules[0]),
      [4, 5],
    );
  });

  it("a rule of a family the filter does not cover never matches", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4]
default: deny
rules:
  - { action: allow, protocol: tcp, source: 2001:db8::/32 }
  - { action: allow, protocol: icmpv6 }
`);
    const findings = lint(filter).filter((f) => f.code === "unreachable");
    assert.deepEqual(
      findings.map((f) => f.rules[0]),
      [1, 2],
    );
    assert.match(findings[0]!.message, /never matches/);
    assert.match(findings[1]!.message, /icmpv6 is IPv6's ICMP/);
  });
});

describe("lint (b): rules after a catch-all", () => {
  it("lists every rule after the first ip-from-anywhere rule, as an error when they contradict it", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp, destinationPort: 80 }
  - { action: deny, protocol: ip, description: deny all }
  - { action: allow, protocol: tcp, destinationPort: 443 }
  - { action: deny, protocol: udp }
`);
    const finding = only(lint(filter), "after-catch-all");
    assert.deepEqual(finding.rules, [3, 4]);
    assert.equal(finding.severity, "error");
    assert.match(finding.message, /rule 2 \("deny all"\)/);
    assert.match(finding.message, /rule 3 would allow what rule 2 denies/);
    assert.match(finding.fix, /Move rules 3 and 4 above rule 2/);
    // Not reported twice.
    assert.ok(!codes(lint(filter)).includes("unreachable"));
  });

  it("0.0.0.0/0 and ::/0 make a catch-all too; rules that agree with it are a warning", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
  - { action: deny, protocol: ip, source: [0.0.0.0/0, "::/0"] }
  - { action: deny, protocol: tcp, destinationPort: 23 }
`);
    const finding = only(lint(filter), "after-catch-all");
    assert.equal(finding.severity, "warning");
    assert.deepEqual(finding.rules, [2]);
  });

  it("an ip rule for IPv4 only is not a catch-all in a filter that covers IPv6", () => {
    const filter = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
  - { action: deny, protocol: ip, source: 0.0.0.0/0 }
  - { action: allow, protocol: tcp, destinationPort: 443 }
`);
    assert.deepEqual(codes(lint(filter)), []);
  });
});

describe("lint (c): return traffic in stateless filters", () => {
  const base = (extra: string, mode = "stateless", name = "t"): Filter =>
    filterOf(`
name: ${name}
mode: ${mode}
families: [ipv4]
default: deny
rules:
  - { action: allow, protocol: tcp, destinationPort: 443 }
${extra}
  - { action: deny, protocol: ip, description: deny all }
`);

  it("says what breaks and which rule to add where", () => {
    const finding = only(lint(base("")), "missing-return-traffic");
    assert.equal(finding.severity, "error");
    assert.deepEqual(finding.rules, [2]);
    assert.match(finding.message, /DNS lookups/);
    assert.match(finding.message, /package downloads/);
    assert.match(finding.message, /NTP/);
    assert.match(finding.message, /32768-60999/);
    assert.match(finding.fix, /protocol: tcp, destinationPort: 32768-60999/);
    assert.match(finding.fix, /protocol: udp, destinationPort: 32768-60999/);
    assert.match(finding.fix, /before rule 2/);
  });

  it("only the missing protocol is asked for", () => {
    const finding = only(
      lint(base("  - { action: allow, protocol: tcp, destinationPort: 32768-61000 }")),
      "missing-return-traffic",
    );
    assert.doesNotMatch(finding.message, /package downloads/);
    assert.doesNotMatch(finding.fix, /protocol: tcp/);
    assert.match(finding.fix, /protocol: udp/);
  });

  it("replies let in only from the resolver are a choice, not a mistake; NTP is still missing", () => {
    const filter = base(`  - { action: allow, protocol: tcp, destinationPort: 32768-60999 }
  - { action: allow, protocol: udp, source: 192.0.2.53, sourcePort: 53, destinationPort: 32768-60999 }`);
    const finding = only(lint(filter), "missing-return-traffic");
    assert.doesNotMatch(finding.message, /DNS/);
    assert.match(finding.message, /NTP/);
  });

  it("a range short of the ephemeral ports is still missing", () => {
    const filter = base(`  - { action: allow, protocol: tcp, destinationPort: 32768-50000 }
  - { action: allow, protocol: udp, destinationPort: 32768-60999 }`);
    assert.match(only(lint(filter), "missing-return-traffic").message, /package downloads/);
  });

  it("stateful filters and default-allow filters need no such rules", () => {
    assert.ok(!codes(lint(base("", "stateful"))).includes("missing-return-traffic"));
    const open = filterOf(`
name: t
mode: stateless
families: [ipv4]
default: allow
rules:
  - { action: deny, protocol: udp, destinationPort: 11211 }
`);
    assert.ok(!codes(lint(open)).includes("missing-return-traffic"));
  });

  it("a Windows-looking filter wants 49152-65535", () => {
    const finding = only(lint(base("", "stateless", "windows-box")), "missing-return-traffic");
    assert.match(finding.fix, /49152-65535/);
    assert.match(finding.message, /Windows/);
  });
});

describe("lint (d): the SSH session in use", () => {
  const filter = filterOf(CLEAN);

  it("parses SSH_CONNECTION, IPv4-mapped and zoned addresses included", () => {
    assert.deepEqual(parseSshConnection("203.0.113.9 50123 192.0.2.10 22"), {
      client: "203.0.113.9",
      clientPort: 50123,
      server: "192.0.2.10",
      serverPort: 22,
      family: "ipv4",
    });
    assert.equal(parseSshConnection("::ffff:203.0.113.9 50123 ::ffff:192.0.2.10 22")?.client, "203.0.113.9");
    assert.equal(parseSshConnection("fe80::1%eth0 50123 fe80::2%eth0 22")?.family, "ipv6");
    for (const bad of [
      "",
      "1.2.3.4 22",
      "1.2.3.4 x 5.6.7.8 22",
      "1.2.3.4 1 5.6.7.8 70000",
      "010.0.0.1 1 1.2.3.4 22",
    ])
      assert.equal(parseSshConnection(bad), undefined, bad);
  });

  it("a session from outside the admin network is an error naming the rule and the fix", () => {
    const finding = only(lint(filter, { sshConnection: "198.51.100.7 50123 192.0.2.10 22" }), "ssh-lockout");
    assert.equal(finding.severity, "error");
    assert.deepEqual(finding.rules, [8]);
    assert.match(finding.message, /198\.51\.100\.7/);
    assert.match(finding.fix, /source: 198\.51\.100\.7, destinationPort: 22/);
    assert.match(finding.fix, /before rule 8/);
  });

  it("sshd on another port is checked on that port", () => {
    const finding = only(lint(filter, { sshConnection: "203.0.113.9 50123 192.0.2.10 2222" }), "ssh-lockout");
    assert.match(finding.fix, /destinationPort: 2222/);
  });

  it("the default action can lock out too; an uncovered family cannot", () => {
    const noRules = filterOf("name: t\nmode: stateful\nfamilies: [ipv4]\ndefault: deny\nrules: []\n");
    const finding = only(lint(noRules, { sshConnection: "198.51.100.7 1 192.0.2.10 22" }), "ssh-lockout");
    assert.deepEqual(finding.rules, []);
    assert.match(finding.fix, /at the end/);
    assert.match(finding.message, /next login/);
    assert.deepEqual(codes(lint(noRules, { sshConnection: "2001:db8::7 1 2001:db8::1 22" })), ["ipv6-open"]);
  });

  it("an unreadable SSH_CONNECTION is said, not guessed", () => {
    const finding = only(lint(filter, { sshConnection: "garbage" }), "ssh-unchecked");
    assert.equal(finding.severity, "info");
  });
});

describe("lint (e): too many rules for the cloud filter", () => {
  /** `allows` single-port allow rules, then `extra`, then a closing deny-all: allows + extra + 1 expressions. */
  const withRules = (allows: number, extra = "", close = true): Filter => {
    const rules = Array.from(
      { length: allows },
      (_, i) => `  - { action: allow, protocol: tcp, destinationPort: ${1000 + i}, source: 203.0.113.${i} }`,
    );
    const last = close ? "  - { action: deny, protocol: ip }\n" : "";
    return filterOf(
      `name: t\nmode: stateless\nfamilies: [ipv4]\ndefault: deny\nrules:\n${rules.join("\n")}\n${extra}${last}`,
    );
  };
  const cloud = (filter: Filter): LintFinding[] => lint(filter, { target: "cloud" });

  it(`${CLOUD_MAX_RULES} rules fit, ${CLOUD_MAX_RULES + 1} do not`, () => {
    assert.ok(!codes(cloud(withRules(CLOUD_MAX_RULES - 1))).includes("too-many-rules"));
    const finding = only(cloud(withRules(CLOUD_MAX_RULES)), "too-many-rules");
    assert.equal(finding.severity, "error");
    assert.match(finding.message, new RegExp(`needs ${CLOUD_MAX_RULES + 1}`));
    assert.match(finding.fix, /Cut 1 rule/);
  });

  it("lists of sources and ports count one rule each; nft has no such limit", () => {
    const filter = withRules(
      CLOUD_MAX_RULES - 6,
      "  - { action: allow, protocol: udp, source: [198.51.100.1, 198.51.100.2], destinationPort: [53, 123, 161] }\n",
    );
    const finding = only(cloud(filter), "too-many-rules");
    assert.deepEqual(finding.rules, [CLOUD_MAX_RULES - 5]);
    assert.match(finding.message, new RegExp(`needs ${CLOUD_MAX_RULES + 1}`));
    assert.match(finding.message, new RegExp(`rule ${CLOUD_MAX_RULES - 5} becomes 6`));
    assert.ok(!codes(lint(filter, { target: "nft" })).includes("too-many-rules"));
  });

  it("without a closing catch-all the default action takes one more rule", () => {
    const finding = only(cloud(withRules(CLOUD_MAX_RULES, "", false)), "too-many-rules");
    assert.match(finding.message, /default action \(deny\) takes one more/);
  });

  it("IPv6-only rules are not counted: the cloud filter cannot take them", () => {
    const filter = withRules(
      CLOUD_MAX_RULES - 1,
      "  - { action: allow, protocol: tcp, source: 2001:db8::/32, destinationPort: 22 }\n",
    );
    assert.ok(!codes(cloud(filter)).includes("too-many-rules"));
  });

  it("the cloud filter is stateless: a stateful filter checked for it needs return traffic", () => {
    const stateful = filterOf(
      CLEAN.replace("mode: stateless", "mode: stateful").replace(/.*return.*\n/g, ""),
    );
    assert.ok(!codes(lint(stateful)).includes("missing-return-traffic"));
    assert.match(only(cloud(stateful), "missing-return-traffic").message, /cloud filter, which is stateless/);
  });
});

describe("lint (f): IPv6 left open", () => {
  it("an IPv4-only filter leaves IPv6 open", () => {
    const filter = filterOf("name: t\nmode: stateful\nfamilies: [ipv4]\ndefault: deny\nrules: []\n");
    const finding = only(lint(filter), "ipv6-open");
    assert.equal(finding.severity, "warning");
    assert.match(finding.fix, /families: \[ipv4, ipv6\]/);
    assert.match(only(lint(filter, { target: "cloud" }), "ipv6-open").fix, /IPv4-only/);
  });

  it("on the cloud target, names the rules it cannot apply", () => {
    const finding = only(lint(filterOf(CLEAN), { target: "cloud" }), "ipv6-open");
    assert.deepEqual(finding.rules, [4]);
  });
});

describe("lint (g): LAN services and reflectors open to everyone", () => {
  const open = (rule: string, extra = ""): Filter =>
    filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
${extra}
  - ${rule}
`);

  it("memcached's UDP port from anywhere is a reflector error naming its amplification", () => {
    const finding = only(
      lint(open("{ action: allow, protocol: udp, destinationPort: 11211 }")),
      "exposed-reflector",
    );
    assert.equal(finding.severity, "error");
    assert.match(finding.message, /Memcached/i);
    assert.match(finding.message, /51000x/);
    assert.match(finding.fix, /action: deny, protocol: udp, destinationPort: 11211/);
  });

  it("the same port from the admin network is fine; from 0.0.0.0/1 it is not", () => {
    assert.deepEqual(
      codes(lint(open("{ action: allow, protocol: udp, source: 203.0.113.0/24, destinationPort: 11211 }"))),
      [],
    );
    assert.deepEqual(
      codes(lint(open("{ action: allow, protocol: udp, source: 0.0.0.0/1, destinationPort: 11211 }"))),
      ["exposed-reflector"],
    );
  });

  it("a port denied by an earlier rule is not exposed by a later wide rule", () => {
    const findings = lint(
      open(
        "{ action: allow, protocol: udp, destinationPort: 11000-11300 }",
        "  - { action: deny, protocol: udp, destinationPort: 11211 }",
      ),
    );
    assert.ok(!findings.some((f) => /Memcached/i.test(f.message)), JSON.stringify(findings));
  });

  it("a database is a LAN-service warning, the Docker API (this host only) an error", () => {
    const db = only(
      lint(open("{ action: allow, protocol: tcp, destinationPort: 3306 }")),
      "exposed-lan-service",
    );
    assert.equal(db.severity, "warning");
    assert.match(db.message, /MySQL/);
    const docker = only(
      lint(open("{ action: allow, protocol: tcp, destinationPort: 2375 }")),
      "exposed-lan-service",
    );
    assert.equal(docker.severity, "error");
  });

  it("53/udp from anywhere is right for authoritative DNS: only an info note", () => {
    const finding = only(
      lint(open("{ action: allow, protocol: udp, destinationPort: 53 }")),
      "exposed-reflector",
    );
    assert.equal(finding.severity, "info");
  });

  it("a rule that opens every UDP port is checked for reflectors (not for every LAN service)", () => {
    const finding = only(lint(open("{ action: allow, protocol: udp }")), "exposed-reflector");
    assert.match(finding.message, /Memcached/i);
    assert.match(finding.message, /NTP/);
    assert.ok(!codes(lint(open("{ action: allow, protocol: tcp }"))).includes("exposed-lan-service"));
    const allowAll = only(lint(open("{ action: allow, protocol: ip }")), "exposed-reflector");
    assert.match(allowAll.fix, /protocol: udp, destinationPort: \[/);
  });

  it("a reflector port is not reported again as a LAN service (123/udp: ntpd and chrony)", () => {
    const findings = lint(open("{ action: allow, protocol: udp, destinationPort: 123 }"));
    assert.deepEqual(codes(findings), ["exposed-reflector"]);
  });

  it("the return-traffic range of a stateless filter is not a service opening", () => {
    assert.ok(!lint(filterOf(CLEAN)).some((f) => f.code.startsWith("exposed")));
  });
});

describe("lint (h): default allow where deny was meant", () => {
  it("a stateless filter with default allow and no deny-all", () => {
    const filter = filterOf(`
name: t
mode: stateless
families: [ipv4, ipv6]
default: allow
rules:
  - { action: deny, protocol: udp, destinationPort: 11211 }
`);
    const finding = only(lint(filter), "default-allow");
    assert.equal(finding.severity, "warning");
    assert.match(finding.fix, /deny all/);
  });

  it("a stateful filter named to protect, or whose allow rules change nothing", () => {
    const named = filterOf(`
name: lockdown
mode: stateful
families: [ipv4, ipv6]
default: allow
rules:
  - { action: deny, protocol: tcp, destinationPort: 23 }
`);
    assert.match(only(lint(named), "default-allow").message, /meant to protect/);
    const allowList = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: allow
rules:
  - { action: allow, protocol: tcp, destinationPort: 443 }
`);
    assert.deepEqual(only(lint(allowList), "default-allow").rules, [1]);
  });

  it("a deny list ending in an explicit allow-all, or stateful and neutral, is left alone", () => {
    const denyList = filterOf(`
name: t
mode: stateless
families: [ipv4, ipv6]
default: deny
rules:
  - { action: deny, protocol: udp, destinationPort: 11211 }
  - { action: allow, protocol: ip }
`);
    // Not a default-allow mistake; the other reflectors it leaves open are another check's business.
    assert.deepEqual(codes(lint(denyList)), ["exposed-reflector"]);
    const neutral = filterOf(`
name: t
mode: stateful
families: [ipv4, ipv6]
default: allow
rules:
  - { action: deny, protocol: udp, destinationPort: 11211 }
  - { action: allow, protocol: tcp, source: 203.0.113.0/24, destinationPort: 22 }
  - { action: deny, protocol: tcp, destinationPort: 22 }
`);
    assert.deepEqual(codes(lint(neutral)), []);
  });
});

// ---------------------------------------------------------------------------------------------
// Exhaustive check against the evaluator on a tiny domain. Sources lie in 192.0.2.0/28 or
// 2001:db8::/124 and ports in 0-15, so one address outside those and port 16 stand for every
// other address and port: enumerating the domain plus those representatives is every packet.

const V4_BASE = parseAddress("192.0.2.0").words[0]! >>> 0;
const V6_WORDS = Array.from(parseAddress("2001:db8::").words);

const portRange: fc.Arbitrary<PortRange> = fc
  .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 15 }))
  .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));

const cidrArb = fc
  .oneof(
    { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 28, max: 32 })) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 16, max: 31 }), fc.integer({ min: 124, max: 128 })) },
  )
  .map(([n, prefix]) => {
    if (prefix <= 32) {
      const host = n & ~((1 << (32 - prefix)) - 1) & 15;
      return parseCidr(`192.0.2.${host}/${prefix}`);
    }
    const host = (n - 16) & ~((1 << (128 - prefix)) - 1) & 15;
    return parseCidr(`2001:db8::${host.toString(16)}/${prefix}`);
  });

const ruleArb: fc.Arbitrary<FilterRule> = fc
  .record({
    action: fc.constantFrom("allow" as const, "deny" as const),
    protocol: fc.constantFrom<FilterProtocol>("tcp", "udp", "tcp", "udp", "icmp", "icmpv6", "fragment", "ip"),
    sources: fc.option(fc.array(cidrArb, { minLength: 1, maxLength: 2 }), { freq: 3 }),
    sourcePorts: fc.option(fc.array(portRange, { minLength: 1, maxLength: 2 }), { freq: 1 }),
    destinationPorts: fc.option(fc.array(portRange, { minLength: 1, maxLength: 2 }), { freq: 2 }),
  })
  .map((r) => {
    const ported = r.protocol === "tcp" || r.protocol === "udp";
    return {
      ...r,
      sourcePorts: ported ? r.sourcePorts : null,
      destinationPorts: ported ? r.destinationPorts : null,
      description: null,
      line: null,
    };
  });

const filterArb: fc.Arbitrary<Filter> = fc.record({
  name: fc.constant("random"),
  description: fc.constant(null),
  mode: fc.constantFrom("stateless" as const, "stateful" as const),
  families: fc.constantFrom<Family[]>(["ipv4", "ipv6"], ["ipv4", "ipv6"], ["ipv4"], ["ipv6"]),
  default: fc.constantFrom("allow" as const, "deny" as const),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 7 }),
});

/** The evaluator's class numbers (evaluate.ts) and the space's class bits, for each packet kind. */
const KINDS = [
  { cls: 0, bit: CLASS.tcp, ported: true },
  { cls: 1, bit: CLASS.udp, ported: true },
  { cls: 2, bit: CLASS.icmp, ported: false, family: "ipv4" },
  { cls: 3, bit: CLASS.icmp, ported: false, family: "ipv6" },
  { cls: 4, bit: CLASS.other, ported: false },
  { cls: 5, bit: CLASS.fragment, ported: false },
] as const;

interface Probe {
  bits: PacketBits;
  point: Point;
}

/** Every packet of the tiny domain plus the representatives of everything outside it. */
function* everyPacket(): Generator<Probe> {
  for (const family of ["ipv4", "ipv6"] as const) {
    for (let host = 0; host <= 16; host++) {
      const words =
        family === "ipv4"
          ? [host === 16 ? parseAddress("198.51.100.1").words[0]! >>> 0 : V4_BASE + host]
          : [V6_WORDS[0]!, 0, host === 16 ? 1 : 0, host === 16 ? 0 : host];
      for (const kind of KINDS) {
        if ("family" in kind && kind.family !== family) continue;
        const ports = kind.ported ? 17 : 1;
        for (let sp = 0; sp < ports; sp++)
          for (let dp = 0; dp < ports; dp++) {
            const bits = newPacketBits();
            bits.family = family === "ipv4" ? 0 : 1;
            bits.cls = kind.cls;
            bits.words.set(words.map((w) => w | 0));
            bits.sourcePort = kind.ported ? sp : -1;
            bits.destinationPort = kind.ported ? dp : -1;
            yield {
              bits,
              point: {
                cls: kind.bit,
                address: addressPoint(family, words),
                sourcePort: kind.ported ? sp : 0,
                destinationPort: kind.ported ? dp : 0,
              },
            };
          }
      }
    }
  }
}

const PACKETS = [...everyPacket()];

describe("lint: exact against every packet of a tiny domain", () => {
  it("each packet is decided by the rule whose part contains it, as the evaluator says", () => {
    fc.assert(
      fc.property(filterArb, (filter) => {
        const compiled = compileFilter(filter);
        const analysis = analyzeFilter(filter);
        for (const { bits, point } of PACKETS) {
          const expected = compiled.verdicts[compiled.decide(bits)]!.rule;
          const holders = analysis.parts.flatMap((part, i) => (contains(part, point) ? [i + 1] : []));
          const covered = filter.families.includes(bits.family === 0 ? "ipv4" : "ipv6");
          if (expected === null) {
            assert.deepEqual(holders, []);
            assert.equal(contains(analysis.defaultSpace, point), covered);
          } else {
            assert.deepEqual(holders, [expected]);
            assert.ok(!contains(analysis.defaultSpace, point));
          }
          const allowed = compiled.verdicts[compiled.decide(bits)]!.verdict === "allow";
          if (covered) assert.equal(contains(analysis.allowed, point), allowed);
        }
      }),
      { numRuns: 120 },
    );
  });

  it("unreachable and after-catch-all name exactly the rules no packet reaches, and the deciders are right", () => {
    fc.assert(
      fc.property(filterArb, (filter) => {
        const compiled = compileFilter(filter);
        const reached = new Set<number>();
        // For each rule: which rules decide the packets it matches.
        const deciders = filter.rules.map(() => new Set<number>());
        const alone = filter.rules.map((rule) => compileFilter({ ...filter, rules: [rule] }));
        for (const { bits } of PACKETS) {
          const rule = compiled.verdicts[compiled.decide(bits)]!.rule;
          if (rule === null) continue;
          reached.add(rule);
          alone.forEach((single, i) => {
            if (single.verdicts[single.decide(bits)]!.rule === 1) deciders[i]!.add(rule);
          });
        }
        const findings = lintFilter(filter, { catalog });
        const flagged = new Set(
          findings
            .filter((f) => f.code === "unreachable" || f.code === "after-catch-all")
            .flatMap((f) => f.rules),
        );
        const never = filter.rules.map((_, i) => i + 1).filter((n) => !reached.has(n));
        assert.deepEqual(
          [...flagged].sort((a, b) => a - b),
          never,
        );
        const analysis = analyzeFilter(filter);
        filter.rules.forEach((_, i) => {
          const expected = [...deciders[i]!].filter((n) => n !== i + 1).sort((a, b) => a - b);
          assert.deepEqual(
            analysis.deciders[i]!.map((j) => j + 1),
            expected,
          );
        });
      }),
      { numRuns: 120 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Rendering and the command, in process (src/cli/filter-check.ts is wired into `moat filter` elsewhere).

describe("moat filter check: rendering and exit codes", () => {
  const dir = mkdtempSync(join(tmpdir(), "moat-lint-"));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const cleanFile = write("clean.yaml", CLEAN);
  const badFile = write(
    "bad.yaml",
    `name: t
mode: stateful
families: [ipv4, ipv6]
default: deny
rules:
  - { action: deny, protocol: ip }
  - { action: allow, protocol: udp, destinationPort: 11211 }
`,
  );

  async function run(args: string[], env: Record<string, string | undefined> = {}) {
    const program = new Command("moat").exitOverride();
    registerFilterCheck(program.command("filter").exitOverride());
    let out = "";
    const original = process.stdout.write.bind(process.stdout);
    const saved = process.env.SSH_CONNECTION;
    process.env.SSH_CONNECTION = env.SSH_CONNECTION;
    if (env.SSH_CONNECTION === undefined) delete process.env.SSH_CONNECTION;
    process.stdout.write = ((chunk: string) => {
      out += chunk;
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      await program.parseAsync(["node", "moat", "filter", "check", ...args]);
      code = typeof process.exitCode === "number" ? process.exitCode : 0;
    } catch (error) {
      code = reportError(error, () => {});
    } finally {
      process.stdout.write = original;
      process.exitCode = undefined;
      if (saved === undefined) delete process.env.SSH_CONNECTION;
      else process.env.SSH_CONNECTION = saved;
    }
    return { code, out };
  }

  it("a clean filter exits 0 and says so", async () => {
    const { code, out } = await run([cleanFile]);
    assert.equal(code, 0);
    assert.match(out, /no problems found/);
  });

  it("an error finding exits 1; the text groups by severity with rule lines and fixes", async () => {
    const { code, out } = await run([badFile]);
    assert.equal(code, 1);
    assert.match(out, /Errors\n {2}after-catch-all {2}rule 2 \(line 7\)/);
    assert.match(out, /fix: Move rule 2 above rule 1/);
  });

  it("--json is the array of findings; SSH_CONNECTION comes from the environment", async () => {
    const { code, out } = await run([cleanFile, "--json"], { SSH_CONNECTION: "198.51.100.7 1 192.0.2.1 22" });
    assert.equal(code, 1);
    const findings = JSON.parse(out) as LintFinding[];
    assert.deepEqual(
      findings.map((f) => [f.code, f.severity, f.rules]),
      [["ssh-lockout", "error", [8]]],
    );
    assert.deepEqual(Object.keys(findings[0]!), ["code", "severity", "rules", "message", "fix"]);
  });

  it("warnings alone exit 0", async () => {
    const path = write(
      "v4.yaml",
      CLEAN.replace("families: [ipv4, ipv6]", "families: [ipv4]").replace(/.*icmpv6.*\n/, ""),
    );
    const { code, out } = await run([path]);
    assert.equal(code, 0);
    assert.match(out, /Warnings\n {2}ipv6-open {2}whole filter/);
  });

  it("a missing file, a bad filter or an unknown target exits 2", async () => {
    assert.equal((await run([join(dir, "nope.yaml")])).code, 2);
    assert.equal((await run([write("broken.yaml", "name: t\nrules: [1]\n")])).code, 2);
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      assert.equal((await run([cleanFile, "--target", "aws"])).code, 2);
    } finally {
      process.stderr.write = stderr;
    }
  });

  it("renderLintText wraps long messages and lists findings without lines for code-built filters", () => {
    const filter: Filter = {
      ...filterOf(CLEAN),
      rules: filterOf(CLEAN).rules.map((r) => ({ ...r, line: null })),
    };
    const text = renderLintText(lint(filter, { sshConnection: "198.51.100.7 1 192.0.2.1 22" }), {
      file: "x",
      filter,
      colors: colors(false),
    });
    assert.match(text, /ssh-lockout {2}rule 8\n/);
    for (const line of text.split("\n")) assert.ok(line.length <= 100 || !line.includes(" "), line);
    assert.deepEqual(JSON.parse(renderLintJson([])), []);
  });
});

describe("lint: fast enough for 100-rule filters", () => {
  it("lints five overlapping 100-rule filters in well under a second each", () => {
    // A fixed pseudo-random sequence (mulberry32), so the timing is of the same filters every run.
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    for (let run = 0; run < 5; run++) {
      const rules: FilterRule[] = Array.from({ length: 100 }, () => {
        const protocol = (["tcp", "udp", "tcp", "udp", "ip", "icmp"] as const)[next(6)]!;
        const ported = protocol === "tcp" || protocol === "udp";
        const prefix = 16 + next(13);
        const address = ((0xc6330000 | next(65536)) & (-1 << (32 - prefix))) >>> 0;
        const text = [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".");
        const start = next(65000);
        return {
          action: next(2) === 0 ? ("allow" as const) : ("deny" as const),
          protocol,
          sources: protocol !== "ip" && next(3) === 0 ? null : [parseCidr(`${text}/${prefix}`)],
          sourcePorts: ported && next(4) === 0 ? [{ start: next(1024), end: 1024 + next(3000) }] : null,
          destinationPorts:
            ported && next(5) > 0
              ? [
                  { start, end: Math.min(65535, start + next(3000)) },
                  { start: next(1000), end: 1000 },
                ]
              : null,
          description: null,
          line: null,
        };
      });
      const filter: Filter = {
        name: "big",
        description: null,
        mode: "stateless",
        families: ["ipv4", "ipv6"],
        default: "deny",
        rules,
      };
      // Finishing at all is the point: box counts must stay bounded on large overlapping filters.
      assert.ok(
        Array.isArray(lint(filter, { target: "cloud", sshConnection: "198.51.100.7 5000 192.0.2.1 22" })),
      );
    }
  });
});

describe("lint: the table of checks", () => {
  it("every code is produced by exactly one check", () => {
    const all = CHECKS.flatMap((check) => check.codes);
    assert.deepEqual([...all].sort(), [...LINT_CODES].sort());
  });
});
