/**
 * THE PROOF: random filters compiled to nftables and applied in a lab namespace judge random packets
 * exactly as `evaluate()` says. For each filter, probes go from the peer one at a time and the rule
 * whose counter moved must be the rule the evaluator names (the default's counter when it names none,
 * the "unfiltered" counter for a family the filter does not cover).
 *
 * Reproduce a run: MOAT_PROOF_SEED=<seed printed below>; scale it with MOAT_PROOF_FILTERS and
 * MOAT_PROOF_PROBES (per filter).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { compileNft } from "../../src/filter/compile/nft.js";
import { evaluate } from "../../src/filter/evaluate.js";
import { labSkipReason } from "../lab/lab.js";
import { ProofAgent } from "./kernel/agent.js";
import { filterArb, probeArb } from "./kernel/arbitraries.js";
import { type Disagreement, removeTable, runFilter, waitQuiet } from "./kernel/proof.js";
import { createProofLab, type ProofLab } from "./kernel/proof-lab.js";

function skipReason(): string | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return "kernel proof needs root (nft in a namespace)";
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore" });
  } catch {
    return "kernel proof needs nft: run scripts/install-test-deps.sh";
  }
  return labSkipReason();
}

const SKIP = skipReason();
const SEED = Number(process.env.MOAT_PROOF_SEED ?? Date.now() % 2 ** 31);
const FILTERS = Number(process.env.MOAT_PROOF_FILTERS ?? 50);
const PROBES = Number(process.env.MOAT_PROOF_PROBES ?? 45);

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

function report(seed: number, index: number, filter: unknown, script: string, found: Disagreement[]): string {
  const lines = [
    `DISAGREEMENT (MOAT_PROOF_SEED=${seed}, filter #${index}):`,
    `filter: ${JSON.stringify(filter)}`,
    "compiled:",
    script,
  ];
  for (const d of found.slice(0, 5)) {
    lines.push(
      `  probe ${JSON.stringify(d.probe)}`,
      `    evaluate: ${d.verdict?.reason ?? "-"} -> expected counter ${d.expected ?? "(none)"}; moved: ${JSON.stringify(d.observed)}`,
    );
  }
  return lines.join("\n");
}

test(`kernel agrees with evaluate() on ${FILTERS} random filters x ${PROBES} probes`, {
  skip: SKIP,
  timeout: 600_000,
}, async (t) => {
  t.diagnostic(`seed ${SEED} (reproduce with MOAT_PROOF_SEED=${SEED})`);
  const filters = fc.sample(filterArb, { seed: SEED, numRuns: FILTERS });
  let ident = 1;
  let probes = 0;
  let retries = 0;
  const failures: string[] = [];
  const started = Date.now();
  for (const [index, filter] of filters.entries()) {
    const drafts = fc.sample(probeArb(filter), { seed: SEED + index + 1, numRuns: PROBES });
    const run = await runFilter(lab!, agent!, filter, drafts, { evaluate, nextIdent: () => ident++ });
    probes += run.probes;
    retries += run.retries;
    if (run.disagreements.length > 0) {
      const text = report(
        SEED,
        index,
        filter,
        compileNft(filter, { counters: true }).output,
        run.disagreements,
      );
      failures.push(text);
      console.error(text);
    }
  }
  removeTable(lab!);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  t.diagnostic(
    `${filters.length} filters, ${probes} probes, ${retries} probes resent after a first disagreeing answer, ${seconds} s`,
  );
  assert.ok(probes >= FILTERS * PROBES, "every probe was judged");
  assert.equal(
    failures.length,
    0,
    `${failures.length} filters disagreed; seed ${SEED}\n${failures.join("\n\n")}`,
  );
});
