/**
 * One nft rule's JSON expressions -> matches, effects and a verdict. Shapes this file does not know
 * become `unknown` (a newer nft, a match Moat does not model); only a known shape with a broken value
 * (an address that is not one, a port above 65535) is an error, thrown as ExprError with the path
 * below the rule so the caller can name the whole JSON path.
 */
import type { Family } from "../types.js";
import type { CtState, Effect, Match, NumberRange, RuleVerdict, TableFamily, VmapEntry } from "./model.js";
import { TCP_FLAGS } from "./model.js";
import { isRecord, renderExpr } from "./nft-render.js";
import { icmpTypeNumber, parseAddressRange, parseNetwork, protocolNumber } from "./values.js";

export class ExprError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** A named set or map as the ruleset lists it: its key type and raw elements. */
export interface NamedSet {
  type: unknown;
  elements: unknown[];
  /** For maps: "verdict" for verdict maps. */
  map: unknown;
}

export interface ExprContext {
  family: TableFamily;
  sets: Map<string, NamedSet>;
}

export interface DecodedRule {
  matches: Match[];
  effects: Effect[];
  verdict: RuleVerdict;
}

const PORT_PROTOCOLS: Record<string, number | null> = {
  tcp: 6,
  udp: 17,
  udplite: 136,
  sctp: 132,
  dccp: 33,
  th: null,
};
const CT_STATES = new Set<string>(["new", "established", "related", "invalid", "untracked"]);

export function decodeRule(exprs: readonly unknown[], ctx: ExprContext): DecodedRule {
  const matches: Match[] = [];
  const effects: Effect[] = [];
  let verdict: RuleVerdict = { kind: "continue" };
  for (let i = 0; i < exprs.length; i++) {
    const expr = exprs[i];
    const path = `[${i}]`;
    const decoded = decodeExpr(expr, ctx, path);
    if (decoded.kind === "match") matches.push(decoded.match);
    else if (decoded.kind === "effect") effects.push(decoded.effect);
    else if (decoded.kind === "verdict") {
      verdict = decoded.verdict;
      break; // nothing after a verdict runs
    }
  }
  return { matches, effects, verdict };
}

type Decoded =
  | { kind: "match"; match: Match }
  | { kind: "effect"; effect: Effect }
  | { kind: "verdict"; verdict: RuleVerdict }
  | { kind: "none" };

const unknownMatch = (expr: unknown): Decoded => ({
  kind: "match",
  match: { kind: "unknown", text: renderExpr(expr) },
});

function decodeExpr(expr: unknown, ctx: ExprContext, path: string): Decoded {
  if (!isRecord(expr) || Object.keys(expr).length !== 1)
    return { kind: "effect", effect: { kind: "unknown", text: renderExpr(expr) } };
  const key = Object.keys(expr)[0]!;
  const body = expr[key];
  switch (key) {
    case "match":
      return { kind: "match", match: decodeMatch(body, ctx, `${path}.match`) ?? unknown(expr) };
    case "counter":
      return { kind: "effect", effect: { kind: "counter" } };
    case "log":
      return { kind: "effect", effect: { kind: "log" } };
    case "notrack":
      return { kind: "effect", effect: { kind: "notrack" } };
    // A rate limit matches or not by timing: which way it goes is not knowable from the rules.
    case "limit":
    case "quota":
      return unknownMatch(expr);
    case "mangle":
      return {
        kind: "effect",
        effect: markOnly(body) ? { kind: "counter" } : { kind: "unknown", text: renderExpr(expr) },
      };
    case "xt":
      return decodeXt(expr, body);
    case "accept":
    case "drop":
    case "return":
    case "continue":
      return { kind: "verdict", verdict: { kind: key } };
    case "reject":
      return { kind: "verdict", verdict: { kind: "reject" } };
    case "jump":
    case "goto": {
      if (!isRecord(body) || typeof body.target !== "string")
        throw new ExprError(`${path}.${key}`, `${key} needs a target chain name`);
      return { kind: "verdict", verdict: { kind: key, target: body.target } };
    }
    case "vmap":
      return { kind: "verdict", verdict: decodeVmap(body, ctx, `${path}.vmap`) ?? unknownVerdict(expr) };
    default:
      // An expression this version does not know may be a statement that changes the packet's fate:
      // only an unknown *effect* keeps the evaluator from guessing around it.
      return { kind: "effect", effect: { kind: "unknown", text: renderExpr(expr) } };
  }
}

