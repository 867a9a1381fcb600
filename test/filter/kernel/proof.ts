/**
 * The differential check at the heart of the kernel proof: apply a compiled filter in the server
 * namespace, send one probe at a time, and compare the rule whose counter moved with the rule the
 * evaluator names. A Backend says how one target is loaded and counted (nft, iptables).
 */
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { compileIptables } from "../../../src/filter/compile/iptables.js";
import { compileNft } from "../../../src/filter/compile/nft.js";
import type { Filter, Packet, Verdict } from "../../../src/filter/types.js";
import type { Probe, ProofAgent } from "./agent.js";
import type { ProbeDraft } from "./arbitraries.js";
import { type CounterLabel, delta, parseCounters, parseIptablesCounters } from "./counters.js";
import type { ProofLab } from "./proof-lab.js";

export type Evaluate = (filter: Filter, packet: Packet) => Verdict;

export interface Disagreement {
  probe: Probe;
  packet: Packet;
  verdict: Verdict | null;
  expected: CounterLabel | null;
  observed: Record<string, number>;
}

export interface FilterRun {
  probes: number;
  disagreements: Disagreement[];
  /** Probes sent again because the first answer disagreed (then noise, as the retry agreed, or not). */
  retries: number;
}

/** What the evaluator says about the probe, as the packet `moat filter test` would be given. */
export function packetOf(probe: Probe): Packet {
  const ported = (probe.proto === "tcp" || probe.proto === "udp") && probe.frag !== "later";
  return {
    protocol: probe.proto,
    family: probe.family === 4 ? "ipv4" : "ipv6",
    source: probe.src,
    destination: probe.dst,
    sourcePort: ported ? probe.sport : null,
    destinationPort: ported ? probe.dport : null,
    fragment: probe.frag === "later",
  };
}

/**
 * The counter that must move, or null when none may: in stateful mode conntrack holds fragments for
 * reassembly before the filter's hook, and a lone fragment never completes.
 */
export function expectedLabel(filter: Filter, probe: Probe, verdict: Verdict): CounterLabel | null {
  const family = probe.family === 4 ? "ipv4" : "ipv6";
  // Conntrack defragments every family, covered or not, before the chain's hook.
  if (filter.mode === "stateful" && probe.frag !== "none") return null;
  if (!filter.families.includes(family)) return "unfiltered";
  return verdict.rule === null ? "default" : `rule ${verdict.rule}`;
}

export interface Backend {
  name: string;
  apply(filter: Filter): Promise<void>;
  /** Packet counts per label, for the probe's family. */
  counters(family: 4 | 6): Promise<Map<CounterLabel, number>>;
  /** Which readings share counters: families with the same scope are read together. */
  scope(family: 4 | 6): string;
  expected(filter: Filter, probe: Probe, verdict: Verdict): CounterLabel | null;
}

export function applyFilter(lab: ProofLab, script: string): void {
  execFileSync("ip", ["netns", "exec", lab.server, "nft", "-f", "-"], {
    input: script,
    stdio: ["pipe", "ignore", "pipe"],
  });
}

export function removeTable(lab: ProofLab): void {
  try {
    execFileSync("ip", ["netns", "exec", lab.server, "nft", "delete", "table", "inet", "moat"], {
      stdio: "ignore",
    });
  } catch {}
}

async function nftCounters(agent: ProofAgent): Promise<Map<CounterLabel, number>> {
  return parseCounters(await agent.nft("list table inet moat"));
}

export function nftBackend(lab: ProofLab, agent: ProofAgent): Backend {
  return {
    name: "nft",
    apply: async (filter) => applyFilter(lab, compileNft(filter, { counters: true }).output),
    counters: () => nftCounters(agent),
    scope: () => "inet moat",
    expected: expectedLabel,
  };
}

const IPT = {
  4: ["iptables", "iptables-save", "iptables-restore"],
  6: ["ip6tables", "ip6tables-save", "ip6tables-restore"],
} as const;

/**
 * iptables in the server namespace (which holds nothing else): each filter starts from empty raw
 * and mangle tables and is loaded with --noflush, as on a host. A family the filter does not cover
 * loads no rules at all, so no counter can move for it.
 */
export function iptablesBackend(lab: ProofLab, agent: ProofAgent): Backend {
  // Reading one table is quicker than iptables-save of all of them; the filter's mode picks it.
  let table = "raw";
  return {
    name: "iptables",
    apply: async (filter) => {
      table = filter.mode === "stateless" ? "raw" : "mangle";
      // An nft table left by the nft proof would judge (and drop) packets before iptables does.
      removeTable(lab);
      const scripts = compileIptables(filter);
      for (const family of [4, 6] as const) {
        const [tool, , restore] = IPT[family];
        for (const name of ["raw", "mangle"]) {
          await agent.run([tool, "-t", name, "-F"]);
          await agent.run([tool, "-t", name, "-X"]);
        }
        execFileSync("ip", ["netns", "exec", lab.server, restore, "--noflush"], {
          input: family === 4 ? scripts.ipv4 : scripts.ipv6,
          stdio: ["pipe", "ignore", "pipe"],
        });
      }
    },
    counters: async (family) => parseIptablesCounters(await agent.run([IPT[family][1], "-c", "-t", table])),
    scope: (family) => `ip${family}`,
    expected: (filter, probe, verdict) => {
      const label = expectedLabel(filter, probe, verdict);
      return label === "unfiltered" ? null : label;
    },
  };
}

