import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { loadFilter, parseFilter, renderFilterYaml } from "../../src/filter/load.js";
import type { Filter } from "../../src/filter/types.js";
import { arbitraryFilter } from "./arbitraries.js";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

function loadError(name: string): InputError {
  try {
    loadFilter(fixture(name));
  } catch (error) {
    assert.ok(error instanceof InputError, `${name}: ${String(error)}`);
    return error;
  }
  assert.fail(`${name} loaded without an error`);
}

describe("loadFilter", () => {
  it("reads a YAML filter with defaults, sources of both families, port lists and rule lines", () => {
    const filter = loadFilter(fixture("good.yaml"));
    assert.equal(filter.name, "nic");
    assert.equal(filter.mode, "stateless");
    assert.deepEqual(filter.families, ["ipv4", "ipv6"]);
    assert.equal(filter.default, "deny");
    assert.deepEqual(
      filter.rules.map((r) => r.line),
      [8, 12, 17, 20, 25],
    );
    assert.deepEqual(filter.rules[0]!.destinationPorts, [
      { start: 80, end: 80 },
      { start: 443, end: 443 },
    ]);
    assert.deepEqual(filter.rules[1]!.sources, [
      { family: "ipv4", address: "203.0.113.0", prefix: 24 },
      { family: "ipv6", address: "2001:db8:1::", prefix: 48 },
    ]);
    assert.equal(filter.rules[2]!.description, null);
    assert.deepEqual(filter.rules[3]!.sourcePorts, [{ start: 53, end: 53 }]);
    assert.deepEqual(filter.rules[3]!.destinationPorts, [{ start: 32768, end: 61000 }]);
    assert.equal(filter.rules[4]!.sources, null);
  });

  it("reads JSON, with lines", () => {
    const filter = loadFilter(fixture("good.json"));
    assert.equal(filter.name, "nic-json");
    assert.equal(filter.default, "allow");
    assert.deepEqual(
      filter.rules.map((r) => r.line),
      [5, 6],
    );
    assert.deepEqual(filter.rules[1]!.sources, [{ family: "ipv4", address: "192.0.2.0", prefix: 24 }]);
  });

  const cases: [string, number, string | undefined, RegExp][] = [
    [
      "reversed-range.yaml",
      14,
      "rules[3].destinationPort",
      /"61000-32768" is reversed.*did you mean "32768-61000"/,
    ],
    [
      "host-bits.yaml",
      7,
      "rules[0].source[1]",
      /203\.0\.113\.5\/24 has host bits set; did you mean 203\.0\.113\.0\/24\?/,
    ],
    ["ports-on-icmp.yaml", 5, "rules[0].destinationPort", /an icmp rule has no ports/],
    [
      "unknown-protocol.yaml",
      6,
      "rules[1].protocol",
      /"sctp" is not allowed; use one of: tcp, udp, icmp, icmpv6, fragment, ip/,
    ],
    [
      "unknown-field.yaml",
      5,
      "rules[0].destination_port",
      /unknown field "destination_port"; did you mean destinationPort\?/,
    ],
    ["missing-action.yaml", 3, "rules[0].action", /required field is missing; use one of: allow, deny/],
    ["port-too-big.yaml", 6, "rules[0].sourcePort[1]", /70000 is not a port/],
    ["bad-source-json.json", 6, "rules[1].source", /"300\.1\.2\.3" is not an IPv4 or IPv6 address/],
    ["yaml-syntax.yaml", 4, undefined, /invalid YAML/],
    ["bad-json.json", 5, undefined, /invalid JSON/],
  ];
  for (const [name, line, path, pattern] of cases) {
    it(`${name}: line ${line}${path ? ` at ${path}` : ""}`, () => {
      const error = loadError(name);
      assert.equal(error.place?.file, fixture(name));
      assert.equal(error.place?.line, line, error.message);
      assert.equal(error.place?.path, path, error.message);
      assert.match(error.message, pattern);
      assert.ok(error.message.startsWith(`${fixture(name)}:${line}:`), error.message);
    });
  }

  it("refuses what is not a filter", () => {
    const bad: [string, RegExp][] = [
      ["", /empty/],
      ["- a\n- b\n", /a filter is a mapping/],
      ["just text", /a filter is a mapping/],
      ["name: x\n", /rules.*required field is missing|required field is missing/],
      ["name: x\nrules: []\nfamilies: []\n", /needs at least 1 item/],
      ["name: x\nrules: []\nfamilies: [ipv4, ipv4]\n", /lists a family twice/],
      [
        "name: x\nrules: []\nmode: conntrack\n",
        /"conntrack" is not allowed; use one of: stateless, stateful/,
      ],
      ["name: x\nrules:\n  - {action: allow, protocol: tcp, source: []}\n", /empty source list/],
      ["name: x\nrules:\n  - {action: allow, protocol: tcp, source: [5]}\n", /found number 5/],
      ["name: x\nrules:\n  - {action: allow, protocol: icmp, source: '2001:db8::/32'}\n", /use icmpv6/],
      [
        "name: x\nrules:\n  - {action: allow, protocol: fragment, sourcePort: 5}\n",
        /a fragment rule has no ports/,
      ],
      ["name: x\nrules: []\nx: &a [*a]\n", /.+/],
      ["name: x\u0000\nrules: []\n", /binary data/],
    ];
    for (const [text, pattern] of bad) {
      assert.throws(
        () => parseFilter(text, "t.yaml"),
        (error: unknown) =>
          error instanceof InputError && pattern.test(error.message) && error.place?.line !== undefined,
        JSON.stringify(text),
      );
    }
  });

  it("names a missing file", () => {
    assert.throws(
      () => loadFilter("/nonexistent/filter.yaml"),
      /filter\.yaml: cannot read the filter file \(ENOENT\)/,
    );
  });
});

describe("renderFilterYaml", () => {
  const withoutLines = (filter: Filter): Filter => ({
    ...filter,
    rules: filter.rules.map((r) => ({ ...r, line: null })),
  });

  it("writes a filter that reads back the same", () => {
    const filter = loadFilter(fixture("good.yaml"));
    assert.deepEqual(withoutLines(parseFilter(renderFilterYaml(filter), "again.yaml")), withoutLines(filter));
  });

  it("round-trips random filters, with a header comment", () => {
    fc.assert(
      fc.property(arbitraryFilter(), (filter) => {
        const text = renderFilterYaml(filter, "made by a test\nsecond line");
        assert.ok(text.startsWith("# made by a test\n# second line\n"));
        assert.deepEqual(withoutLines(parseFilter(text, "random.yaml")), filter);
      }),
      { numRuns: 300 },
    );
  });
});
