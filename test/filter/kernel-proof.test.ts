/**
 * THE PROOF: random filters compiled to nftables and applied in a lab namespace judge random packets
 * exactly as `evaluate()` says. For each filter, probes go from the peer one at a time and the rule
 * whose counter moved must be the rule the evaluator names (the default's counter when it names none,
 * the "unfiltered" counter for a family the filter does not cover).
 *
 * The same proof then runs against the iptables-restore output (fewer filters: iptables-save is a
 * process per reading).
 *
 * Reproduce a run: MOAT_PROOF_SEED=<seed printed below>; scale it with MOAT_PROOF_FILTERS,
 * MOAT_PROOF_IPT_FILTERS and MOAT_PROOF_PROBES (per filter).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { compileIptables } from "../../src/filter/compile/iptables.js";
import { compileNft } from "../../src/filter/compile/nft.js";
import { evaluate } from "../../src/filter/evaluate.js";
import type { Filter } from "../../src/filter/types.js";
import { nftLabSkipReason } from "../helpers/skip.js";
import { ProofAgent } from "./kernel/agent.js";
import { filterArb, probeArb } from "./kernel/arbitraries.js";
import {
  type Backend,
  type Disagreement,
  iptablesBackend,
  nftBackend,
  removeTable,
  runFilter,
  waitQuiet,
} from "./kernel/proof.js";
import { createProofLab, type ProofLab } from "./kernel/proof-lab.js";

const SKIP = nftLabSkipReason();
const SEED = Number(process.env.MOAT_PROOF_SEED ?? Date.now() % 2 ** 31);
const FILTERS = Number(process.env.MOAT_PROOF_FILTERS ?? 80);
const PROBES = Number(process.env.MOAT_PROOF_PROBES ?? 50);
const IPT_FILTERS = Number(process.env.MOAT_PROOF_IPT_FILTERS ?? 50);

function iptablesSkip(): string | undefined {
  for (const tool of ["iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `the iptables proof needs ${tool}: run scripts/install-test-deps.sh`;
    }
  }
  return undefined;
}
const IPT_SKIP = iptablesSkip();

let lab: ProofLab | undefined;
let agent: ProofAgent | undefined;

before(async () => {
  if (SKIP !== undefined) return;
  lab = await createProofLab();
  agent = await ProofAgent.start(lab);
  await waitQuiet(lab, agent);
});

after(async () => {
  await agent?.close();
  await lab?.lab.destroy();
});

function report(backend: string, seed: number, index: number, filter: Filter, found: Disagreement[]): string {
  const compiled =
    backend === "nft" ? compileNft(filter, { counters: true }).output : compileIptables(filter).output;
  const lines = [
    `DISAGREEMENT (${backend}, MOAT_PROOF_SEED=${seed}, filter #${index}):`,
    `filter: ${JSON.stringify(filter)}`,
    "compiled:",
    compiled,
  ];
  for (const d of found.slice(0, 5)) {
    lines.push(
      `  probe ${JSON.stringify(d.probe)}`,
      `    evaluate: ${d.verdict?.reason ?? "-"} -> expected counter ${d.expected ?? "(none)"}; moved: ${JSON.stringify(d.observed)}`,
    );
  }
  return lines.join("\n");
}

interface ProofTotals {
  filters: number;
  probes: number;
  retries: number;
  failures: string[];
  seconds: string;
}

/** `filters` random filters from `seed`, `probes` probes each, judged by the kernel through `backend`. */
async function prove(backend: Backend, seed: number, filters: number, probes: number): Promise<ProofTotals> {
  const sampled = fc.sample(filterArb, { seed, numRuns: filters });
  const totals: ProofTotals = { filters: sampled.length, probes: 0, retries: 0, failures: [], seconds: "" };
  const started = Date.now();
  for (const [index, filter] of sampled.entries()) {
    const drafts = fc.sample(probeArb(filter), { seed: seed + index + 1, numRuns: probes });
    const run = await runFilter(backend, lab!, agent!, filter, drafts, {
      evaluate,
      nextIdent: () => ident++,
    });
    totals.probes += run.probes;
    totals.retries += run.retries;
    if (run.disagreements.length > 0) {
      const text = report(backend.name, seed, index, filter, run.disagreements);
      totals.failures.push(text);
      console.error(text);
    }
  }
  totals.seconds = ((Date.now() - started) / 1000).toFixed(1);
  return totals;
}

/** Idents are unique across the whole file: conntrack must never see two probes as one flow. */
let ident = 1;

test(`nft: kernel agrees with evaluate() on ${FILTERS} random filters x ${PROBES} probes`, {
  skip: SKIP,
  timeout: 600_000,
}, async (t) => {
  t.diagnostic(`seed ${SEED} (reproduce with MOAT_PROOF_SEED=${SEED})`);
  const totals = await prove(nftBackend(lab!, agent!), SEED, FILTERS, PROBES);
  removeTable(lab!);
  t.diagnostic(
    `${totals.filters} filters, ${totals.probes} probes, ${totals.retries} probes resent after a first disagreeing answer, ${totals.seconds} s`,
  );
  assert.ok(totals.probes >= FILTERS * PROBES, "every probe was judged");
  assert.equal(
    totals.failures.length,
    0,
    `${totals.failures.length} filters disagreed; seed ${SEED}\n${totals.failures.join("\n\n")}`,
  );
});

test(`iptables: kernel agrees with evaluate() on ${IPT_FILTERS} random filters x ${PROBES} probes`, {
  skip: SKIP ?? IPT_SKIP,
  timeout: 600_000,
}, async (t) => {
  removeTable(lab!);
  const seed = SEED + 1_000_003;
  t.diagnostic(`seed ${seed} (the nft seed + 1000003; reproduce with MOAT_PROOF_SEED=${SEED})`);
  const totals = await prove(iptablesBackend(lab!, agent!), seed, IPT_FILTERS, PROBES);
  t.diagnostic(
    `${totals.filters} filters, ${totals.probes} probes, ${totals.retries} probes resent after a first disagreeing answer, ${totals.seconds} s`,
  );
  assert.ok(totals.probes >= IPT_FILTERS * PROBES, "every probe was judged");
  assert.equal(
    totals.failures.length,
    0,
    `${totals.failures.length} filters disagreed; seed ${SEED}\n${totals.failures.join("\n\n")}`,
  );
});
