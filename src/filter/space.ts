/**
 * Exact set algebra over packets: which packets a rule matches, as a union of boxes. The linter
 * uses it to prove things about a filter ("rule 7 is never reached", "the default action is never
 * used", "DNS replies are denied from every server") for every packet at once, which string
 * comparison or sampling cannot do.
 *
 * A box is a product of four dimensions:
 * - `classes`: a bit set of packet classes (tcp, udp, icmp, other protocols, non-first fragments).
 *   The `ICMP` bit means the ICMP of the packet's own family (icmp for IPv4, icmpv6 for IPv6), so
 *   an ICMPv6 packet to an IPv4 address cannot be expressed, exactly as in the evaluator, where it
 *   counts as "other".
 * - source address as an inclusive bigint range on one line: IPv4 at [0, 2^32), IPv6 at
 *   [2^32, 2^32 + 2^128). Putting both families on one line makes "any source" a single range and
 *   the family a by-product of the address.
 * - source port and destination port, inclusive ranges in 0-65535.
 *
 * Invariant: a box whose classes include a class without ports (icmp, other, fragment) has full
 * port ranges. Rules only restrict ports for tcp/udp, and subtraction splits classes first, so the
 * invariant holds for every box built here; it is what makes port ranges meaningless (not wrong) for
 * portless packets.
 *
 * Complexity: subtracting one box from one box yields at most 7 disjoint boxes (1 for the classes
 * outside the subtrahend, 2 per interval dimension). Subtracting a space of m boxes from a space of
 * k boxes is O(k * m * 7) before merging; merging (boxes equal in all but one dimension and touching
 * in it become one) keeps k bounded by the number of cells of the grid the rules' edges draw — in
 * practice tens of boxes for 100-rule filters, since real rules share their edges. The linter's
 * reachability pass is O(n^2) such subtractions for n rules, with early exit once a rule's
 * remaining space is empty.
 */
import type { Family } from "../host/types.js";
import { parseAddress } from "../net/cidr.js";
import type { Cidr, FilterProtocol, FilterRule, PortRange } from "./types.js";

export const CLASS = { tcp: 1, udp: 2, icmp: 4, other: 8, fragment: 16 } as const;
export const ALL_CLASSES = 31;
/** The classes that carry ports. */
const PORTED = CLASS.tcp | CLASS.udp;

export const MAX_PORT = 65535;
export const V6_BASE = 1n << 32n;
const FAMILY_RANGE: Record<Family, readonly [bigint, bigint]> = {
  ipv4: [0n, V6_BASE - 1n],
  ipv6: [V6_BASE, V6_BASE + (1n << 128n) - 1n],
};

/** Packets whose class is in `classes`, source address in [a0, a1], ports in [s0, s1] and [d0, d1]. */
export interface Box {
  readonly classes: number;
  readonly a0: bigint;
  readonly a1: bigint;
  readonly s0: number;
  readonly s1: number;
  readonly d0: number;
  readonly d1: number;
}

/** A union of boxes (not necessarily disjoint). The empty array is the empty set. */
export type Space = readonly Box[];

/** One packet as a point of the space, for tests and for membership checks. */
export interface Point {
  cls: number;
  address: bigint;
  sourcePort: number;
  destinationPort: number;
}

export function familyRange(family: Family): readonly [bigint, bigint] {
  return FAMILY_RANGE[family];
}

/** The family an address on the line belongs to. */
export function familyOf(address: bigint): Family {
  return address < V6_BASE ? "ipv4" : "ipv6";
}

/** Every packet of the given families. */
export function universe(families: readonly Family[]): Space {
  return families.map((family) => fullBox(ALL_CLASSES, family));
}

function fullBox(classes: number, family: Family): Box {
  const [a0, a1] = FAMILY_RANGE[family];
  return { classes, a0, a1, s0: 0, s1: MAX_PORT, d0: 0, d1: MAX_PORT };
}

/** The inclusive address range of a network, on the line. */
export function cidrRange(cidr: Cidr): [bigint, bigint] {
  const words = parseAddress(cidr.address).words;
  let value = 0n;
  for (const word of words) value = (value << 32n) | BigInt(word >>> 0);
  const bits = cidr.family === "ipv4" ? 32 : 128;
  const hostBits = BigInt(bits - cidr.prefix);
  const network = (value >> hostBits) << hostBits;
  const base = cidr.family === "ipv4" ? 0n : V6_BASE;
  return [base + network, base + network + (1n << hostBits) - 1n];
}

/** An address's place on the line. */
export function addressPoint(family: Family, words: ArrayLike<number>): bigint {
  let value = 0n;
  for (let i = 0; i < words.length; i++) value = (value << 32n) | BigInt(words[i]! >>> 0);
  return family === "ipv4" ? value : V6_BASE + value;
}

