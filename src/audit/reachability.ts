/**
 * Who can reach a listening socket through the gates in front of it (host firewall, NIC filter).
 *
 * The gates' rules name source networks; between those names every source is treated alike. So the
 * address space of each family is cut at every network boundary the rules mention, one source from
 * each piece is judged by every gate, and the answer is exact for rules that tell sources apart by
 * address: `exposed` when every routable piece gets through, `blocked` when none does, otherwise
 * `restricted` to the pieces that do, written as CIDRs.
 *
 * What is assumed: the packet is the first of a new connection (a SYN for TCP) from source port
 * 40000 to the socket's port; for a wildcard bind, the destination is written as the wildcard,
 * so a rule that matches one local destination address is judged against that (rare on input).
 */
import type { Packet } from "../filter/types.js";
import type { Family, Socket } from "../host/types.js";
import { bigToAddress, cidrBounds, FAMILY_BITS, rangeToCidrs } from "../net/address-range.js";
import type { Gate, GateVerdict } from "./gates.js";

export interface Reachability {
  exposure: "exposed" | "restricted" | "blocked";
  reasons: string[];
}

/** Sources no packet from another host comes from: this host, "this network", multicast, reserved. */
const NOT_A_SOURCE: Record<Family, Array<[string, number]>> = {
  ipv4: [
    ["0.0.0.0", 8],
    ["127.0.0.0", 8],
    ["224.0.0.0", 4],
    ["240.0.0.0", 4],
  ],
  ipv6: [
    ["::", 127],
    ["::ffff:0:0", 96],
    ["ff00::", 8],
  ],
};

/** The most networks a restricted finding lists before it says how many more there are. */
const MAX_LISTED = 6;

interface Piece {
  first: bigint;
  last: bigint;
  verdict: GateVerdict & { gate: string | null };
}

function familiesOf(socket: Socket): Family[] {
  if (socket.address === "::") return ["ipv4", "ipv6"]; // dual-stack unless IPV6_V6ONLY
  if (socket.address.startsWith("::ffff:")) return ["ipv4"];
  return [socket.family];
}

function destinationFor(socket: Socket, family: Family): string {
  if (socket.address === "::" || socket.address === "0.0.0.0") return family === "ipv4" ? "0.0.0.0" : "::";
  return family === "ipv4" && socket.address.startsWith("::ffff:") ? socket.address.slice(7) : socket.address;
}

/** Every gate must let it in; the first that denies (or cannot tell) speaks for the packet. */
function judgeAll(gates: readonly Gate[], packet: Packet): GateVerdict & { gate: string | null } {
  let unknown: (GateVerdict & { gate: string }) | null = null;
  const allowed: string[] = [];
  for (const gate of gates) {
    const v = gate.judge(packet);
    if (v.verdict === "deny") return { ...v, gate: gate.name };
    if (v.verdict === "unknown") unknown ??= { ...v, gate: gate.name };
    else allowed.push(`${gate.name} lets it in (${v.reason.replace(/\.$/, "")})`);
  }
  return unknown ?? { verdict: "allow", reason: allowed.join("; "), gate: null };
}

/**
 * The address space of a family cut at every network the gates name, without the non-sources. The
 * same for every socket, so computed once per set of gates (an audit has thousands of sockets).
 */
const cutCache = new WeakMap<
  readonly Gate[],
  Map<Family, Array<{ first: bigint; last: bigint; source: string }>>
>();

function sourceRanges(
  gates: readonly Gate[],
  family: Family,
): Array<{ first: bigint; last: bigint; source: string }> {
  let byFamily = cutCache.get(gates);
  if (byFamily === undefined) {
    byFamily = new Map();
    cutCache.set(gates, byFamily);
  }
  const cached = byFamily.get(family);
  if (cached) return cached;
  const top = (1n << BigInt(FAMILY_BITS[family])) - 1n;
  const cuts = new Set<bigint>([0n]);
  const cutAround = ([first, last]: [bigint, bigint]) => {
    cuts.add(first);
    if (last < top) cuts.add(last + 1n);
  };
  for (const gate of gates) gate.sourceBounds(family).forEach(cutAround);
  const excluded = NOT_A_SOURCE[family].map(([a, p]) => cidrBounds(family, a, p));
  excluded.forEach(cutAround);
  const sorted = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges = sorted
    .map((first, i) => ({ first, last: i + 1 < sorted.length ? sorted[i + 1]! - 1n : top }))
    .filter(({ first, last }) => !excluded.some(([lo, hi]) => first >= lo && last <= hi))
    .map((range) => ({ ...range, source: bigToAddress(family, range.first) }));
  byFamily.set(family, ranges);
  return ranges;
}