function unknown(expr: unknown): Match {
  return { kind: "unknown", text: renderExpr(expr) };
}

function unknownVerdict(expr: unknown): RuleVerdict {
  return { kind: "unknown", text: renderExpr(expr) };
}

/** `meta mark set` and `ct mark set` only feed later mark matches, which are unknown anyway. */
function markOnly(body: unknown): boolean {
  if (!isRecord(body) || !isRecord(body.key)) return false;
  const key = body.key;
  return (isRecord(key.meta) && key.meta.key === "mark") || (isRecord(key.ct) && key.ct.key === "mark");
}

function decodeXt(expr: unknown, body: unknown): Decoded {
  if (!isRecord(body)) return unknownMatch(expr);
  // iptables-nft keeps matches it cannot express natively as xt blobs that nft cannot show.
  if (body.type === "match" && body.name === "comment") return { kind: "none" };
  if (body.type === "target") {
    if (body.name === "REJECT") return { kind: "verdict", verdict: { kind: "reject" } };
    if (body.name === "LOG") return { kind: "effect", effect: { kind: "log" } };
    return { kind: "verdict", verdict: unknownVerdict(expr) };
  }
  return unknownMatch(expr);
}

// ---------------------------------------------------------------------------------------------
// Matches

/** The packet field a match's left side reads, or null when Moat does not model it. */
type Left =
  | { kind: "family" }
  | { kind: "l4proto"; family: Family | null }
  | { kind: "iif"; byName: boolean }
  | { kind: "address"; field: "saddr" | "daddr"; family: Family }
  | { kind: "port"; field: "sport" | "dport"; protocol: number | null }
  | { kind: "ctstate" }
  | { kind: "icmptype"; family: Family }
  | { kind: "fragment" }
  | { kind: "tcpflags"; mask: number | null };

function decodeLeft(left: unknown): Left | null {
  if (!isRecord(left)) return null;
  if (isRecord(left.meta) && Object.keys(left).length === 1) {
    switch (left.meta.key) {
      case "l4proto":
        return { kind: "l4proto", family: null };
      case "nfproto":
      case "protocol":
        return { kind: "family" };
      case "iif":
        return { kind: "iif", byName: false };
      case "iifname":
        return { kind: "iif", byName: true };
      default:
        return null;
    }
  }
  if (isRecord(left.payload)) {
    const { protocol, field } = left.payload;
    if (typeof protocol !== "string" || typeof field !== "string") return null;
    if ((protocol === "ip" || protocol === "ip6") && (field === "saddr" || field === "daddr"))
      return { kind: "address", field, family: protocol === "ip" ? "ipv4" : "ipv6" };
    if (protocol === "ip" && field === "protocol") return { kind: "l4proto", family: "ipv4" };
    if (protocol === "ip6" && field === "nexthdr") return { kind: "l4proto", family: "ipv6" };
    if (Object.hasOwn(PORT_PROTOCOLS, protocol) && (field === "sport" || field === "dport"))
      return { kind: "port", field, protocol: PORT_PROTOCOLS[protocol]! };
    if ((protocol === "icmp" || protocol === "icmpv6") && field === "type")
      return { kind: "icmptype", family: protocol === "icmp" ? "ipv4" : "ipv6" };
    if (protocol === "tcp" && field === "flags") return { kind: "tcpflags", mask: null };
    return null;
  }
  if (isRecord(left.ct) && left.ct.key === "state" && Object.keys(left.ct).length === 1)
    return { kind: "ctstate" };
  const and = left["&"];
  if (Array.isArray(and) && and.length === 2 && isRecord(and[0]) && isRecord(and[0].payload)) {
    const { protocol, field } = and[0].payload;
    if (protocol === "ip" && field === "frag-off" && and[1] === 0x1fff) return { kind: "fragment" };
    if (protocol === "tcp" && field === "flags") {
      const mask = flagBits(and[1]);
      return mask === null ? null : { kind: "tcpflags", mask };
    }
  }
  return null;
}

