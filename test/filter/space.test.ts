import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ALL_CLASSES,
  type Box,
  CLASS,
  cidrRange,
  contains,
  covers,
  intersect,
  intersects,
  isEmpty,
  merge,
  type Point,
  ruleSpace,
  type Space,
  sourceRanges,
  subtract,
  subtractBox,
  universe,
  V6_BASE,
} from "../../src/filter/space.js";
import type { FilterRule } from "../../src/filter/types.js";
import { parseCidr } from "../../src/net/cidr.js";

// A tiny domain where every point can be enumerated: the algebra is the same on any scale.
const SIZE = 8;
const CLASSES = [CLASS.tcp, CLASS.udp, CLASS.icmp, CLASS.other, CLASS.fragment];

const interval = fc
  .tuple(fc.integer({ min: 0, max: SIZE - 1 }), fc.integer({ min: 0, max: SIZE - 1 }))
  .map(([x, y]) => [Math.min(x, y), Math.max(x, y)] as const);

const boxArb: fc.Arbitrary<Box> = fc
  .record({ classes: fc.integer({ min: 1, max: ALL_CLASSES }), a: interval, s: interval, d: interval })
  .map(({ classes, a, s, d }) => ({
    classes,
    a0: BigInt(a[0]),
    a1: BigInt(a[1]),
    s0: s[0],
    s1: s[1],
    d0: d[0],
    d1: d[1],
  }));

const spaceArb = fc.array(boxArb, { maxLength: 5 });

function* points(): Generator<Point> {
  for (const cls of CLASSES)
    for (let a = 0; a < SIZE; a++)
      for (let s = 0; s < SIZE; s++)
        for (let d = 0; d < SIZE; d++) yield { cls, address: BigInt(a), sourcePort: s, destinationPort: d };
}

function sameSet(actual: Space, expected: (p: Point) => boolean): void {
  for (const p of points())
    if (contains(actual, p) !== expected(p))
      assert.fail(`point ${JSON.stringify({ ...p, address: String(p.address) })}: expected ${expected(p)}`);
}

describe("space: set algebra agrees with enumerating every point", () => {
  it("subtract(a, b) holds exactly the points of a that are not in b", () => {
    fc.assert(
      fc.property(spaceArb, spaceArb, (a, b) => {
        sameSet(subtract(a, b), (p) => contains(a, p) && !contains(b, p));
      }),
      { numRuns: 150 },
    );
  });

  it("intersect, intersects and covers agree with membership", () => {
    fc.assert(
      fc.property(spaceArb, spaceArb, (a, b) => {
        const both = intersect(a, b);
        sameSet(both, (p) => contains(a, p) && contains(b, p));
        assert.equal(intersects(a, b), !isEmpty(both));
        let all = true;
        for (const p of points()) if (contains(b, p) && !contains(a, p)) all = false;
        assert.equal(covers(a, b), all);
      }),
      { numRuns: 150 },
    );
  });

  it("merge keeps the set and never adds boxes", () => {
    fc.assert(
      fc.property(fc.array(boxArb, { maxLength: 12 }), (a) => {
        const merged = merge(a);
        assert.ok(merged.length <= a.length);
        sameSet(merged, (p) => contains(a, p));
      }),
      { numRuns: 150 },
    );
  });

  it("a box minus a box is at most 7 disjoint pieces", () => {
    fc.assert(
      fc.property(boxArb, boxArb, (a, b) => {
        const pieces = subtractBox(a, b);
        assert.ok(pieces.length <= 7);
        for (let i = 0; i < pieces.length; i++)
          for (let j = i + 1; j < pieces.length; j++) assert.ok(!intersects([pieces[i]!], [pieces[j]!]));
      }),
      { numRuns: 300 },
    );
  });

  it("sourceRanges is the union of the boxes' address ranges", () => {
    fc.assert(
      fc.property(spaceArb, (a) => {
        const ranges = sourceRanges(a);
        for (let x = 0n; x < BigInt(SIZE); x++) {
          const inBoxes = a.some((b) => b.a0 <= x && x <= b.a1);
          const inRanges = ranges.some(([lo, hi]) => lo <= x && x <= hi);
          assert.equal(inRanges, inBoxes);
        }
        for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]![0] > ranges[i - 1]![1] + 1n);
      }),
    );
  });
});