/** Which classes, and which families, a rule protocol can match (icmp is IPv4's, icmpv6 IPv6's). */
const PROTOCOL_SPACE: Record<FilterProtocol, { classes: number; families: readonly Family[] }> = {
  tcp: { classes: CLASS.tcp, families: ["ipv4", "ipv6"] },
  udp: { classes: CLASS.udp, families: ["ipv4", "ipv6"] },
  icmp: { classes: CLASS.icmp, families: ["ipv4"] },
  icmpv6: { classes: CLASS.icmp, families: ["ipv6"] },
  fragment: { classes: CLASS.fragment, families: ["ipv4", "ipv6"] },
  ip: { classes: ALL_CLASSES, families: ["ipv4", "ipv6"] },
};

/**
 * The packets of the `families` a filter covers that `rule` matches, with the evaluator's
 * semantics: null = any, an empty list = nothing, ports only for tcp/udp.
 */
export function ruleSpace(rule: FilterRule, families: readonly Family[]): Space {
  const { classes, families: protocolFamilies } = PROTOCOL_SPACE[rule.protocol];
  const ported = (classes & ~PORTED) === 0;
  const addresses: [bigint, bigint][] =
    rule.sources === null
      ? protocolFamilies.map((f) => [...FAMILY_RANGE[f]] as [bigint, bigint])
      : rule.sources.filter((c) => protocolFamilies.includes(c.family)).map(cidrRange);
  const wanted = addresses.filter(([a0]) => families.includes(familyOf(a0)));
  const full: PortRange[] = [{ start: 0, end: MAX_PORT }];
  const sourcePorts = ported && rule.sourcePorts !== null ? mergeRanges(rule.sourcePorts) : full;
  const destinationPorts =
    ported && rule.destinationPorts !== null ? mergeRanges(rule.destinationPorts) : full;
  const boxes: Box[] = [];
  for (const [a0, a1] of wanted)
    for (const s of sourcePorts)
      for (const d of destinationPorts)
        boxes.push({ classes, a0, a1, s0: s.start, s1: s.end, d0: d.start, d1: d.end });
  return merge(boxes);
}

function mergeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** The intersection of two boxes, or undefined when they do not meet. */
export function intersectBox(a: Box, b: Box): Box | undefined {
  const classes = a.classes & b.classes;
  if (classes === 0) return undefined;
  const a0 = bigMax(a.a0, b.a0);
  const a1 = bigMin(a.a1, b.a1);
  if (a0 > a1) return undefined;
  const s0 = Math.max(a.s0, b.s0);
  const s1 = Math.min(a.s1, b.s1);
  if (s0 > s1) return undefined;
  const d0 = Math.max(a.d0, b.d0);
  const d1 = Math.min(a.d1, b.d1);
  if (d0 > d1) return undefined;
  return { classes, a0, a1, s0, s1, d0, d1 };
}

// Math.max/min do not take bigints.
function bigMax(x: bigint, y: bigint): bigint {
  return x > y ? x : y;
}

function bigMin(x: bigint, y: bigint): bigint {
  return x < y ? x : y;
}

/** a minus b as at most 7 disjoint boxes: peel off what lies outside b, dimension by dimension. */
export function subtractBox(a: Box, b: Box): Box[] {
  const inner = intersectBox(a, b);
  if (inner === undefined) return [a];
  const out: Box[] = [];
  const outsideClasses = a.classes & ~b.classes;
  if (outsideClasses !== 0) out.push({ ...a, classes: outsideClasses });
  let rest: Box = { ...a, classes: inner.classes };
  if (rest.a0 < inner.a0) out.push({ ...rest, a1: inner.a0 - 1n });
  if (inner.a1 < rest.a1) out.push({ ...rest, a0: inner.a1 + 1n });
  rest = { ...rest, a0: inner.a0, a1: inner.a1 };
  if (rest.s0 < inner.s0) out.push({ ...rest, s1: inner.s0 - 1 });
  if (inner.s1 < rest.s1) out.push({ ...rest, s0: inner.s1 + 1 });
  rest = { ...rest, s0: inner.s0, s1: inner.s1 };
  if (rest.d0 < inner.d0) out.push({ ...rest, d1: inner.d0 - 1 });
  if (inner.d1 < rest.d1) out.push({ ...rest, d0: inner.d1 + 1 });
  return out;
}