function total(moved: Map<CounterLabel, number>): number {
  let sum = 0;
  for (const n of moved.values()) sum += n;
  return sum;
}

/**
 * The last counter reading per scope (nft: one table for both families; iptables: one per family),
 * so each probe costs one reading instead of a before and an after.
 */
class CounterReader {
  private readonly last = new Map<string, Map<CounterLabel, number>>();
  constructor(private readonly backend: Backend) {}

  async baseline(family: 4 | 6): Promise<Map<CounterLabel, number>> {
    const scope = this.backend.scope(family);
    const known = this.last.get(scope);
    return known ?? this.read(family);
  }

  async read(family: 4 | 6): Promise<Map<CounterLabel, number>> {
    const now = await this.backend.counters(family);
    this.last.set(this.backend.scope(family), now);
    return now;
  }
}

/** Sends one probe and waits until a counter moves (or, when none should, a short quiet period). */
async function observe(
  reader: CounterReader,
  agent: ProofAgent,
  probe: Probe,
  expectNothing: boolean,
): Promise<Map<CounterLabel, number>> {
  const before = await reader.baseline(probe.family);
  await agent.send(probe);
  if (expectNothing) {
    // Long enough for a frame that was going to be judged to have been (the poll below needs ~1 ms).
    await sleep(20);
    return delta(before, await reader.read(probe.family));
  }
  // The frame is usually judged before send() returns (veth delivers in the sender's softirq); poll
  // briefly for when it is not.
  for (let attempt = 0; ; attempt++) {
    const moved = delta(before, await reader.read(probe.family));
    if (total(moved) > 0 || attempt >= 20) return moved;
    await sleep(attempt < 5 ? 1 : 5);
  }
}

export interface RunOptions {
  evaluate: Evaluate;
  /** Makes idents unique across the whole run (conntrack must never see two probes as one flow). */
  nextIdent: () => number;
}

export async function runFilter(
  backend: Backend,
  lab: ProofLab,
  agent: ProofAgent,
  filter: Filter,
  drafts: ProbeDraft[],
  opts: RunOptions,
): Promise<FilterRun> {
  await backend.apply(filter);
  const reader = new CounterReader(backend);
  const run: FilterRun = { probes: 0, disagreements: [], retries: 0 };
  for (const draft of drafts) {
    let probe: Probe = {
      ...draft,
      ident: opts.nextIdent(),
      dst: lab.serverAddress[draft.family === 4 ? "ipv4" : "ipv6"],
    };
    const packet = packetOf(probe);
    const verdict = opts.evaluate(filter, packet);
    const expected = backend.expected(filter, probe, verdict);
    const agrees = (moved: Map<CounterLabel, number>) =>
      expected === null ? moved.size === 0 : moved.size === 1 && moved.get(expected) === 1;
    let moved = await observe(reader, agent, probe, expected === null);
    // Something else reaching the hook in the same moment (an IPv6 link's own chatter) can move a
    // counter too: send the probe twice more, as a new packet. A real disagreement repeats; noise
    // does not. Retries are counted and reported.
    for (let retry = 0; !agrees(moved) && retry < 2; retry++) {
      run.retries++;
      probe = { ...probe, ident: opts.nextIdent() };
      moved = await observe(reader, agent, probe, expected === null);
    }
    run.probes++;
    if (!agrees(moved)) {
      run.disagreements.push({ probe, packet, verdict, expected, observed: Object.fromEntries(moved) });
    }
  }
  return run;
}

/**
 * Waits until nothing reaches the server's prerouting hook for `quietMs`: a new link's IPv6 chatter
 * (duplicate address detection, MLD reports, router solicitations) lasts a few seconds.
 */
export async function waitQuiet(
  lab: ProofLab,
  agent: ProofAgent,
  quietMs = 1500,
  limitMs = 15_000,
): Promise<void> {
  applyFilter(
    lab,
    'table inet moat {}\ndelete table inet moat\ntable inet moat {\n\tchain input {\n\t\ttype filter hook prerouting priority -450; policy accept;\n\t\tcounter comment "moat default: quiet"\n\t}\n}\n',
  );
  const deadline = Date.now() + limitMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const count = (await nftCounters(agent)).get("default") ?? 0;
    if (count !== last) {
      last = count;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await sleep(100);
  }
}