describe("space: rules", () => {
  const rule = (partial: Partial<FilterRule>): FilterRule => ({
    action: "allow",
    protocol: "tcp",
    sources: null,
    sourcePorts: null,
    destinationPorts: null,
    description: null,
    line: null,
    ...partial,
  });

  it("places networks on one line, IPv6 after IPv4", () => {
    assert.deepEqual(cidrRange(parseCidr("192.0.2.0/24")), [0xc0000200n, 0xc00002ffn]);
    assert.deepEqual(cidrRange(parseCidr("0.0.0.0/0")), [0n, V6_BASE - 1n]);
    const [lo, hi] = cidrRange(parseCidr("2001:db8::/126"));
    assert.equal(lo, V6_BASE + (0x20010db8n << 96n));
    assert.equal(hi - lo, 3n);
  });

  it("an ip rule from anywhere is the whole universe of the covered families", () => {
    const all = ruleSpace(rule({ protocol: "ip" }), ["ipv4", "ipv6"]);
    assert.ok(covers(all, universe(["ipv4", "ipv6"])));
    assert.ok(covers(universe(["ipv4", "ipv6"]), all));
  });

  it("icmp is IPv4's only and icmpv6 IPv6's only", () => {
    const icmp = ruleSpace(rule({ protocol: "icmp" }), ["ipv4", "ipv6"]);
    const icmpv6 = ruleSpace(rule({ protocol: "icmpv6" }), ["ipv4", "ipv6"]);
    assert.ok(!intersects(icmp, icmpv6));
    assert.ok(icmp.every((b) => b.a1 < V6_BASE));
    assert.ok(icmpv6.every((b) => b.a0 >= V6_BASE));
    assert.ok(isEmpty(ruleSpace(rule({ protocol: "icmpv6" }), ["ipv4"])));
  });

  it("an empty source list matches nothing; sources of an uncovered family match nothing", () => {
    assert.ok(isEmpty(ruleSpace(rule({ sources: [] }), ["ipv4"])));
    assert.ok(isEmpty(ruleSpace(rule({ sources: [parseCidr("2001:db8::/32")] }), ["ipv4"])));
  });

  it("port lists merge: 22, 23 and 20-21 are one box", () => {
    const space = ruleSpace(
      rule({
        destinationPorts: [
          { start: 22, end: 22 },
          { start: 23, end: 23 },
          { start: 20, end: 21 },
        ],
      }),
      ["ipv4"],
    );
    assert.equal(space.length, 1);
    assert.equal(space[0]!.d0, 20);
    assert.equal(space[0]!.d1, 23);
  });

  it("a tcp rule without ports does not cover ip, nor fragments", () => {
    const tcp = ruleSpace(rule({}), ["ipv4"]);
    const ip = ruleSpace(rule({ protocol: "ip" }), ["ipv4"]);
    assert.ok(!covers(tcp, ip));
    const fragments = ruleSpace(rule({ protocol: "fragment" }), ["ipv4"]);
    assert.ok(!intersects(tcp, fragments));
  });

  it("stays small for 100 rules: subtracting them all keeps few boxes and is quick", () => {
    const rules: FilterRule[] = [];
    for (let i = 0; i < 100; i++)
      rules.push(
        rule({
          protocol: i % 2 === 0 ? "tcp" : "udp",
          sources: i % 3 === 0 ? null : [parseCidr(`198.51.${i}.0/24`)],
          destinationPorts: [{ start: 1000 + i * 7, end: 1000 + i * 7 + (i % 5) }],
        }),
      );
    let rest: Space = universe(["ipv4", "ipv6"]);
    for (const r of rules) rest = subtract(rest, ruleSpace(r, ["ipv4", "ipv6"]));
    assert.ok(rest.length < 2000, `${rest.length} boxes`);
  });
});
