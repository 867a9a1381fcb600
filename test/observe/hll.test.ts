import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Distinct } from "../../src/observe/distinct.js";
import { HyperLogLog, hash64Hex } from "../../src/observe/hll.js";
import { decodeDistinct, encodeDistinct } from "../../src/store/distinct-codec.js";

/** The n-th IPv4 address counted from `base`, as text: distinct for distinct n. */
function address(n: number, base = 0x0a000000): string {
  const v = (base + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The same address as an IPv4 key (address.ts): its 32 bits as a signed integer. */
function addressKey(n: number, base = 0x0a000000): number {
  return (base + n) | 0;
}

/** Both forms addresses take: IPv6 text goes through the string hash, IPv4 keys through the integer one. */
const FORMS = [
  ["text", address],
  ["IPv4 key", addressKey],
] as const;

/** Seeded xorshift32 for shuffled, non-sequential inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const relativeError = (estimate: number, truth: number) => Math.abs(estimate - truth) / truth;

describe("hash64", () => {
  const bits = (hex: string) => BigInt(`0x${hex}`);
  const popcount = (v: bigint) => v.toString(2).replace(/0/g, "").length;

  it("is a 64-bit function of the text alone", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const h = hash64Hex(s);
        assert.match(h, /^[0-9a-f]{16}$/);
        assert.equal(hash64Hex(`${s}`), h);
      }),
      { seed: 3 },
    );
  });

  for (const [form, of] of FORMS) {
    it(`avalanches (${form}): neighbouring addresses differ in about half of the 64 bits`, () => {
      // Neighbouring addresses differ in one character or one bit: exactly what a telescope sees.
      let flipped = 0;
      const n = 2000;
      for (let i = 0; i < n; i++) flipped += popcount(bits(hash64Hex(of(i))) ^ bits(hash64Hex(of(i + 1))));
      const mean = flipped / n;
      assert.ok(mean > 30 && mean < 34, `mean flipped bits ${mean}`);
    });

    it(`spreads sequential addresses (${form}) evenly over HyperLogLog registers (chi-square)`, () => {
      const registers = 1024;
      const counts = new Array<number>(registers).fill(0);
      const n = 102_400;
      for (let i = 0; i < n; i++) counts[Number(bits(hash64Hex(of(i))) >> 54n)]!++;
      const expected = n / registers;
      const chi = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
      // 1023 degrees of freedom: mean 1023, sd ~45; 1250 is p < 0.0001.
      assert.ok(chi < 1250, `chi-square ${chi.toFixed(0)}`);
    });
  }

  it("an IPv4 key and its text hash differently (a store keeps one form per address)", () => {
    assert.notEqual(hash64Hex(addressKey(1)), hash64Hex(address(1)));
  });
});

describe("HyperLogLog", () => {
  it("is exact-ish when empty and tiny", () => {
    const h = new HyperLogLog(14);
    assert.equal(h.count(), 0);
    h.add("192.0.2.1");
    h.add("192.0.2.1");
    assert.equal(h.count(), 1);
  });

  for (const [precision, n, seed, [form, of]] of [
    [14, 1_000, 1, FORMS[0]],
    [14, 20_000, 2, FORMS[0]],
    [14, 100_000, 3, FORMS[0]],
    [14, 1_000_000, 4, FORMS[0]],
    [12, 100_000, 5, FORMS[0]],
    [13, 300_000, 6, FORMS[0]],
    [14, 1_000, 7, FORMS[1]],
    [14, 100_000, 8, FORMS[1]],
    [14, 1_000_000, 9, FORMS[1]],
    [12, 100_000, 10, FORMS[1]],
  ] as const) {
    it(`relative error < 3% at p=${precision} on ${n.toLocaleString("en")} distinct addresses as ${form} (seed ${seed})`, () => {
      const h = new HyperLogLog(precision);
      const next = rng(seed);
      const base = next();
      for (let i = 0; i < n; i++) {
        h.add(of(i, base));
        if (i % 3 === 0) h.add(of(i, base)); // duplicates must not count
      }
      const error = relativeError(h.count(), n);
      assert.ok(error < 0.03, `estimate ${h.count()} for ${n}: error ${(error * 100).toFixed(2)}%`);
    });
  }

  it("merge is the union (overlapping halves) and is commutative", () => {
    const a = new HyperLogLog(14);
    const b = new HyperLogLog(14);
    const all = new HyperLogLog(14);
    for (let i = 0; i < 150_000; i++) {
      const s = address(i);
      if (i < 100_000) a.add(s);
      if (i >= 50_000) b.add(s);
      all.add(s);
    }
    const ab = a.clone();
    ab.merge(b);
    const ba = b.clone();
    ba.merge(a);
    assert.deepEqual(ab.registers, all.registers);
    assert.deepEqual(ba.registers, all.registers);
    assert.ok(relativeError(ab.count(), 150_000) < 0.03);
  });

  it("refuses bad precision and mismatched merges", () => {
    assert.throws(() => new HyperLogLog(3), RangeError);
    assert.throws(() => new HyperLogLog(14).merge(new HyperLogLog(12)), RangeError);
  });
});

describe("Distinct", () => {
  it("is exact up to its bound, then a sketch of fixed size", () => {
    const d = new Distinct({ bound: 100 });
    for (let i = 0; i < 100; i++) d.add(address(i));
    for (let i = 0; i < 100; i++) d.add(address(i));
    assert.equal(d.count(), 100);
    assert.ok(d.isExact());
    for (let i = 100; i < 50_000; i++) d.add(address(i));
    assert.ok(!d.isExact());
    assert.equal(d.storedValues(), 0);
    assert.ok(relativeError(d.count(), 50_000) < 0.03);
  });

  it("merge = union, exact or not", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(300), { maxLength: 300, size: "max" }),
        fc.array(fc.nat(300), { maxLength: 300, size: "max" }),
        (xs, ys) => {
          const a = new Distinct({ bound: 64 });
          const b = new Distinct({ bound: 64 });
          for (const x of xs) a.add(address(x));
          for (const y of ys) b.add(address(y));
          a.merge(b);
          const truth = new Set([...xs, ...ys]).size;
          if (a.isExact()) assert.equal(a.count(), truth);
          else
            assert.ok(Math.abs(a.count() - truth) <= Math.max(3, truth * 0.05), `${a.count()} vs ${truth}`);
        },
      ),
      { seed: 11, numRuns: 200 },
    );
    const big = new Distinct({ bound: 10 });
    const other = new Distinct({ bound: 10 });
    for (let i = 0; i < 20_000; i++) (i % 2 ? big : other).add(address(i));
    big.merge(other);
    assert.ok(relativeError(big.count(), 20_000) < 0.03);
  });

  it("survives a round trip through its stored form", () => {
    for (const n of [10, 10_000]) {
      for (const [, of] of FORMS) {
        const d = new Distinct({ bound: 100 });
        for (let i = 0; i < n; i++) d.add(of(i));
        const back = Distinct.fromState(decodeDistinct(encodeDistinct(d.toState()))!, { bound: 100 });
        assert.equal(back.count(), d.count());
        assert.equal(back.isExact(), d.isExact());
      }
    }
  });

  it("counts an IPv4 address once whether a state held it as text or as a key", () => {
    const d = Distinct.fromState({ exact: [address(1), address(2)] });
    d.add(addressKey(1));
    d.merge(Distinct.fromState({ exact: [addressKey(2), "2001:db8::1"] }));
    assert.equal(d.count(), 3);
  });
});
