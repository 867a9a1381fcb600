import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  formatPortSpec,
  normalizePorts,
  parsePortSpec,
  parsePortSpecResult,
  portInRanges,
} from "../../src/net/ports.js";

describe("port specs", () => {
  it("reads a number, a range and a list", () => {
    assert.deepEqual(parsePortSpec(22), [{ start: 22, end: 22 }]);
    assert.deepEqual(parsePortSpec("22"), [{ start: 22, end: 22 }]);
    assert.deepEqual(parsePortSpec("32768-61000"), [{ start: 32768, end: 61000 }]);
    assert.deepEqual(parsePortSpec([0, "1-2", 65535]), [
      { start: 0, end: 0 },
      { start: 1, end: 2 },
      { start: 65535, end: 65535 },
    ]);
  });

  it("refuses reversed ranges, out-of-range ports and other values, naming the list item", () => {
    const bad = (value: unknown) => {
      const r = parsePortSpecResult(value);
      assert.equal(r.ok, false, JSON.stringify(value));
      return r.ok ? { message: "", index: undefined } : { message: r.message, index: r.index };
    };
    assert.match(bad("61000-32768").message, /reversed.*did you mean "32768-61000"/);
    assert.match(bad(65536).message, /not a port/);
    assert.match(bad(-1).message, /not a port/);
    assert.match(bad(22.5).message, /not a port/);
    assert.match(bad("ssh").message, /not a port or range/);
    assert.match(bad([]).message, /empty port list/);
    assert.match(bad(true).message, /found boolean/);
    assert.deepEqual(bad([22, "9-3"]).index, 1);
  });

  it("formatPortSpec is the inverse of parsePortSpec", () => {
    const range = fc
      .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
      .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 5 }), (ranges) => {
        assert.deepEqual(parsePortSpec(formatPortSpec(ranges)), ranges);
      }),
    );
  });

  it("normalizePorts keeps exactly the same ports", () => {
    const range = fc
      .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }))
      .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
    fc.assert(
      fc.property(fc.array(range, { maxLength: 6 }), fc.integer({ min: 0, max: 201 }), (ranges, port) => {
        const merged = normalizePorts(ranges);
        assert.equal(portInRanges(port, merged), portInRanges(port, ranges));
        for (let i = 1; i < merged.length; i++) assert.ok(merged[i]!.start > merged[i - 1]!.end + 1);
      }),
    );
  });
});
