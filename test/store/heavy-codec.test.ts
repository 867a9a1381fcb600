import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { keyOfText } from "../../src/observe/address.js";
import { HeavyHitters, type HeavyState } from "../../src/observe/heavy.js";
import { decodeHeavy, encodeHeavy } from "../../src/store/heavy-codec.js";

/** A summary's state as the aggregator makes it: distinct keys (IPv4 integers, IPv6 text), positive counts. */
const arbState: fc.Arbitrary<HeavyState> = fc
  .record({
    entries: fc.uniqueArray(
      fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()).map(keyOfText), fc.integer({ min: 1, max: 1e9 })),
      { selector: ([k]) => k, maxLength: 80 },
    ),
    decremented: fc.nat(1e6),
  })
  .map(({ entries, decremented }) => ({
    decremented,
    keys: entries.map(([k]) => k),
    counts: entries.map(([, c]) => c),
  }));

/** Key → count, the order-free content of a state. */
const content = (s: HeavyState) => new Map(s.keys.map((k, i) => [k, s.counts[i]]));

describe("heavy-codec", () => {
  it("decode(encode(state)) holds the same counters and decrement", () => {
    fc.assert(
      fc.property(arbState, (state) => {
        const back = decodeHeavy(encodeHeavy(state));
        assert.ok(back !== null);
        assert.equal(back.decremented, state.decremented);
        assert.deepEqual(content(back), content(state));
      }),
    );
  });

  it("a real summary comes back with the same top list", () => {
    const h = new HeavyHitters(4);
    for (let i = 0; i < 200; i++) h.add(keyOfText(`198.51.100.${i % 37}`), 1 + (i % 5));
    h.add("2001:db8::1", 400);
    const back = HeavyHitters.fromState(decodeHeavy(encodeHeavy(h.toState()))!, 4);
    assert.deepEqual(back.top(), h.top());
  });

  it("random, truncated and bogus bytes never throw: null, or a state a summary can be rebuilt from", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.uint8Array({ maxLength: 300 })).map(([rest]) => new Uint8Array([1, ...rest])),
      fc.tuple(arbState, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })).map(([s, cut]) => {
        const b = encodeHeavy(s);
        return b.subarray(0, Math.floor(b.length * cut));
      }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const state = decodeHeavy(b);
        if (state === null) return;
        assert.equal(state.keys.length, state.counts.length);
        HeavyHitters.fromState(state, 8).top();
      }),
    );
  });

  it("a count of entries larger than the bytes, or a negative or NaN count, is refused", () => {
    const good = Buffer.from(encodeHeavy({ decremented: 0, keys: [keyOfText("192.0.2.1")], counts: [3] }));
    const bigCount = Buffer.from(good);
    bigCount.writeUInt32BE(0xffffffff, 9);
    assert.equal(decodeHeavy(bigCount), null);
    const negative = Buffer.from(good);
    negative.writeDoubleBE(-1, 13);
    assert.equal(decodeHeavy(negative), null);
    const nan = Buffer.from(good);
    nan.writeDoubleBE(Number.NaN, 1);
    assert.equal(decodeHeavy(nan), null);
  });
});
