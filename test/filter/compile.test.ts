/**
 * Compilers: golden outputs per target, list expansion, warnings for what a target cannot express,
 * and the real tools' own check modes (`nft -c`, `iptables-restore --test`, in a throwaway network
 * namespace) accepting every script, including those of random filters.
 *
 * UPDATE_GOLDEN=1 rewrites the golden files (review the diff).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { cloudExpressions } from "../../src/filter/compile/cloud.js";
import { commentText, mergePorts, normalizeSources } from "../../src/filter/compile/common.js";
import { COMPILE_TARGETS, compile } from "../../src/filter/compile/index.js";
import { compileIptables } from "../../src/filter/compile/iptables.js";
import { compileNft } from "../../src/filter/compile/nft.js";
import { hclString, resourceName } from "../../src/filter/compile/terraform.js";
import type { Cidr, Filter, FilterRule, PortRange } from "../../src/filter/types.js";
import type { Family } from "../../src/host/types.js";

const GOLDEN = fileURLToPath(new URL("./fixtures/compile/", import.meta.url));

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, "utf8"), `${name} differs (UPDATE_GOLDEN=1 rewrites it)`);
}

function cidr(text: string): Cidr {
  const [address = "", prefix] = text.split("/");
  const family: Family = address.includes(":") ? "ipv6" : "ipv4";
  return { family, address, prefix: prefix === undefined ? (family === "ipv4" ? 32 : 128) : Number(prefix) };
}

function ports(...specs: Array<number | [number, number]>): PortRange[] {
  return specs.map((p) => (typeof p === "number" ? { start: p, end: p } : { start: p[0], end: p[1] }));
}

function rule(partial: Partial<FilterRule> & Pick<FilterRule, "action" | "protocol">): FilterRule {
  return {
    sources: null,
    sourcePorts: null,
    destinationPorts: null,
    description: null,
    line: null,
    ...partial,
  };
}

/** The advisory's preset, as the stateless cloud filter knows it. */
const LINUX: Filter = {
  name: "linux-unneeded-ports",
  description: "unneeded ports filter (Linux)",
  mode: "stateless",
  families: ["ipv4"],
  default: "deny",
  rules: [
    rule({
      action: "allow",
      protocol: "tcp",
      destinationPorts: ports(25, 80, 110),
      description: "smtp, http, pop3",
    }),
    rule({
      action: "allow",
      protocol: "tcp",
      sources: [cidr("203.0.113.0/24")],
      destinationPorts: ports(22),
      description: "ssh from admin",
    }),
    rule({
      action: "allow",
      protocol: "udp",
      sources: [cidr("192.0.2.123")],
      destinationPorts: ports(123),
      description: "ntp from the ntp server",
    }),
    rule({ action: "allow", protocol: "udp", destinationPorts: ports(68), description: "dhcp replies" }),
    rule({ action: "allow", protocol: "icmp", description: "icmp" }),
    rule({ action: "allow", protocol: "fragment", description: "fragments" }),
    rule({
      action: "allow",
      protocol: "tcp",
      destinationPorts: ports([32768, 61000]),
      description: "return traffic",
    }),
    rule({
      action: "allow",
      protocol: "udp",
      destinationPorts: ports([32768, 61000]),
      description: "return traffic",
    }),
    rule({ action: "deny", protocol: "ip", description: "deny all" }),
  ],
};

/** Both families, stateful, mixed-family sources, lists that need expanding. */
const DUAL: Filter = {
  name: "dual stack web",
  description: null,
  mode: "stateful",
  families: ["ipv4", "ipv6"],
  default: "deny",
  rules: [
    rule({ action: "allow", protocol: "icmpv6", description: "neighbour discovery" }),
    rule({ action: "allow", protocol: "icmp" }),
    rule({
      action: "allow",
      protocol: "tcp",
      sources: [cidr("198.51.100.0/24"), cidr("2001:db8:1::/48"), cidr("198.51.100.7")],
      destinationPorts: ports(22, [8000, 8010]),
      description: 'admin "ssh" & dev',
    }),
    rule({
      action: "deny",
      protocol: "udp",
      destinationPorts: ports(11211, 19, 1900),
      description: "reflectors",
    }),
    rule({ action: "allow", protocol: "tcp", destinationPorts: ports(443, 80) }),
  ],
};

describe("golden outputs", () => {
  for (const target of COMPILE_TARGETS) {
    test(`linux-unneeded-ports -> ${target}`, () => {
      const result = compile(LINUX, target, { counters: target === "nft" });
      golden(`linux.${target}.txt`, result.output);
      assert.deepEqual(result.warnings, []);
    });
    test(`dual-stack stateful -> ${target} on eth0`, () => {
      const result = compile(DUAL, target, { interface: "eth0" });
      golden(
        `dual.${target}.txt`,
        `${result.output}\n# warnings:\n${result.warnings.map((w) => `# ${w}`).join("\n")}\n`,
      );
    });
  }
});