function pieces(socket: Socket, family: Family, gates: readonly Gate[]): Piece[] {
  return sourceRanges(gates, family).map(({ first, last, source }) => {
    const packet: Packet = {
      protocol: socket.protocol,
      family,
      source,
      destination: destinationFor(socket, family),
      sourcePort: 40000,
      destinationPort: socket.port,
      fragment: false,
    };
    return { first, last, verdict: judgeAll(gates, packet) };
  });
}

function merged(family: Family, list: Piece[]): string[] {
  const out: string[] = [];
  let run: [bigint, bigint] | null = null;
  const flush = () => {
    if (run) out.push(...rangeToCidrs(family, run[0], run[1]));
  };
  for (const p of list) {
    if (run && p.first === run[1] + 1n) run[1] = p.last;
    else {
      flush();
      run = [p.first, p.last];
    }
  }
  flush();
  return out;
}

function listed(networks: string[]): string {
  if (networks.length <= MAX_LISTED) return networks.join(", ");
  return `${networks.slice(0, MAX_LISTED).join(", ")} and ${networks.length - MAX_LISTED} more networks`;
}

/** The largest piece: the one that speaks for "the internet at large" in a reason. */
function widest(list: Piece[]): Piece {
  return list.reduce((a, b) => (b.last - b.first > a.last - a.first ? b : a));
}

/**
 * The answer when no gate has rules for any of the socket's families: the same for every such
 * socket, so made once per set of gates (an audit has thousands of sockets); null when some gate
 * has rules. The caller copies the reasons, never changes them.
 */
const openCache = new WeakMap<readonly Gate[], { open: Record<Family, boolean>; answer: Reachability }>();

function openToAll(gates: readonly Gate[], families: Family[]): Reachability | null {
  let cached = openCache.get(gates);
  if (cached === undefined) {
    const opens = (family: Family) => gates.every((gate) => gate.opensEverything(family));
    const reasons = [
      `Reachable from anywhere: ${gates.map((g) => `${g.name} has no rules for it`).join("; ")}.`,
    ];
    cached = { open: { ipv4: opens("ipv4"), ipv6: opens("ipv6") }, answer: { exposure: "exposed", reasons } };
    openCache.set(gates, cached);
  }
  const { open, answer } = cached;
  return families.every((family) => open[family]) ? answer : null;
}

export function reachability(socket: Socket, gates: readonly Gate[]): Reachability {
  const families = familiesOf(socket);
  // The common case on a host without rules: nothing to judge, and thousands of sockets to go through.
  const unfiltered = openToAll(gates, families);
  if (unfiltered !== null) return unfiltered;
  const all = families.map((family) => ({ family, list: pieces(socket, family, gates) }));
  const open = all.flatMap(({ list }) => list.filter((p) => p.verdict.verdict !== "deny"));
  const shut = all.flatMap(({ list }) => list.filter((p) => p.verdict.verdict === "deny"));
  const reasons: string[] = [];
  const unsure = open.filter((p) => p.verdict.verdict === "unknown");
  if (unsure.length > 0) {
    const p = widest(unsure);
    reasons.push(
      `Moat could not tell whether ${p.verdict.gate} lets it in, so it counts as reachable: ${p.verdict.reason}`,
    );
  }
  if (open.length === 0) {
    const p = widest(shut);
    return {
      exposure: "blocked",
      reasons: [`${capital(p.verdict.gate!)} blocks it from every source: ${p.verdict.reason}`],
    };
  }
  if (shut.length === 0) {
    const p = widest(open);
    if (p.verdict.verdict === "allow") reasons.unshift(`Reachable from anywhere: ${p.verdict.reason}.`);
    return { exposure: "exposed", reasons };
  }
  const from = all.flatMap(({ family, list }) =>
    merged(
      family,
      list.filter((p) => p.verdict.verdict !== "deny"),
    ),
  );
  const p = widest(shut);
  reasons.unshift(
    `Reachable only from ${listed(from)}; ${p.verdict.gate} blocks other sources: ${p.verdict.reason}`,
  );
  return { exposure: "restricted", reasons };
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
