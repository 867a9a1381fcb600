/**
 * Damaged filter files: whatever the text, the loader returns a Filter or throws an InputError that
 * names a line inside the file; never another exception, never a hang.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { parseFilter, renderFilterYaml } from "../../src/filter/load.js";
import { arbitraryFilter } from "./arbitraries.js";

const GOOD = readFileSync(new URL("./fixtures/good.yaml", import.meta.url), "utf8");
const GOOD_JSON = readFileSync(new URL("./fixtures/good.json", import.meta.url), "utf8");

function check(text: string): void {
  try {
    parseFilter(text, "fuzz.yaml");
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const line = error.place?.line;
    assert.ok(line !== undefined, `no line: ${error.message}`);
    assert.ok(
      line >= 1 && line <= text.split("\n").length + 1,
      `line ${line} outside the file: ${error.message}`,
    );
    assert.equal(error.place?.file, "fuzz.yaml");
  }
}

/** Cut, insert, delete or swap characters and lines: the edits people and tools make by mistake. */
function damage(text: string): fc.Arbitrary<string> {
  const lines = text.split("\n");
  const pieces = [
    ":",
    "-",
    " ",
    "  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "#",
    "&a",
    "*a",
    "!!str",
    "0x",
    "-1",
    "99999",
    "/",
    "::",
    "\n",
    "null",
    "~",
    "...",
    "- ",
  ];
  return fc.oneof(
    fc.nat({ max: text.length }).map((n) => text.slice(0, n)),
    fc
      .tuple(fc.nat({ max: text.length }), fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 })))
      .map(([n, s]) => text.slice(0, n) + s + text.slice(n)),
    fc
      .tuple(fc.nat({ max: text.length }), fc.nat({ max: 8 }))
      .map(([n, k]) => text.slice(0, n) + text.slice(n + k)),
    fc.tuple(fc.nat({ max: lines.length - 1 }), fc.nat({ max: lines.length - 1 })).map(([a, b]) => {
      const copy = [...lines];
      [copy[a], copy[b]] = [copy[b]!, copy[a]!];
      return copy.join("\n");
    }),
    fc.nat({ max: lines.length - 1 }).map((n) => lines.filter((_, i) => i !== n).join("\n")),
  );
}

describe("filter loader under damage", () => {
  it("damaged fixture files give a Filter or an InputError with a line", () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(GOOD, GOOD_JSON)
          .chain((text) => damage(text).chain((once) => fc.oneof(fc.constant(once), damage(once)))),
        check,
      ),
      { numRuns: 3000 },
    );
  });

  it("damaged random filters give a Filter or an InputError with a line", () => {
    fc.assert(
      fc.property(
        arbitraryFilter(6).chain((filter) => damage(renderFilterYaml(filter))),
        check,
      ),
      { numRuns: 1500 },
    );
  });

  it("random text and random JSON values give a Filter or an InputError with a line", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 1000 });
    fc.assert(
      fc.property(fc.jsonValue(), (value) => check(JSON.stringify(value, null, 1) ?? "null")),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(
        fc.record({
          name: fc.jsonValue(),
          rules: fc.array(
            fc.record(
              {
                action: fc.jsonValue(),
                protocol: fc.constantFrom("tcp", "udp", "icmp", "ip", "x"),
                source: fc.jsonValue(),
                destinationPort: fc.jsonValue(),
              },
              { requiredKeys: [] },
            ),
          ),
        }),
        (value) => check(JSON.stringify(value, null, 1)),
      ),
      { numRuns: 1000 },
    );
  });

  it("refuses alias bombs without expanding them", () => {
    const bomb = ["name: x", "rules: []", 'a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 12; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      );
    assert.throws(() => parseFilter(bomb.join("\n"), "bomb.yaml"), InputError);
  });
});
