/**
 * The differential check at the heart of the kernel proof: apply a compiled filter in the server
 * namespace, send one probe at a time, and compare the nft rule whose counter moved with the rule
 * the evaluator names.
 */
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { compileNft } from "../../../src/filter/compile/nft.js";
import type { Filter, Packet, Verdict } from "../../../src/filter/types.js";
import type { Probe, ProofAgent } from "./agent.js";
import type { ProbeDraft } from "./arbitraries.js";
import { type CounterLabel, delta, parseCounters } from "./counters.js";
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

async function counters(agent: ProofAgent): Promise<Map<CounterLabel, number>> {
  return parseCounters(await agent.nft("list table inet moat"));
}

function total(moved: Map<CounterLabel, number>): number {
  let sum = 0;
  for (const n of moved.values()) sum += n;
  return sum;
}

/** Sends one probe and waits until a counter moves (or, when none should, a short quiet period). */
async function observe(
  agent: ProofAgent,
  probe: Probe,
  expectNothing: boolean,
): Promise<Map<CounterLabel, number>> {
  const before = await counters(agent);
  await agent.send(probe);
  if (expectNothing) await sleep(15);
  // The frame is usually judged before send() returns (veth delivers in the sender's softirq); poll
  // briefly for when it is not.
  for (let attempt = 0; ; attempt++) {
    const moved = delta(before, await counters(agent));
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
  lab: ProofLab,
  agent: ProofAgent,
  filter: Filter,
  drafts: ProbeDraft[],
  opts: RunOptions,
): Promise<FilterRun> {
  applyFilter(lab, compileNft(filter, { counters: true }).output);
  const run: FilterRun = { probes: 0, disagreements: [], retries: 0 };
  for (const draft of drafts) {
    let probe: Probe = {
      ...draft,
      ident: opts.nextIdent(),
      dst: lab.serverAddress[draft.family === 4 ? "ipv4" : "ipv6"],
    };
    const packet = packetOf(probe);
    const verdict = opts.evaluate(filter, packet);
    const expected = expectedLabel(filter, probe, verdict);
    const agrees = (moved: Map<CounterLabel, number>) =>
      expected === null ? moved.size === 0 : moved.size === 1 && moved.get(expected) === 1;
    let moved = await observe(agent, probe, expected === null);
    // Something else reaching the hook in the same moment (an IPv6 link's own chatter) can move a
    // counter too: send the probe twice more, as a new packet. A real disagreement repeats; noise
    // does not. Retries are counted and reported.
    for (let retry = 0; !agrees(moved) && retry < 2; retry++) {
      run.retries++;
      probe = { ...probe, ident: opts.nextIdent() };
      moved = await observe(agent, probe, expected === null);
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
    const count = (await counters(agent)).get("default") ?? 0;
    if (count !== last) {
      last = count;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await sleep(100);
  }
}
