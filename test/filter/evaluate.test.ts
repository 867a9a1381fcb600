import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { compileFilter, evaluate, packetBits } from "../../src/filter/evaluate.js";
import { parseFilter } from "../../src/filter/load.js";
import { parsePacket } from "../../src/filter/packet.js";
import type { Filter, FilterAction, FilterRule, Packet, PortRange } from "../../src/filter/types.js";
import { arbitraryFilter, arbitraryPacket } from "./arbitraries.js";

const FILTER = parseFilter(
  `name: unit
families: [ipv4, ipv6]
default: deny
rules:
  - { action: allow, protocol: tcp, source: [203.0.113.0/24, "2001:db8:1::/48"], destinationPort: 22, description: SSH from admin }
  - { action: deny, protocol: udp, destinationPort: 11211, description: memcached }
  - { action: allow, protocol: udp, sourcePort: 53, destinationPort: 32768-61000 }
  - { action: allow, protocol: icmp }
  - { action: deny, protocol: tcp }
  - { action: allow, protocol: fragment, source: 192.0.2.0/24 }
  - { action: allow, protocol: ip, source: 198.51.100.0/24, description: "partner network" }
`,
  "unit.yaml",
);

const judge = (filter: Filter, text: string) => evaluate(filter, parsePacket(text));

