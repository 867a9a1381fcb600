/**
 * Damaged input: truncated and mutated nft JSON and iptables-save text must parse (possibly with
 * unknowns) or fail with an InputError that names the place; never another exception. Whatever
 * parses must also evaluate without throwing.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { InputError } from "../../../src/errors.js";
import { evaluateRuleset } from "../../../src/host/firewall/evaluate.js";
import { parseIptablesSave } from "../../../src/host/firewall/iptables.js";
import type { Ruleset } from "../../../src/host/firewall/model.js";
import { parseNftJson } from "../../../src/host/firewall/nft.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const NFT = [fixture("nft-ruleset.json"), fixture("nft-from-iptables.json")];
const SAVES = [
  fixture("iptables-nft.save"),
  fixture("ip6tables-nft.save"),
  fixture("iptables-nft-counters.save"),
];

const PACKETS = [
  {
    protocol: "tcp",
    family: "ipv4",
    source: "203.0.113.9",
    destination: "192.0.2.1",
    sourcePort: 4000,
    destinationPort: 22,
    fragment: false,
  },
  {
    protocol: "udp",
    family: "ipv6",
    source: "2001:db8:2::5",
    destination: "2001:db8:1::1",
    sourcePort: 53,
    destinationPort: 161,
    fragment: false,
  },
  {
    protocol: "other",
    family: "ipv4",
    source: "10.0.0.1",
    destination: "192.0.2.1",
    sourcePort: null,
    destinationPort: null,
    fragment: true,
  },
] as const;

/** Parse, then evaluate: only InputError with a place may escape. */
function survives(parse: () => Ruleset, wantLine: boolean): void {
  let ruleset: Ruleset;
  try {
    ruleset = parse();
  } catch (error) {
    assert.ok(error instanceof InputError, `not an InputError: ${String(error)}`);
    assert.ok(error.place !== undefined, "an InputError without a place");
    if (wantLine) assert.ok(error.place.line !== undefined, `no line: ${error.message}`);
    // JSON syntax errors carry a position only when V8 reports one; structural ones always a path
    else if (!/valid JSON|ends early/.test(error.message))
      assert.ok(error.place.path !== undefined, `no path: ${error.message}`);
    return;
  }
  for (const packet of PACKETS) {
    const verdict = evaluateRuleset(ruleset, { ...packet });
    assert.ok(["allow", "deny", "unknown"].includes(verdict.verdict));
  }
}

/** A value a newer or broken nft might put anywhere in the tree. */
const junk = fc.oneof(
  fc.constant(null),
  fc.integer({ min: -5, max: 70000 }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom("@nope", "10.0.0.300", "ipv4", "tcp", "accept", "::g"),
  fc.constant({ set: [1, "x", { range: [5, 1] }] }),
  fc.constant({ prefix: { addr: "1.2.3.4", len: 99 } }),
  fc.constant({ range: ["2001:db8::9", "192.0.2.1"] }),
  fc.constant([]),
  fc.constant({}),
);

/** Replaces the node at a random position of a JSON tree by `value`. */
function mutate(tree: unknown, pick: number, value: unknown): unknown {
  let counter = 0;
  const walk = (node: unknown): unknown => {
    if (counter++ === pick) return value;
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === "object")
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  return walk(tree);
}

describe("fuzz: nft JSON", () => {
  it("truncated anywhere: an InputError naming the place", () => {
    for (const text of NFT)
      for (let cut = 0; cut < text.trimEnd().length; cut += 7) {
        assert.throws(
          () => parseNftJson(text.slice(0, cut), "cut.json"),
          (error: unknown) => error instanceof InputError && error.place?.file === "cut.json",
        );
      }
  });

  it("mutated nodes: a ruleset (maybe with unknowns) or an InputError with a path", () => {
    fc.assert(
      fc.property(fc.constantFrom(...NFT), fc.nat(3000), junk, (text, pick, value) => {
        const mutated = JSON.stringify(mutate(JSON.parse(text), pick, value));
        survives(() => parseNftJson(mutated, "mutated.json"), false);
      }),
      { numRuns: 1500 },
    );
  });

  it("byte flips: never anything but an InputError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NFT),
        fc.nat(20000),
        fc.integer({ min: 32, max: 126 }),
        (text, at, code) => {
          const i = at % text.length;
          const flipped = text.slice(0, i) + String.fromCharCode(code) + text.slice(i + 1);
          survives(() => parseNftJson(flipped, "flipped.json"), false);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe("fuzz: iptables-save text", () => {
  it("truncated at any line: parsed or an InputError with file and line", () => {
    for (const text of SAVES) {
      const lines = text.split("\n");
      for (let n = 0; n <= lines.length; n++)
        survives(() => parseIptablesSave(lines.slice(0, n).join("\n"), { file: "cut" }), true);
    }
  });

  it("mutated words and characters: parsed or an InputError with file and line", () => {
    const words = fc.constantFrom(
      "!",
      "-m",
      "-p",
      "--dport",
      "-j",
      "-s",
      "300.0.0.1",
      "1:",
      "::",
      '"',
      "-A",
      "*nat",
      ":X - [0:0]",
      "COMMIT",
      "--ctstate",
      "FOO",
    );
    fc.assert(
      fc.property(fc.constantFrom(...SAVES), fc.nat(2000), words, fc.boolean(), (text, at, word, replace) => {
        const tokens = text.split(" ");
        const i = at % tokens.length;
        tokens.splice(i, replace ? 1 : 0, word);
        survives(() => parseIptablesSave(tokens.join(" "), { file: "mutated" }), true);
      }),
      { numRuns: 2000 },
    );
  });

  it("random printable lines inside a table", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 6 }), (lines) => {
        const text = `*filter\n:INPUT DROP [0:0]\n${lines.map((l) => `-A INPUT ${l}`).join("\n")}\nCOMMIT\n`;
        survives(() => parseIptablesSave(text, { file: "random" }), true);
      }),
      { numRuns: 1000 },
    );
  });
});
