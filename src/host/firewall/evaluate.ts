/**
 * What the kernel does with one inbound packet, given the host's rulesets: allow, deny, or unknown
 * when the answer depends on something Moat does not model.
 *
 * The question asked is always about the FIRST packet of a new inbound connection:
 * - conntrack has seen nothing of it, so `ct state` is `new` (established/related describe later
 *   packets and replies and do not apply); before conntrack runs (ingress, and prerouting chains
 *   below priority -200) nft sees no conntrack entry and reads the state as `invalid`; after a
 *   `notrack` it is `untracked`;
 * - a TCP packet is a bare SYN; an ICMP packet is an echo request unless `icmpType` says otherwise;
 * - when `interface` is not given, the packet is taken to come from outside, so not on `lo`; a match
 *   on any other interface name is then undecided.
 *
 * Base chains run in netfilter's order: the ingress hook, then prerouting, then input, and within a
 * hook by priority (lower first). Netfilter semantics, as nft(8) documents for verdicts ("accept:
 * ... the packet continues to be evaluated by later base chains at the same or a later hook"; "drop:
 * ... immediately, no further evaluation"): an accept ends only the chain it is in, a drop or reject
 * anywhere is final. So a packet is allowed only when every base chain on its way lets it through.
 * The kernel test in test/host/firewall checks exactly that, with two tables at the input hook.
 *
 * A rule with a match Moat cannot decide (an xt blob, a rate limit, a mark) is tried both ways; when
 * every way ends the same, that is the answer, else the verdict is `unknown` and names the rules.
 * An unknown statement or verdict on a rule the packet reaches makes the verdict `unknown` outright.
 */
import { InputError } from "../../errors.js";
import type { Packet } from "../../filter/types.js";
import { parseAddressResult } from "../../net/cidr.js";
import type { Family } from "../types.js";
import type {
  AddressItem,
  Chain,
  CtState,
  Match,
  NumberRange,
  Rule,
  RuleRef,
  Ruleset,
  RuleVerdict,
  Table,
} from "./model.js";
import { chainLabel } from "./model.js";
import { addressToBigInt, interfaceMatches } from "./values.js";

export interface EvaluateOptions {
  /** The interface the packet arrives on; unknown means "from outside, not lo". */
  interface?: string;
  /** ICMP/ICMPv6 type of an ICMP packet; default echo request (8, or 128 for ICMPv6). */
  icmpType?: number;
}

export interface FirewallVerdict {
  verdict: "allow" | "deny" | "unknown";
  /** The way through: ["inet filter input rule 3", "jump MOAT", "ip filter MOAT rule 2", "accept", ...] */
  path: string[];
  reason: string;
  /** Every rule whose matches all held, in order: the rules whose counters a real packet moves. */
  matched: RuleRef[];
  /** Rules the answer depends on that Moat could not evaluate. */
  unknowns: RuleRef[];
}

/** The most ways an evaluation is tried before giving up on undecided matches. */
const MAX_RUNS = 256;
const MAX_DEPTH = 64;
const HOOK_ORDER: Record<string, number> = { ingress: 0, prerouting: 1, input: 2 };
/** Conntrack's own prerouting hook: base chains below it see no conntrack entry yet. */
const CONNTRACK_PRIORITY = -200;
const PORT_PROTOCOLS = new Set([6, 17, 33, 132, 136]);
/** The protocols a Packet can name; "other" is none of them. */
const NAMED_PROTOCOLS = new Set([1, 6, 17, 58]);
const SYN = 0x02;

interface HookChain {
  table: Table;
  chain: Chain;
  label: string;
}

interface PacketState {
  family: Family;
  /** null: a protocol other than tcp, udp, icmp, icmpv6. */
  proto: number | null;
  source: bigint;
  destination: bigint;
  /** null when there is no transport header to read (other protocols, later fragments). */
  sourcePort: number | null;
  destinationPort: number | null;
  fragment: boolean;
  icmpType: number;
  iface: string | undefined;
}

type Tri = boolean | "unknown";