describe("evaluate", () => {
  it("first match wins and the reason names the rule, its description and what matched", () => {
    const v = judge(FILTER, "tcp 203.0.113.9:40000 > 192.0.2.10:22");
    assert.deepEqual(v, {
      verdict: "allow",
      rule: 1,
      reason:
        'rule 1 ("SSH from admin") allows it: tcp from 203.0.113.0/24 (one of its 2 sources) to port 22.',
    });
    const ssh6 = judge(FILTER, "tcp [2001:db8:1::9]:40000 > [2001:db8::10]:22");
    assert.equal(ssh6.rule, 1);
    assert.match(ssh6.reason, /from 2001:db8:1::\/48 \(one of its 2 sources\)/);
    // SSH from elsewhere falls to the catch-all tcp deny.
    assert.deepEqual(judge(FILTER, "tcp 8.8.8.8:40000 > 192.0.2.10:22").rule, 5);
    assert.deepEqual(judge(FILTER, "udp 203.0.113.9:4444 > 198.51.100.10:11211"), {
      verdict: "deny",
      rule: 2,
      reason: 'rule 2 ("memcached") denies it: udp from any source to port 11211.',
    });
  });

  it("names a rule without description by its action and protocol, with both port conditions", () => {
    const v = judge(FILTER, "udp 192.0.2.53:53 > 192.0.2.10:40000");
    assert.equal(v.rule, 3);
    assert.equal(
      v.reason,
      "rule 3 (allow udp) allows it: udp from any source from port 53 to ports 32768-61000.",
    );
    assert.equal(judge(FILTER, "udp 192.0.2.53:54 > 192.0.2.10:40000").rule, null);
  });

  it("matches fragments only with fragment and ip rules, never with tcp/udp rules", () => {
    // tcp rule 5 has no ports but still does not match a non-first fragment.
    assert.equal(judge(FILTER, "tcp 192.0.2.1 > 192.0.2.2 frag").rule, 6);
    assert.equal(judge(FILTER, "udp 198.51.100.1 > 192.0.2.2 frag").rule, 7);
    assert.equal(judge(FILTER, "icmp 8.8.8.8 > 192.0.2.2 frag").rule, null);
    assert.match(
      judge(FILTER, "tcp 192.0.2.1 > 192.0.2.2 frag").reason,
      /a second or later fragment from 192\.0\.2\.0\/24/,
    );
  });

  it("lets ip rules match any protocol, and other protocols match only ip rules", () => {
    assert.equal(judge(FILTER, "ip 198.51.100.7 > 192.0.2.2").rule, 7);
    assert.match(
      judge(FILTER, "ip 198.51.100.7 > 192.0.2.2").reason,
      /"partner network".*any protocol from 198\.51\.100\.0\/24/,
    );
    assert.equal(judge(FILTER, "ip 8.8.8.8 > 192.0.2.2").rule, null);
  });

  it("tells icmp from icmpv6", () => {
    assert.equal(judge(FILTER, "icmp 8.8.8.8 > 192.0.2.2").rule, 4);
    const v6 = judge(FILTER, "icmpv6 2001:db8::5 > 2001:db8::2");
    assert.equal(v6.rule, null);
    assert.equal(v6.verdict, "deny");
  });

  it("uses the default action when nothing matches", () => {
    assert.deepEqual(judge(FILTER, "udp 8.8.8.8:1 > 192.0.2.2:2"), {
      verdict: "deny",
      rule: null,
      reason: "no rule matched (all 7 rules checked); the filter's default action is deny.",
    });
    const empty: Filter = { ...FILTER, rules: [], default: "allow" };
    assert.equal(
      judge(empty, "udp 8.8.8.8:1 > 192.0.2.2:2").reason,
      "the filter has no rules; its default action is allow.",
    );
  });

  it("lets a family the filter does not cover pass, and says so", () => {
    const v4only: Filter = { ...FILTER, families: ["ipv4"] };
    assert.deepEqual(judge(v4only, "udp [2001:db8::9]:1 > [2001:db8::2]:11211"), {
      verdict: "allow",
      rule: null,
      reason: "the filter covers IPv4 only; IPv6 traffic passes it unfiltered.",
    });
    const v6only: Filter = { ...FILTER, families: ["ipv6"] };
    assert.match(
      judge(v6only, "udp 192.0.2.9:1 > 192.0.2.2:11211").reason,
      /covers IPv6 only; IPv4 traffic passes/,
    );
  });

  it("never matches a source of the other family", () => {
    const filter = parseFilter(
      "name: f\nrules:\n  - {action: allow, protocol: ip, source: '::/0'}\n",
      "f.yaml",
    );
    assert.equal(judge(filter, "ip 192.0.2.1 > 192.0.2.2").rule, null);
    assert.equal(judge(filter, "ip ::ffff:192.0.2.1 > ::1").rule, 1);
  });

  it("says how a stateful filter is judged", () => {
    const stateful: Filter = { ...FILTER, mode: "stateful" };
    assert.match(
      judge(stateful, "udp 203.0.113.9:4444 > 198.51.100.10:11211").reason,
      /first packet of a new inbound connection/,
    );
    assert.match(
      judge(stateful, "udp 8.8.8.8:1 > 192.0.2.2:2").reason,
      /first packet of a new inbound connection/,
    );
  });

  it("agrees with a plain reference evaluator on random filters and packets", () => {
    fc.assert(
      fc.property(
        arbitraryFilter(),
        fc.array(arbitraryPacket, { minLength: 1, maxLength: 20 }),
        (filter, packets) => {
          for (const packet of packets) {
            const got = evaluate(filter, packet);
            const want = reference(filter, packet);
            assert.deepEqual({ verdict: got.verdict, rule: got.rule }, want, JSON.stringify(packet));
            if (got.rule !== null) assert.ok(got.reason.startsWith(`rule ${got.rule} (`), got.reason);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("decide() on prepared packets gives the same rule as evaluate()", () => {
    // Speed is measured by bench/filter; here the fast path must agree with the explained one.
    const filter = thirtyRules();
    const compiled = compileFilter(filter);
    for (let i = 0; i < 1000; i++) {
      const packet = parsePacket(
        i % 10 === 0
          ? `tcp [2001:db8::${(i % 255).toString(16)}]:${1024 + i} > [2001:db8::2]:${i % 1000}`
          : `${i % 2 ? "udp" : "tcp"} 198.51.${i % 256}.${(i * 7) % 256}:${1024 + i} > 192.0.2.10:${(i * 37) % 65536}`,
      );
      assert.deepEqual(
        compiled.verdicts[compiled.decide(packetBits(packet))],
        evaluate(filter, packet),
        i.toString(),
      );
    }
  });
});

/** 29 rules that mostly miss, then a catch-all: the slow path of a realistic NIC filter. */
function thirtyRules(): Filter {
  const lines = ["name: thirty", "default: deny", "rules:"];
  for (let i = 0; i < 29; i++) {
    const proto = i % 2 ? "udp" : "tcp";
    lines.push(
      `  - { action: allow, protocol: ${proto}, source: [10.${i}.0.0/16, "2001:db8:${i + 1}::/48"], destinationPort: [${1000 + i}, ${2000 + i}-${2100 + i}] }`,
    );
  }
  lines.push("  - { action: deny, protocol: ip, description: deny all }");
  return parseFilter(lines.join("\n"), "thirty.yaml");
}

/** The semantics written as plainly as possible, through ipaddr.js, to check the compiled evaluator. */
function reference(filter: Filter, packet: Packet): { verdict: FilterAction; rule: number | null } {
  if (!filter.families.includes(packet.family)) return { verdict: "allow", rule: null };
  for (let i = 0; i < filter.rules.length; i++) {
    const rule = filter.rules[i]!;
    if (!protocolMatches(rule, packet)) continue;
    if (rule.sources !== null) {
      const source = ipaddr.parse(packet.source);
      const inside = rule.sources.some(
        (c) => c.family === packet.family && source.match(ipaddr.parse(c.address), c.prefix),
      );
      if (!inside) continue;
    }
    if (!portMatches(rule.sourcePorts, packet.sourcePort)) continue;
    if (!portMatches(rule.destinationPorts, packet.destinationPort)) continue;
    return { verdict: rule.action, rule: i + 1 };
  }
  return { verdict: filter.default, rule: null };
}

function protocolMatches(rule: FilterRule, packet: Packet): boolean {
  if (rule.protocol === "ip") return true;
  if (packet.fragment) return rule.protocol === "fragment";
  if (rule.protocol === "icmp") return packet.protocol === "icmp" && packet.family === "ipv4";
  if (rule.protocol === "icmpv6") return packet.protocol === "icmpv6" && packet.family === "ipv6";
  return rule.protocol === packet.protocol;
}

function portMatches(ranges: PortRange[] | null, port: number | null): boolean {
  if (ranges === null) return true;
  if (port === null) return false;
  return ranges.some((r) => port >= r.start && port <= r.end);
}