describe("nft", () => {
  test("replaces only its own table, atomically", () => {
    const { output } = compileNft(LINUX);
    const tableLines = output.split("\n").filter((l) => /^(table|delete|flush|add)\b/.test(l));
    assert.deepEqual(tableLines, ["table inet moat {}", "delete table inet moat", "table inet moat {"]);
  });

  test("counters only when asked, on every rule and the default", () => {
    assert.ok(!compileNft(LINUX).output.includes("counter"));
    const counted = compileNft(LINUX, { counters: true })
      .output.split("\n")
      .filter((l) => l.includes('comment "moat rule'));
    assert.ok(counted.length >= LINUX.rules.length);
    for (const line of counted) assert.match(line, /\bcounter (accept|drop) comment/);
  });

  test("fragment rules live only in the fragment chain; tcp/udp/icmp rules never there", () => {
    const { output } = compileNft(LINUX);
    const fragments = output.slice(output.indexOf("chain fragments"));
    assert.match(fragments, /moat rule 6: fragments/);
    assert.match(fragments, /moat rule 9: deny all/);
    assert.doesNotMatch(fragments, /moat rule [1-578]\b/);
  });

  test("a family the filter does not cover is accepted unfiltered, and said so", () => {
    const { output } = compileNft(LINUX);
    assert.match(
      output,
      /meta nfproto ipv6 accept comment "moat unfiltered: ipv6 is not covered by this filter"/,
    );
  });

  test("mixed-family sources become one nft rule per family with the same comment", () => {
    const lines = compileNft(DUAL)
      .output.split("\n")
      .filter((l) => l.includes("moat rule 3:"));
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /ip saddr 198\.51\.100\.0\/24 tcp dport \{ 22, 8000-8010 \}/);
    assert.match(lines[1]!, /ip6 saddr 2001:db8:1::\/48 tcp dport/);
  });

  test("a bad interface name is refused before it reaches a script", () => {
    assert.throws(() => compileNft(LINUX, { interface: 'eth0" accept' }), /interface/);
    assert.throws(() => compileNft(LINUX, { interface: "a-very-long-interface-name" }), /interface/);
  });

  test("stateful: established first, and a warning for fragment rules", () => {
    const stateful = { ...LINUX, mode: "stateful" as const };
    const result = compileNft(stateful);
    assert.match(result.output, /priority -150;[\s\S]*ct state established,related accept/);
    assert.ok(result.warnings.some((w) => w.startsWith("rule 6:") && w.includes("reassembles")));
  });

  test("IPv6 covered with neighbour discovery denied is warned about", () => {
    const v6: Filter = { ...LINUX, families: ["ipv4", "ipv6"] };
    assert.ok(
      compileNft(v6).warnings.some((w) => w.includes("neighbour discovery") && w.startsWith("rule 9")),
    );
    assert.deepEqual(compileNft(DUAL).warnings, []);
  });
});

describe("iptables", () => {
  test("own chains jumped to from PREROUTING, -f for IPv4 fragments, --comment on every rule", () => {
    const { ipv4, ipv6 } = compileIptables(DUAL);
    assert.match(ipv4, /^\*mangle$/m);
    assert.match(ipv4, /^-I PREROUTING 1 -j MOAT-INPUT$/m);
    assert.match(ipv4, /^-A MOAT-INPUT -f -g MOAT-FRAGMENT$/m);
    assert.match(ipv6, /^-A MOAT-INPUT -m frag --fragfirst -g MOAT-RULES$/m);
    for (const line of `${ipv4}\n${ipv6}`.split("\n").filter((l) => l.startsWith("-A MOAT-RULES"))) {
      assert.match(line, /--comment "moat (rule \d+|default)/);
    }
    // IPv6 sources stay out of the IPv4 script and the other way round.
    assert.doesNotMatch(ipv4, /2001:db8/);
    assert.doesNotMatch(ipv6, /198\.51\.100/);
  });

  test("more than 15 multiport slots split into several rules, in order", () => {
    const many: Filter = {
      ...LINUX,
      rules: [
        rule({
          action: "deny",
          protocol: "udp",
          destinationPorts: ports(...Array.from({ length: 20 }, (_, i) => 1000 + i * 2)),
        }),
      ],
    };
    const lines = compileIptables(many)
      .ipv4.split("\n")
      .filter((l) => l.includes("moat rule 1"));
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /--dports 1000,1002,.*,1028 /);
    assert.match(lines[1]!, /--dports 1030,.*,1038 /);
  });

  test("a family not covered loads nothing", () => {
    assert.doesNotMatch(compileIptables(LINUX).ipv6, /^\*/m);
  });
});