export function evaluateRuleset(
  rulesets: Ruleset | readonly Ruleset[],
  packet: Packet,
  options: EvaluateOptions = {},
): FirewallVerdict {
  const list = Array.isArray(rulesets) ? (rulesets as readonly Ruleset[]) : [rulesets as Ruleset];
  const state = packetState(packet, options);
  const chains = hookChains(list, state.family);
  const familyText = state.family === "ipv4" ? "IPv4" : "IPv6";
  if (chains.length === 0)
    return {
      verdict: "allow",
      path: [],
      reason: `no base chain filters ${familyText} on the ingress, prerouting or input hooks: nothing stops it`,
      matched: [],
      unknowns: [],
    };
  if (state.fragment && usesConntrack(list))
    return {
      verdict: "unknown",
      path: [],
      reason:
        "the ruleset uses conntrack, so the kernel reassembles fragments before filtering: a later fragment is judged as part of its whole datagram, whose ports it does not carry",
      matched: [],
      unknowns: [],
    };

  const results: Outcome[] = [];
  const queue: Array<Map<string, boolean>> = [new Map()];
  const refs = new Map<string, RuleRef>();
  let runs = 0;
  while (queue.length > 0) {
    const assumed = queue.shift()!;
    if (++runs > MAX_RUNS)
      return undecided([...refs.values()], `more than ${MAX_RUNS} combinations of undecided matches`);
    const run = new Run(state, assumed).through(chains);
    if (run.kind === "fork") {
      refs.set(run.key, run.ref);
      queue.push(new Map(assumed).set(run.key, true), new Map(assumed).set(run.key, false));
    } else results.push({ run, assumed });
  }
  return combine(results, refs);
}

function undecided(unknowns: RuleRef[], why: string): FirewallVerdict {
  return {
    verdict: "unknown",
    path: [],
    reason: `${why}: ${unknowns.map(describeRef).join("; ")}`,
    matched: [],
    unknowns,
  };
}

type Outcome = { run: Exclude<RunResult, { kind: "fork" }>; assumed: Map<string, boolean> };

function combine(results: Outcome[], refs: Map<string, RuleRef>): FirewallVerdict {
  const first = results[0]!.run;
  const unknowns = [...refs.values()];
  const definite = results.find((r) => r.run.kind === "unknown");
  if (definite !== undefined && definite.run.kind === "unknown") {
    const run = definite.run;
    return {
      verdict: "unknown",
      path: run.path,
      reason: run.reason,
      matched: run.matched,
      unknowns: [run.ref, ...unknowns],
    };
  }
  const verdicts = new Set(results.map((r) => r.run.kind));
  if (verdicts.size === 1) {
    // Show the way where the undecided matches do not fire: the plainest reading of the rules.
    const trues = (o: Outcome) => [...o.assumed.values()].filter(Boolean).length;
    const shown = results.reduce((best, o) => (trues(o) < trues(best) ? o : best)).run;
    const caveat =
      unknowns.length === 0
        ? ""
        : `; the same whichever way these undecided rules go: ${unknowns.map(describeRef).join("; ")}`;
    return {
      verdict: shown.kind as "allow" | "deny",
      path: shown.path,
      reason: `${shown.reason}${caveat}`,
      matched: shown.matched,
      unknowns: [],
    };
  }
  const ways = results
    .slice(0, 4)
    .map(({ run, assumed }) => {
      const cond = [...assumed].map(
        ([key, v]) => `${describeRef(refs.get(key)!)} ${v ? "matches" : "does not match"}`,
      );
      return `${run.kind} if ${cond.join(" and ")}`;
    })
    .join("; ");
  return {
    verdict: "unknown",
    path: first.path,
    reason: `depends on rules Moat cannot evaluate: ${ways}`,
    matched: first.matched,
    unknowns,
  };
}

function describeRef(ref: RuleRef): string {
  const where =
    ref.line !== null ? ` (line ${ref.line})` : ref.handle !== null ? ` (handle ${ref.handle})` : "";
  return `${ref.chain} rule ${ref.index}${where}: ${ref.text}`;
}

// ---------------------------------------------------------------------------------------------
// One run through the chains, under fixed answers for the undecided matches

type RunResult =
  | { kind: "allow" | "deny"; path: string[]; matched: RuleRef[]; reason: string }
  | { kind: "unknown"; path: string[]; matched: RuleRef[]; reason: string; ref: RuleRef }
  | { kind: "fork"; key: string; ref: RuleRef };

type ChainEnd =
  | { kind: "accept" | "drop" | "reject"; ref: RuleRef }
  | { kind: "return" }
  | { kind: "fork"; key: string; ref: RuleRef }
  | { kind: "unknown"; ref: RuleRef; text: string };

