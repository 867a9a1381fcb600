/**
 * The parsers against output captured from real `nft -j list ruleset` and `iptables-save` in a
 * namespace (fixtures/*.source.* hold the rules that were loaded). Each parse is compared whole with
 * a reviewed snapshot (fixtures/*.expected.json; UPDATE_FIXTURES=1 rewrites them), and the rules
 * that matter most are spelled out here as well so a snapshot refresh cannot hide a regression.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InputError } from "../../../src/errors.js";
import { parseIptablesSave } from "../../../src/host/firewall/iptables.js";
import type { Chain, Rule, Ruleset } from "../../../src/host/firewall/model.js";
import { parseNftJson } from "../../../src/host/firewall/nft.js";
import { effectiveRulesets } from "../../../src/host/firewall/read.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

function snapshot(name: string, value: Ruleset): void {
  const path = join(FIXTURES, `${name}.expected.json`);
  const text = `${JSON.stringify(value, null, 1)}\n`;
  if (process.env.UPDATE_FIXTURES === "1") writeFileSync(path, text);
  assert.deepEqual(JSON.parse(text), JSON.parse(readFileSync(path, "utf8")));
}

function chain(ruleset: Ruleset, label: string): Chain {
  for (const table of ruleset.tables)
    for (const c of table.chains) if (`${table.family} ${table.name} ${c.name}` === label) return c;
  throw new Error(`no chain ${label}`);
}

const byHandle = (c: Chain, handle: number): Rule => c.rules.find((r) => r.ref.handle === handle)!;

describe("nft -j list ruleset", () => {
  const ruleset = parseNftJson(fixture("nft-ruleset.json"), "nft-ruleset.json");

  it("matches the reviewed snapshot", () => snapshot("nft-ruleset", ruleset));

  it("reads tables, base chains with hook, priority and policy, and regular chains", () => {
    assert.deepEqual(
      ruleset.tables.map((t) => `${t.family} ${t.name}: ${t.chains.map((c) => c.name).join(",")}`),
      ["inet filter: input,moat,moat2,pre", "ip extra: in2", "netdev ing: ingress", "inet extras: in3"],
    );
    assert.deepEqual(chain(ruleset, "inet filter input").base, {
      type: "filter",
      hook: "input",
      priority: 0,
      policy: "drop",
      devices: [],
    });
    assert.equal(chain(ruleset, "inet filter pre").base?.priority, -300);
    assert.equal(chain(ruleset, "inet filter moat").base, null);
  });

  it("resolves named sets with ranges, prefixes and single addresses", () => {
    const rule = byHandle(chain(ruleset, "inet filter input"), 15);
    assert.deepEqual(rule.matches, [
      {
        kind: "port",
        field: "dport",
        negate: false,
        protocol: 6,
        ports: [{ start: 22, end: 22 }],
        set: null,
      },
      {
        kind: "address",
        field: "saddr",
        negate: false,
        family: "ipv4",
        set: "admins",
        items: [
          { family: "ipv4", kind: "range", first: "192.0.2.10", last: "192.0.2.20" },
          { family: "ipv4", kind: "prefix", address: "198.51.100.7", prefix: 32 },
          { family: "ipv4", kind: "prefix", address: "203.0.113.0", prefix: 24 },
        ],
      },
    ]);
    assert.deepEqual(rule.verdict, { kind: "accept" });
    assert.equal(rule.ref.text, "tcp dport 22 ip saddr @admins accept");
  });

  it("reads th dport sets, meta l4proto sets, negation, ranges, fragments and reject", () => {
    const input = chain(ruleset, "inet filter input");
    assert.deepEqual(byHandle(input, 20).matches[1], {
      kind: "l4proto",
      negate: false,
      family: null,
      protocols: [
        { start: 6, end: 6 },
        { start: 17, end: 17 },
      ],
    });
    const th = byHandle(input, 20).matches[0];
    assert.equal(th?.kind === "port" ? th.protocol : "not a port match", null);
    assert.deepEqual(byHandle(input, 22).matches[0], {
      kind: "address",
      field: "saddr",
      negate: true,
      family: "ipv4",
      set: null,
      items: [{ family: "ipv4", kind: "prefix", address: "10.0.0.0", prefix: 8 }],
    });
    assert.deepEqual(byHandle(input, 25).matches, [{ kind: "fragment", negate: false }]);
    assert.deepEqual(byHandle(input, 25).effects, [{ kind: "counter" }]);
    assert.deepEqual(byHandle(input, 26).verdict, { kind: "reject" });
    assert.deepEqual(byHandle(input, 24).matches, [
      { kind: "l4proto", negate: false, family: "ipv6", protocols: [{ start: 132, end: 132 }] },
    ]);
    assert.deepEqual(byHandle(input, 28).verdict, { kind: "jump", target: "moat" });
    assert.deepEqual(byHandle(input, 7).matches, [
      { kind: "ctstate", negate: false, states: ["established", "related"] },
    ]);
  });

  it("keeps what it does not model as unknown, with the rule's handle", () => {
    const input = chain(ruleset, "inet filter input");
    assert.deepEqual(byHandle(input, 29).matches, [{ kind: "unknown", text: "meta mark 1" }]);
    assert.equal(byHandle(input, 30).matches[0]?.kind, "unknown");
    const in3 = chain(ruleset, "inet extras in3");
    assert.equal(byHandle(in3, 9).matches[0]?.kind, "unknown"); // concatenation
    assert.match(byHandle(in3, 10).ref.text, /^fib daddr type local/);
    assert.deepEqual(byHandle(chain(ruleset, "inet filter pre"), 39).effects, [{ kind: "notrack" }]);
  });

  it("reads verdict maps", () => {
    const vmap = byHandle(chain(ruleset, "inet extras in3"), 12).verdict;
    assert.equal(vmap.kind, "vmap");
    if (vmap.kind !== "vmap") return;
    assert.deepEqual(
      vmap.entries.map((e) => [e.match.kind === "port" ? e.match.ports[0]?.start : null, e.verdict.kind]),
      [
        [111, "accept"],
        [2049, "drop"],
      ],
    );
  });

  it("turns iptables-nft's xt blobs into unknowns, except comment and REJECT/LOG targets", () => {
    const fromIptables = parseNftJson(fixture("nft-from-iptables.json"));
    const input = chain(fromIptables, "ip filter INPUT");
    assert.deepEqual(input.rules[0]?.matches, [{ kind: "unknown", text: "xt match conntrack" }]);
    assert.equal(
      input.rules[4]?.matches.some((m) => m.kind === "unknown"),
      false,
    );
    assert.deepEqual(input.rules[10]?.verdict, { kind: "reject" });
    assert.deepEqual(chain(fromIptables, "ip filter LOGDROP").rules[0]?.effects, [
      { kind: "counter" },
      { kind: "log" },
    ]);
  });
});

describe("iptables-save", () => {
  const v4 = parseIptablesSave(fixture("iptables-nft.save"), { file: "iptables-nft.save" });
  const v6 = parseIptablesSave(fixture("ip6tables-nft.save"), { file: "ip6tables-nft.save" });

  it("matches the reviewed snapshots", () => {
    snapshot("iptables-nft", v4);
    snapshot("ip6tables-nft", v6);
  });

  it("knows the family and the nf_tables build from the header", () => {
    assert.equal(v4.source, "iptables");
    assert.equal(v6.source, "ip6tables");
    assert.equal(v6.tables[0]?.family, "ip6");
    assert.match(v4.notes[0] ?? "", /iptables-nft/);
    assert.equal(parseIptablesSave(fixture("iptables-legacy.save")).source, "iptables-legacy");
  });

  it("reads policies as base chains at the table's priority", () => {
    assert.deepEqual(chain(v4, "ip filter INPUT").base, {
      type: "filter",
      hook: "input",
      priority: 0,
      policy: "drop",
      devices: [],
    });
    assert.equal(chain(v4, "ip raw PREROUTING").base?.priority, -300);
    assert.equal(chain(v4, "ip filter MOAT").base, null);
  });

  it("reads addresses, ports, multiport ranges, states, interfaces, fragments, comments and targets", () => {
    const input = chain(v4, "ip filter INPUT").rules;
    assert.deepEqual(
      input.map((r) => r.ref.line),
      [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
    );
    assert.deepEqual(input[0]?.matches, [
      { kind: "ctstate", negate: false, states: ["related", "established"] },
    ]);
    assert.deepEqual(input[2]?.matches, [{ kind: "iif", negate: false, byName: true, names: ["lo"] }]);
    assert.deepEqual(input[3]?.matches[0], { kind: "iif", negate: false, byName: true, names: ["veth*"] });
    assert.equal(input[4]?.ref.comment, "ssh from admins");
    assert.deepEqual(input[5]?.matches[1], {
      kind: "port",
      field: "dport",
      negate: false,
      protocol: 6,
      set: null,
      ports: [
        { start: 80, end: 80 },
        { start: 443, end: 443 },
        { start: 8000, end: 8010 },
      ],
    });
    assert.deepEqual(input[7]?.matches[0], {
      kind: "address",
      field: "saddr",
      negate: true,
      family: "ipv4",
      set: null,
      items: [{ family: "ipv4", kind: "prefix", address: "192.0.2.0", prefix: 24 }],
    });
    assert.deepEqual(input[9]?.matches, [{ kind: "fragment", negate: false }]);
    assert.deepEqual(input[10]?.verdict, { kind: "reject" });
    assert.deepEqual(input[12]?.matches[1], {
      kind: "port",
      field: "dport",
      negate: true,
      protocol: 6,
      set: null,
      ports: [{ start: 1, end: 1023 }],
    });
    assert.deepEqual(input[12]?.verdict, { kind: "jump", target: "MOAT" });
    assert.deepEqual(input[13]?.matches[1], { kind: "unknown", text: "-m limit --limit 5/sec" });
    assert.equal(input[15]?.matches[0]?.kind, "unknown");
    assert.deepEqual(chain(v4, "ip filter LOGDROP").rules[0]?.effects, [{ kind: "log" }]);
    assert.deepEqual(chain(v6, "ip6 filter INPUT").rules[4]?.matches[1], {
      kind: "tcpflags",
      negate: false,
      mask: 0x17,
      value: 0x02,
    });
  });

  it("reads -c counters the same as without", () => {
    const counted = parseIptablesSave(fixture("iptables-nft-counters.save"), { file: "iptables-nft.save" });
    const strip = (r: Ruleset) =>
      r.tables.map((t) => t.chains.map((c) => c.rules.map((x) => [x.matches, x.verdict, x.effects])));
    assert.deepEqual(strip(counted), strip(v4));
  });

  it("names file and line for broken structure", () => {
    const cases: Array<[string, RegExp, number]> = [
      ["-A INPUT -j ACCEPT\n", /outside a table/, 1],
      ["*filter\n:INPUT DROP [0:0]\n-A FOO -j ACCEPT\nCOMMIT\n", /FOO/, 3],
      ["*filter\n:INPUT DROP [0:0]\n-A INPUT -s 300.1.1.1 -j DROP\nCOMMIT\n", /300\.1\.1\.1/, 3],
      ["*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 70000 -j DROP\nCOMMIT\n", /70000/, 3],
      ['*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment "open -j DROP\nCOMMIT\n', /quoted/, 3],
      ["*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n", /no COMMIT/, 1],
      ["*filter\n:INPUT MAYBE [0:0]\nCOMMIT\n", /policy/, 2],
    ];
    for (const [text, message, line] of cases) {
      assert.throws(
        () => parseIptablesSave(text, { file: "rules.v4" }),
        (error: unknown) =>
          error instanceof InputError &&
          message.test(error.message) &&
          error.place?.file === "rules.v4" &&
          error.place.line === line,
        text,
      );
    }
  });
});

describe("nft JSON errors", () => {
  const cases: Array<[string, RegExp, string | undefined]> = [
    [
      '{"nftables": [{"table": {"family": "inet", "name": "f"}}, {"chain": {"family": "inet"',
      /ends early/,
      undefined,
    ],
    ['{"nope": []}', /nftables/, "nftables"],
    ['{"nftables": [{"table": {"family": "inet"}}]}', /./, "nftables[0].table.name"],
    [
      '{"nftables": [{"rule": {"family": "inet", "table": "t", "chain": "c", "expr": []}}]}',
      /not listed/,
      "nftables[0].rule.table",
    ],
    [
      '{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c"}}, {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 4, "expr": [{"counter": null}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.300"}}]}}]}',
      /handle 4.*10\.0\.0\.300/,
      "nftables[2].rule.expr[1].match.right[0]",
    ],
  ];
  for (const [text, message, path] of cases)
    it(`${message} at ${path}`, () => {
      assert.throws(
        () => parseNftJson(text, "ruleset.json"),
        (error: unknown) =>
          error instanceof InputError && message.test(error.message) && error.place?.path === path,
      );
    });

  it("keeps a newer nft's unknown expression as an unknown effect of its rule", () => {
    const text =
      '{"nftables": [{"table": {"family": "ip", "name": "t"}}, {"chain": {"family": "ip", "table": "t", "name": "c", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 9, "expr": [{"quantum-filter": {"x": 1}}, {"accept": null}]}}, {"flowtable": {"name": "f"}}]}';
    const ruleset = parseNftJson(text);
    const rule = ruleset.tables[0]!.chains[0]!.rules[0]!;
    assert.deepEqual(rule.effects, [{ kind: "unknown", text: '{"quantum-filter":{"x":1}}' }]);
    assert.equal(rule.ref.handle, 9);
    assert.match(ruleset.notes[0] ?? "", /flowtable/);
  });
});

describe("iptables-nft dedup", () => {
  it("takes iptables-nft's tables from the save text and drops them from nft's ruleset", () => {
    const nft = parseNftJson(fixture("nft-from-iptables.json"));
    const v4 = parseIptablesSave(fixture("iptables-nft.save"));
    const v6 = parseIptablesSave(fixture("ip6tables-nft.save"));
    const rulesets = effectiveRulesets(nft, [v4, v6]);
    assert.deepEqual(
      rulesets.map((r) => `${r.source}: ${r.tables.map((t) => `${t.family} ${t.name}`).join(", ")}`),
      ["nft: ", "iptables: ip raw, ip filter", "ip6tables: ip6 filter"],
    );
  });

  it("keeps legacy tables beside nft's, as both hook into netfilter", () => {
    const nft = parseNftJson(fixture("nft-from-iptables.json"));
    const legacy = parseIptablesSave(fixture("iptables-legacy.save"));
    const rulesets = effectiveRulesets(nft, [legacy]);
    assert.equal(rulesets[0]?.tables.length, 3);
    assert.equal(rulesets[1]?.source, "iptables-legacy");
  });
});