describe("cloud", () => {
  test("lists expand in order: sources x source ports x destination ports", () => {
    const filter: Filter = {
      ...LINUX,
      rules: [
        rule({
          action: "allow",
          protocol: "tcp",
          sources: [cidr("192.0.2.0/24"), cidr("198.51.100.9")],
          sourcePorts: ports([1024, 65535]),
          destinationPorts: ports(22, 2222),
        }),
        rule({ action: "deny", protocol: "ip" }),
      ],
    };
    const { expressions, warnings } = cloudExpressions(filter);
    assert.deepEqual(
      expressions.map((e) => `${e.SourceNetwork} ${e.SourcePort} ${e.DestinationPort} ${e.Action}`),
      [
        "192.0.2.0/24 1024-65535 22 allow",
        "192.0.2.0/24 1024-65535 2222 allow",
        "198.51.100.9 1024-65535 22 allow",
        "198.51.100.9 1024-65535 2222 allow",
        "   deny",
      ],
    );
    assert.deepEqual(warnings, []);
  });

  test("the default becomes an explicit last expression unless a catch-all ends the list", () => {
    const noCatchAll: Filter = { ...LINUX, rules: LINUX.rules.slice(0, 2) };
    const last = cloudExpressions(noCatchAll).expressions.at(-1);
    assert.deepEqual(last, {
      Protocol: "ip",
      SourceNetwork: "",
      SourcePort: "",
      DestinationPort: "",
      Action: "deny",
      Description: "moat default: deny",
    });
    assert.equal(cloudExpressions(LINUX).expressions.length, 11);
  });

  test("the 30-expression limit applies to the expanded list", () => {
    const filter: Filter = {
      ...LINUX,
      rules: [
        rule({
          action: "allow",
          protocol: "udp",
          destinationPorts: ports(...Array.from({ length: 30 }, (_, i) => 100 + 2 * i)),
        }),
      ],
    };
    const { expressions, warnings } = cloudExpressions(filter);
    assert.equal(expressions.length, 31);
    assert.ok(warnings.some((w) => w.startsWith("31 expressions") && w.includes("at most 30")));
  });

  test("what IPv4-only stateless cloud filters cannot hold is said, rule by rule", () => {
    const { expressions, warnings } = cloudExpressions(DUAL);
    assert.ok(warnings.some((w) => w.startsWith("rule 1: icmpv6 cannot be expressed")));
    assert.ok(warnings.some((w) => w.startsWith("rule 3: IPv6 sources left out")));
    assert.ok(warnings.some((w) => w.includes("stateless")));
    assert.ok(warnings.some((w) => w.includes("IPv6 passes it unfiltered")));
    assert.ok(!expressions.some((e) => e.SourceNetwork.includes(":")));
    const v6only: Filter = {
      ...DUAL,
      rules: [rule({ action: "allow", protocol: "tcp", sources: [cidr("2001:db8::/32")] })],
    };
    const result = cloudExpressions(v6only);
    assert.ok(result.warnings.some((w) => w.startsWith("rule 1: only IPv6 sources")));
    assert.equal(result.expressions.length, 1, "only the default remains");
  });

  test("a filter that leaves IPv4 alone compiles to no expressions, with a warning", () => {
    const { expressions, warnings } = cloudExpressions({ ...DUAL, families: ["ipv6"] });
    assert.deepEqual(expressions, []);
    assert.ok(warnings.some((w) => w.includes("does not cover IPv4")));
  });
});

describe("text safety", () => {
  test("comments lose quotes and control characters and fit nft's 128 bytes", () => {
    assert.equal(commentText('a "b"\n\\c $x'), "a 'b' 'c 'x");
    const long = commentText("日本語".repeat(40));
    assert.ok(Buffer.byteLength(long) <= 120);
    assert.ok(long.endsWith("..."));
  });

  test("HCL strings escape templates and quotes; resource names are identifiers", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${...} is what is being escaped.
    assert.equal(hclString('a "${x}" %{y} \\'), '"a \\"$${x}\\" %%{y} \\\\"');
    assert.equal(resourceName("dual stack web"), "dual_stack_web");
    assert.equal(resourceName("1st"), "moat_1st");
  });

  test("sources are masked and nested networks dropped; ports merged", () => {
    assert.deepEqual(
      normalizeSources([cidr("192.0.2.7/24"), cidr("192.0.2.9"), cidr("10.0.0.0/8")]).map(
        (c) => `${c.address}/${c.prefix}`,
      ),
      ["192.0.2.0/24", "10.0.0.0/8"],
    );
    assert.deepEqual(mergePorts(ports(80, [1, 79], 443, [444, 500])), ports([1, 80], [443, 500]));
  });
});