class Run {
  readonly path: string[] = [];
  readonly matched: RuleRef[] = [];
  private notracked = false;
  private ct: CtState = "new";

  constructor(
    private readonly packet: PacketState,
    private readonly assumed: Map<string, boolean>,
  ) {}

  through(chains: readonly HookChain[]): RunResult {
    const accepted: string[] = [];
    for (const hc of chains) {
      const base = hc.chain.base!;
      // an empty chain with policy accept changes nothing, wherever it is attached
      if (hc.chain.rules.length === 0 && base.policy === "accept") {
        this.path.push(`${hc.label} policy accept`);
        accepted.push(`${hc.label}: policy accept`);
        continue;
      }
      const applies = this.deviceApplies(hc);
      if (applies !== true) {
        if (applies === false) continue;
        const ref = chainRef(hc);
        const key = `${hc.label}#device`;
        const assumed = this.assumed.get(key);
        if (assumed === undefined) return { kind: "fork", key, ref };
        if (!assumed) continue;
      }
      this.ct = this.notracked
        ? "untracked"
        : base.hook === "ingress" || (base.hook === "prerouting" && base.priority < CONNTRACK_PRIORITY)
          ? "invalid"
          : "new";
      const end = this.walk(hc.table, hc.chain, 0);
      switch (end.kind) {
        case "fork":
          return end;
        case "unknown":
          return {
            kind: "unknown",
            path: this.path,
            matched: this.matched,
            ref: end.ref,
            reason: `${describeRef(end.ref)}: Moat cannot tell what "${end.text}" does to the packet`,
          };
        case "drop":
        case "reject":
          return {
            kind: "deny",
            path: this.path,
            matched: this.matched,
            reason: `${end.kind === "drop" ? "dropped" : "rejected"} by ${describeRef(end.ref)}`,
          };
        case "accept":
          accepted.push(describeRef(end.ref));
          break;
        case "return":
          this.path.push(`${hc.label} policy ${base.policy}`);
          if (base.policy === "drop")
            return {
              kind: "deny",
              path: this.path,
              matched: this.matched,
              reason: `dropped by the policy of ${hc.label}`,
            };
          accepted.push(`${hc.label}: policy accept`);
      }
    }
    return {
      kind: "allow",
      path: this.path,
      matched: this.matched,
      reason: `every base chain on the way in lets it through (${accepted.join("; ")})`,
    };
  }

  /** netdev (and inet) ingress chains are bound to devices. */
  private deviceApplies(hc: HookChain): Tri {
    const base = hc.chain.base!;
    if (base.hook !== "ingress") return true;
    if (this.packet.iface !== undefined && base.devices.length > 0)
      return base.devices.includes(this.packet.iface);
    if (this.packet.iface === undefined && base.devices.length > 0 && base.devices.every((d) => d === "lo"))
      return false;
    return "unknown";
  }

  private walk(table: Table, chain: Chain, depth: number): ChainEnd {
    const label = chainLabel(table, chain);
    if (depth > MAX_DEPTH)
      return {
        kind: "unknown",
        ref: chainRef({ table, chain, label }),
        text: `jumps nested deeper than ${MAX_DEPTH}`,
      };
    for (const rule of chain.rules) {
      const held = this.ruleMatches(rule);
      if (held === false) continue;
      if (held !== true) {
        // a counter or log rule changes nothing: no need to try it both ways
        if (inert(rule)) continue;
        return held;
      }
      this.matched.push(rule.ref);
      for (const effect of rule.effects) {
        if (effect.kind === "notrack") this.notracked = true;
        if (effect.kind === "unknown") return { kind: "unknown", ref: rule.ref, text: effect.text };
      }
      let verdict: RuleVerdict = rule.verdict;
      if (verdict.kind === "vmap") {
        const chosen = this.vmapVerdict(rule, verdict);
        if ("stop" in chosen) return chosen.stop;
        verdict = chosen.verdict;
      }
      const where = `${rule.ref.chain} rule ${rule.ref.index}`;
      switch (verdict.kind) {
        case "continue":
          continue;
        case "accept":
        case "drop":
        case "reject":
          this.path.push(where, verdict.kind);
          return { kind: verdict.kind, ref: rule.ref };
        case "return":
          this.path.push(where, "return");
          return { kind: "return" };
        case "jump":
        case "goto": {
          const target = table.chains.find((c) => c.name === verdict.target);
          if (target === undefined || target.base !== null)
            return {
              kind: "unknown",
              ref: rule.ref,
              text: `${verdict.kind} to ${verdict.target}, which is not a regular chain of ${table.family} ${table.name}`,
            };
          this.path.push(where, `${verdict.kind} ${verdict.target}`);
          const end = this.walk(table, target, depth + 1);
          // goto: a return in the target returns from this chain too
          if (end.kind !== "return" || verdict.kind === "goto") return end;
          continue;
        }
        case "unknown":
          return { kind: "unknown", ref: rule.ref, text: verdict.text };
        case "vmap":
          return { kind: "unknown", ref: rule.ref, text: "a verdict map inside a verdict map" };
      }
    }
    return { kind: "return" };
  }

