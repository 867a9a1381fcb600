/**
 * prettyJsonParts joined is byte for byte JSON.stringify(value, null, 2) + "\n", whatever the
 * elements hold and however many parts they fill (empty, one, exactly a part, one over).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prettyJsonParts } from "../../src/report/json-parts.js";

const joined = (value: object, key: string) => [...prettyJsonParts(value, key)].join("");
const expected = (value: object) => `${JSON.stringify(value, null, 2)}\n`;

describe("prettyJsonParts", () => {
  it("joins to JSON.stringify's pretty text for any object with an array under the key", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
        fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 40 }),
        fc.string(),
        (rest, list, key) => {
          const value = { ...rest, [key]: list, after: rest };
          assert.equal(joined(value, key), expected(value));
        },
      ),
    );
  });

  it("holds across part boundaries (128 elements each) and with strings JSON must escape", () => {
    const element = (i: number) => ({ i, text: `"quoted" \\ \n\u0000 ${"é✓"}`, nested: { list: [i, null] } });
    for (const n of [0, 1, 127, 128, 129, 255, 256, 257, 1000]) {
      const value = { head: "h", items: Array.from({ length: n }, (_, i) => element(i)), tail: [] };
      assert.equal(joined(value, "items"), expected(value), `${n} elements`);
    }
  });

  it("prints the object as JSON.stringify does when the key holds no array", () => {
    for (const value of [{ a: 1 }, { items: "x" }, { items: [] }, { items: null, b: [1] }]) {
      assert.equal(joined(value, "items"), expected(value));
    }
  });
});