// ---------------------------------------------------------------------------------------------
// The tools' own check modes, in a throwaway network namespace so nothing on the host is touched.

function toolSkip(tool: string): string | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return `${tool} check mode needs root`;
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} not installed`;
  return undefined;
}

function check(tool: string, args: string[], input: string): void {
  try {
    execFileSync("unshare", ["-n", tool, ...args], { input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error);
    assert.fail(`${tool} ${args.join(" ")} refused:\n${stderr}\n--- input ---\n${input}`);
  }
}

const nftCheck = (script: string) => check("nft", ["-c", "-f", "-"], script);
const iptCheck = (result: { ipv4: string; ipv6: string }) => {
  check("iptables-restore", ["--test", "--noflush"], result.ipv4);
  check("ip6tables-restore", ["--test", "--noflush"], result.ipv6);
};

const cidrArb: fc.Arbitrary<Cidr> = fc.oneof(
  fc
    .tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }))
    .map(([a, p]) => ({ family: "ipv4" as const, address: a, prefix: p })),
  fc
    .tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }))
    .map(([a, p]) => ({ family: "ipv6" as const, address: a, prefix: p })),
);
const rangeArb = fc
  .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
  .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
const portsArb = fc.option(fc.array(rangeArb, { minLength: 1, maxLength: 20 }), { nil: null });
const randomRule: fc.Arbitrary<FilterRule> = fc
  .record({
    action: fc.constantFrom<"allow" | "deny">("allow", "deny"),
    protocol: fc.constantFrom<FilterRule["protocol"]>("tcp", "udp", "icmp", "icmpv6", "fragment", "ip"),
    sources: fc.option(fc.array(cidrArb, { minLength: 1, maxLength: 5 }), { nil: null }),
    sourcePorts: portsArb,
    destinationPorts: portsArb,
    description: fc.option(fc.string({ unit: "grapheme", maxLength: 200 }), { nil: null }),
  })
  .map((r) => {
    const ported = r.protocol === "tcp" || r.protocol === "udp";
    return {
      ...r,
      sourcePorts: ported ? r.sourcePorts : null,
      destinationPorts: ported ? r.destinationPorts : null,
      line: null,
    };
  });
const randomFilter: fc.Arbitrary<Filter> = fc.record({
  name: fc.string({ maxLength: 40 }),
  description: fc.option(fc.string({ maxLength: 80 }), { nil: null }),
  mode: fc.constantFrom<Filter["mode"]>("stateless", "stateful"),
  families: fc.constantFrom<Family[]>(["ipv4"], ["ipv6"], ["ipv4", "ipv6"], []),
  default: fc.constantFrom<"allow" | "deny">("allow", "deny"),
  rules: fc.array(randomRule, { maxLength: 12 }),
});
const interfaceArb = fc.option(fc.constantFrom("eth0", "ens3", "enp0s31f6", "wg-moat.1"), { nil: undefined });

describe("nft -c accepts what we compile", { skip: toolSkip("nft") }, () => {
  test("golden filters, every option", () => {
    for (const filter of [LINUX, DUAL, { ...LINUX, mode: "stateful" as const }, { ...DUAL, families: [] }]) {
      for (const opts of [{}, { counters: true }, { interface: "eth0", counters: true }])
        nftCheck(compileNft(filter, opts).output);
    }
  });

  test("30 random filters (fast-check)", () => {
    fc.assert(
      fc.property(randomFilter, fc.boolean(), interfaceArb, (filter, counters, iface) => {
        nftCheck(compileNft(filter, { counters, interface: iface }).output);
      }),
      { numRuns: 30 },
    );
  });
});

describe("iptables-restore --test accepts what we compile", {
  skip: toolSkip("iptables-restore") ?? toolSkip("ip6tables-restore"),
}, () => {
  test("golden filters", () => {
    for (const filter of [LINUX, DUAL, { ...LINUX, mode: "stateful" as const }]) {
      iptCheck(compileIptables(filter));
      iptCheck(compileIptables(filter, { interface: "eth0" }));
    }
  });

  test("30 random filters (fast-check)", () => {
    fc.assert(
      fc.property(randomFilter, interfaceArb, (filter, iface) =>
        iptCheck(compileIptables(filter, { interface: iface })),
      ),
      { numRuns: 30 },
    );
  });
});