/** Every packet in `a` that is not in `b`. */
export function subtract(a: Space, b: Space): Space {
  let rest: Box[] = [...a];
  for (const cut of b) {
    if (rest.length === 0) break;
    const next: Box[] = [];
    let split = false;
    for (const box of rest) {
      const pieces = subtractBox(box, cut);
      if (pieces.length !== 1 || pieces[0] !== box) split = true;
      for (const piece of pieces) next.push(piece);
    }
    // Merge only when something was cut: merging is the expensive part and untouched boxes are already merged.
    rest = split && next.length > 1 ? merge(next) : next;
  }
  return rest;
}

export function intersect(a: Space, b: Space): Space {
  const out: Box[] = [];
  for (const x of a)
    for (const y of b) {
      const both = intersectBox(x, y);
      if (both !== undefined) out.push(both);
    }
  return merge(out);
}

export function intersects(a: Space, b: Space): boolean {
  for (const x of a) for (const y of b) if (intersectBox(x, y) !== undefined) return true;
  return false;
}

export function isEmpty(space: Space): boolean {
  return space.length === 0;
}

/** Whether every packet of `box` (or of every box of a space) lies in `union`. */
export function covers(union: Space, box: Box | Space): boolean {
  return isEmpty(subtract(Array.isArray(box) ? box : [box as Box], union));
}

export function contains(space: Space, p: Point): boolean {
  for (const b of space) {
    if ((b.classes & p.cls) === 0 || p.address < b.a0 || p.address > b.a1) continue;
    if (p.sourcePort < b.s0 || p.sourcePort > b.s1 || p.destinationPort < b.d0 || p.destinationPort > b.d1)
      continue;
    return true;
  }
  return false;
}

/** The source addresses of a space: sorted, merged ranges. */
export function sourceRanges(space: Space): [bigint, bigint][] {
  const sorted = space.map((b): [bigint, bigint] => [b.a0, b.a1]).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

type Dim = "classes" | "a" | "s" | "d";
const DIMS: readonly Dim[] = ["d", "s", "a", "classes"];

/** The box's coordinates in every dimension but `dim`, as a grouping key. */
function keyWithout(b: Box, dim: Dim): string {
  const c = dim === "classes" ? "" : String(b.classes);
  const a = dim === "a" ? "" : `${b.a0}-${b.a1}`;
  const s = dim === "s" ? "" : `${b.s0}-${b.s1}`;
  const d = dim === "d" ? "" : `${b.d0}-${b.d1}`;
  return `${c}|${a}|${s}|${d}`;
}

/**
 * Fewer boxes for the same set: boxes equal in all dimensions but one and touching or overlapping
 * in it become one (class sets are united). Repeats until nothing changes; each pass is
 * O(k log k) for k boxes. Never changes the set, only its description.
 */
export function merge(space: readonly Box[]): Box[] {
  let boxes = [...space];
  for (let changed = true; changed && boxes.length > 1; ) {
    changed = false;
    for (const dim of DIMS) {
      const merged = mergeAlong(boxes, dim);
      if (merged.length < boxes.length) changed = true;
      boxes = merged;
    }
  }
  return boxes;
}

function mergeAlong(boxes: Box[], dim: Dim): Box[] {
  const groups = new Map<string, Box[]>();
  for (const b of boxes) {
    const key = keyWithout(b, dim);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [b]);
    else group.push(b);
  }
  if (groups.size === boxes.length) return boxes;
  const out: Box[] = [];
  for (const group of groups.values()) {
    if (group.length === 1) {
      out.push(group[0]!);
      continue;
    }
    if (dim === "classes") {
      let classes = 0;
      for (const b of group) classes |= b.classes;
      out.push({ ...group[0]!, classes });
      continue;
    }
    for (const b of mergeIntervals(group, dim)) out.push(b);
  }
  return out;
}

function mergeIntervals(group: Box[], dim: "a" | "s" | "d"): Box[] {
  const lo = (b: Box): bigint => (dim === "a" ? b.a0 : BigInt(dim === "s" ? b.s0 : b.d0));
  const hi = (b: Box): bigint => (dim === "a" ? b.a1 : BigInt(dim === "s" ? b.s1 : b.d1));
  const sorted = [...group].sort((x, y) => (lo(x) < lo(y) ? -1 : lo(x) > lo(y) ? 1 : 0));
  const out: Box[] = [];
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo(b) <= hi(last) + 1n) {
      if (hi(b) > hi(last)) out[out.length - 1] = withUpper(last, dim, b);
    } else out.push(b);
  }
  return out;
}

function withUpper(b: Box, dim: "a" | "s" | "d", from: Box): Box {
  if (dim === "a") return { ...b, a1: from.a1 };
  if (dim === "s") return { ...b, s1: from.s1 };
  return { ...b, d1: from.d1 };
}