  private vmapVerdict(
    rule: Rule,
    vmap: Extract<RuleVerdict, { kind: "vmap" }>,
  ): { verdict: RuleVerdict } | { stop: ChainEnd } {
    for (const [i, entry] of vmap.entries.entries()) {
      const held = this.decide(entry.match, rule.ref, `vmap${i}`);
      if (held === true) return { verdict: entry.verdict };
      if (held !== false) return { stop: held };
    }
    return { verdict: { kind: "continue" } };
  }

  /** true, false, or the fork/unknown that stops this run. */
  private ruleMatches(rule: Rule): boolean | ChainEnd {
    let pending: ChainEnd | null = null;
    for (const [i, match] of rule.matches.entries()) {
      const held = this.decide(match, rule.ref, String(i));
      if (held === false) return false; // one failing match decides, whatever the undecided ones say
      if (held !== true) pending ??= held;
    }
    return pending ?? true;
  }

  private decide(match: Match, ref: RuleRef, which: string): boolean | ChainEnd {
    const held = matchOne(match, this.packet, this.ct);
    if (held !== "unknown") return held;
    const key = `${ref.chain}#${ref.index}#${which}`;
    const assumed = this.assumed.get(key);
    return assumed ?? { kind: "fork", key, ref };
  }
}

function inert(rule: Rule): boolean {
  return (
    rule.verdict.kind === "continue" && rule.effects.every((e) => e.kind === "counter" || e.kind === "log")
  );
}

function chainRef(hc: HookChain): RuleRef {
  const devices = hc.chain.base?.devices ?? [];
  const text =
    devices.length === 0
      ? "an ingress chain whose device is not listed"
      : `an ingress chain on ${devices.join(", ")}`;
  return { chain: hc.label, handle: null, index: 0, line: null, text, comment: null };
}

// ---------------------------------------------------------------------------------------------
// Matches

function matchOne(match: Match, p: PacketState, ct: CtState): Tri {
  switch (match.kind) {
    case "family":
      return match.families.includes(p.family) !== match.negate;
    case "l4proto": {
      if (match.family !== null && match.family !== p.family) return false;
      if (p.proto === null) {
        // "other" is none of tcp/udp/icmp/icmpv6: decided only when the set names none but those
        const onlyNamed = match.protocols.every((r) => r.start === r.end && NAMED_PROTOCOLS.has(r.start));
        return onlyNamed ? match.negate : "unknown";
      }
      return inRanges(p.proto, match.protocols) !== match.negate;
    }
    case "iif": {
      if (p.iface !== undefined)
        return match.names.some((n) => interfaceMatches(n, p.iface!)) !== match.negate;
      // from outside: never lo; any other name may or may not be the one
      return match.names.every((n) => n === "lo") ? match.negate : "unknown";
    }
    case "address": {
      if (match.family !== p.family) return false;
      const address = match.field === "saddr" ? p.source : p.destination;
      return match.items.some((item) => addressIn(item, address)) !== match.negate;
    }
    case "port": {
      if (p.proto === null || p.sourcePort === null || p.destinationPort === null) return false;
      if (match.protocol === null ? !PORT_PROTOCOLS.has(p.proto) : match.protocol !== p.proto) return false;
      const port = match.field === "sport" ? p.sourcePort : p.destinationPort;
      return inRanges(port, match.ports) !== match.negate;
    }
    case "ctstate":
      return match.states.includes(ct) !== match.negate;
    case "fragment":
      // `ip frag-off` and iptables -f read the IPv4 header only
      if (p.family !== "ipv4") return false;
      return p.fragment !== match.negate;
    case "icmptype": {
      const icmp = match.family === "ipv4" ? 1 : 58;
      if (match.family !== p.family || p.proto !== icmp || p.fragment) return false;
      return inRanges(p.icmpType, match.types) !== match.negate;
    }
    case "tcpflags":
      if (p.proto !== 6 || p.fragment) return false;
      return ((SYN & match.mask) === match.value) !== match.negate;
    case "unknown":
      return "unknown";
  }
}