function decodeMatch(body: unknown, ctx: ExprContext, path: string): Match | null {
  if (!isRecord(body)) return null;
  const left = decodeLeft(body.left);
  if (left === null) return null;
  const op = body.op;
  if (op === "<" || op === ">" || op === "<=" || op === ">=") return comparison(left, op, body.right, path);
  if (op !== "==" && op !== "!=" && op !== "in") return null;
  const negate = op === "!=";
  const values = expandValues(body.right, ctx, `${path}.right`);
  if (values === null) return null;
  return matchFromValues(left, negate, values.items, values.set, `${path}.right`);
}

/** `tcp dport < 1024`: a one-sided range. */
function comparison(left: Left, op: string, right: unknown, path: string): Match | null {
  if (left.kind !== "port" || typeof right !== "number") return null;
  const port = checkPort(right, `${path}.right`);
  const range =
    op === "<"
      ? { start: 0, end: port - 1 }
      : op === "<="
        ? { start: 0, end: port }
        : op === ">"
          ? { start: port + 1, end: 65535 }
          : { start: port, end: 65535 };
  const ports = range.start > range.end ? [] : [range];
  return { kind: "port", field: left.field, negate: false, protocol: left.protocol, ports, set: null };
}

/** The right side as a flat list of elements, with the named set it came from. */
function expandValues(
  right: unknown,
  ctx: ExprContext,
  path: string,
): { items: unknown[]; set: string | null } | null {
  if (typeof right === "string" && right.startsWith("@")) {
    const named = ctx.sets.get(right.slice(1));
    if (named === undefined)
      throw new ExprError(path, `refers to set ${right}, which the ruleset does not list`);
    if (typeof named.type !== "string" || named.map !== undefined) return null;
    return { items: named.elements.map(unwrapElem), set: right.slice(1) };
  }
  if (isRecord(right) && Array.isArray(right.set)) return { items: right.set.map(unwrapElem), set: null };
  if (Array.isArray(right)) return { items: right, set: null };
  return { items: [right], set: null };
}

/** Set elements with options (timeout, comment) come wrapped: `{"elem": {"val": ...}}`. */
function unwrapElem(item: unknown): unknown {
  return isRecord(item) && isRecord(item.elem) && "val" in item.elem ? item.elem.val : item;
}

function matchFromValues(
  left: Left,
  negate: boolean,
  items: unknown[],
  set: string | null,
  path: string,
): Match | null {
  switch (left.kind) {
    case "family": {
      const families: Family[] = [];
      for (const item of items) {
        if (item === "ipv4" || item === "ip") families.push("ipv4");
        else if (item === "ipv6" || item === "ip6") families.push("ipv6");
        else return null; // arp, bridge, numbers: not an IP packet's question
      }
      return { kind: "family", negate, families };
    }
    case "l4proto": {
      const protocols = numberRanges(items, (v) => protocolNumber(v), 255, path);
      return protocols === null ? null : { kind: "l4proto", negate, protocols, family: left.family };
    }
    case "iif": {
      if (!items.every((v): v is string => typeof v === "string")) return null;
      return { kind: "iif", negate, byName: left.byName, names: items };
    }
    case "address": {
      const addresses = [];
      for (const [i, item] of items.entries()) {
        const decoded = addressItem(
          item,
          left.family,
          set === null ? `${path}[${i}]` : `${path} (set @${set})`,
        );
        if (decoded === null) return null;
        addresses.push(decoded);
      }
      return { kind: "address", field: left.field, negate, family: left.family, items: addresses, set };
    }
    case "port": {
      const ports = numberRanges(
        items,
        (v) => (typeof v === "number" ? checkPort(v, path) : null),
        65535,
        path,
      );
      return ports === null
        ? null
        : { kind: "port", field: left.field, negate, protocol: left.protocol, ports, set };
    }
    case "icmptype": {
      const types = numberRanges(items, (v) => icmpTypeNumber(v, left.family), 255, path);
      return types === null ? null : { kind: "icmptype", negate, family: left.family, types };
    }
    case "ctstate": {
      const states: CtState[] = [];
      for (const item of items) {
        if (typeof item !== "string" || !CT_STATES.has(item)) return null;
        states.push(item as CtState);
      }
      return { kind: "ctstate", negate, states };
    }
    case "fragment": {
      // `ip frag-off & 0x1fff != 0`: a later fragment; `== 0`: not one.
      if (items.length !== 1 || items[0] !== 0) return null;
      return { kind: "fragment", negate: !negate };
    }
    case "tcpflags": {
      if (items.length !== 1) return null;
      const value = flagBits(items[0]);
      if (value === null) return null;
      // A bare `tcp flags syn` (op "in") tests that any of the bits is set: mask = value, value != 0.
      if (left.mask === null) return { kind: "tcpflags", negate: !negate, mask: value, value: 0 };
      return { kind: "tcpflags", negate, mask: left.mask, value };
    }
  }
}