function inRanges(value: number, ranges: readonly NumberRange[]): boolean {
  for (const r of ranges) if (value >= r.start && value <= r.end) return true;
  return false;
}

const bounds = new WeakMap<AddressItem, [bigint, bigint]>();

function addressIn(item: AddressItem, address: bigint): boolean {
  let b = bounds.get(item);
  if (b === undefined) {
    b = itemBounds(item);
    bounds.set(item, b);
  }
  return address >= b[0] && address <= b[1];
}

function itemBounds(item: AddressItem): [bigint, bigint] {
  const bits = item.family === "ipv4" ? 32n : 128n;
  if (item.kind === "range") return [toBigInt(item.first), toBigInt(item.last)];
  const low = toBigInt(item.address);
  const hostBits = bits - BigInt(item.prefix);
  return [low, low | ((1n << hostBits) - 1n)];
}

function toBigInt(text: string): bigint {
  const parsed = parseAddressResult(text);
  if (!parsed.ok) throw new InputError(parsed.message);
  return addressToBigInt(parsed.value.words);
}

// ---------------------------------------------------------------------------------------------
// Setup

function packetState(packet: Packet, options: EvaluateOptions): PacketState {
  const source = parseAddressResult(packet.source);
  const destination = parseAddressResult(packet.destination);
  if (!source.ok) throw new InputError(`packet source: ${source.message}`);
  if (!destination.ok) throw new InputError(`packet destination: ${destination.message}`);
  if (source.value.family !== packet.family || destination.value.family !== packet.family)
    throw new InputError(
      `packet addresses ${packet.source} > ${packet.destination} are not both ${packet.family}`,
    );
  const proto = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, other: null }[packet.protocol];
  const hasPorts = (proto === 6 || proto === 17) && !packet.fragment;
  return {
    family: packet.family,
    proto,
    source: addressToBigInt(source.value.words),
    destination: addressToBigInt(destination.value.words),
    sourcePort: hasPorts ? (packet.sourcePort ?? 0) : null,
    destinationPort: hasPorts ? (packet.destinationPort ?? 0) : null,
    fragment: packet.fragment,
    icmpType: options.icmpType ?? (packet.family === "ipv4" ? 8 : 128),
    iface: options.interface,
  };
}

/** Base chains a packet of `family` meets on its way in, in the order the kernel runs them. */
function hookChains(rulesets: readonly Ruleset[], family: Family): HookChain[] {
  const tableFamilies = family === "ipv4" ? ["ip", "inet", "netdev"] : ["ip6", "inet", "netdev"];
  const found: Array<HookChain & { order: number; priority: number; seq: number }> = [];
  for (const ruleset of rulesets)
    for (const table of ruleset.tables) {
      if (!tableFamilies.includes(table.family)) continue;
      for (const chain of table.chains) {
        const base = chain.base;
        if (base === null || !(base.hook in HOOK_ORDER)) continue;
        found.push({
          table,
          chain,
          label: chainLabel(table, chain),
          order: HOOK_ORDER[base.hook]!,
          priority: base.priority,
          seq: found.length,
        });
      }
    }
  found.sort((a, b) => a.order - b.order || a.priority - b.priority || a.seq - b.seq);
  return found;
}

function usesConntrack(rulesets: readonly Ruleset[]): boolean {
  for (const ruleset of rulesets)
    for (const table of ruleset.tables)
      for (const chain of table.chains) {
        if (chain.base?.type === "nat") return true;
        for (const rule of chain.rules)
          if (
            rule.matches.some((m) => m.kind === "ctstate") ||
            rule.effects.some((e) => e.kind === "notrack")
          )
            return true;
      }
  return false;
}