function addressItem(item: unknown, family: Family, path: string) {
  if (typeof item === "string") {
    const net = parseNetwork(item, family);
    if (net === null || item.includes("/"))
      throw new ExprError(path, `"${item}" is not an ${family} address`);
    return net;
  }
  if (isRecord(item) && isRecord(item.prefix)) {
    const { addr, len } = item.prefix;
    if (typeof addr !== "string" || typeof len !== "number" || !Number.isInteger(len))
      throw new ExprError(path, "a prefix needs an address and a whole-number length");
    const net = parseNetwork(`${addr}/${len}`, family);
    if (net === null) throw new ExprError(path, `"${addr}/${len}" is not an ${family} network`);
    return net;
  }
  if (isRecord(item) && Array.isArray(item.range) && item.range.length === 2) {
    const [a, b] = item.range;
    if (typeof a !== "string" || typeof b !== "string") return null;
    const range = parseAddressRange(a, b);
    if (range === null || range.family !== family)
      throw new ExprError(path, `"${a}-${b}" is not a range of ${family} addresses`);
    return range;
  }
  return null;
}

function checkPort(value: number, path: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new ExprError(path, `${value} is not a port; ports go from 0 to 65535`);
  return value;
}

/** Elements as inclusive ranges; a name `one` cannot read makes the whole match unknown. */
function numberRanges(
  items: unknown[],
  one: (value: string | number) => number | null,
  max: number,
  path: string,
): NumberRange[] | null {
  const ranges: NumberRange[] = [];
  for (const item of items) {
    if (typeof item === "string" || typeof item === "number") {
      const n = one(item);
      if (n === null) return null;
      ranges.push({ start: n, end: n });
    } else if (isRecord(item) && Array.isArray(item.range) && item.range.length === 2) {
      const [a, b] = item.range as unknown[];
      if (
        (typeof a !== "string" && typeof a !== "number") ||
        (typeof b !== "string" && typeof b !== "number")
      )
        return null;
      const start = one(a);
      const end = one(b);
      if (start === null || end === null) return null;
      if (start > end || end > max)
        throw new ExprError(path, `range ${start}-${end} runs backwards or past ${max}`);
      ranges.push({ start, end });
    } else return null;
  }
  return ranges;
}

function flagBits(value: unknown): number | null {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 255 ? value : null;
  const names = typeof value === "string" ? [value] : Array.isArray(value) ? value : null;
  if (names === null) return null;
  let bits = 0;
  for (const name of names) {
    if (typeof name !== "string" || !Object.hasOwn(TCP_FLAGS, name)) return null;
    bits |= TCP_FLAGS[name]!;
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------
// Verdict maps

function decodeVmap(body: unknown, ctx: ExprContext, path: string): RuleVerdict | null {
  if (!isRecord(body)) return null;
  const left = decodeLeft(body.key);
  if (left === null) return null;
  let pairs: unknown[];
  const data = body.data;
  if (typeof data === "string" && data.startsWith("@")) {
    const named = ctx.sets.get(data.slice(1));
    if (named === undefined)
      throw new ExprError(`${path}.data`, `refers to map ${data}, which the ruleset does not list`);
    if (named.map !== "verdict") return null;
    pairs = named.elements;
  } else if (isRecord(data) && Array.isArray(data.set)) pairs = data.set;
  else return null;
  const entries: VmapEntry[] = [];
  for (const [i, pair] of pairs.entries()) {
    if (!Array.isArray(pair) || pair.length !== 2) return null;
    const match = matchFromValues(left, false, [unwrapElem(pair[0])], null, `${path}.data[${i}]`);
    const verdict = decodeExpr(pair[1], ctx, `${path}.data[${i}][1]`);
    if (match === null || verdict.kind !== "verdict") return null;
    entries.push({ match, verdict: verdict.verdict });
  }
  const key = matchFromValues(left, false, [], null, path);
  return key === null ? null : { kind: "vmap", key, entries };
}
