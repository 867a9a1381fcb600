import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";

/**
 * Runs a fresh node that churns short-lived objects while a few survive (like an ingest's open
 * buckets), with or without the budget, and reports the young generation's size: the V8 settings
 * are applied at run time, so this checks that this node's V8 still honours them.
 */
function youngGenerationMiB(withBudget: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from "node:v8";
    ${withBudget ? 'const { keepIngestMemorySmall } = await import("./src/observe/memory-budget.ts"); keepIngestMemorySmall();' : ""}
    const kept = [];
    let sink = 0;
    for (let i = 0; i < 3_000_000; i++) {
      const o = { a: i, b: [i, i + 1], c: "x" + (i % 1000) };
      if (i % 50 === 0) kept.push(o);
      if (kept.length > 20_000) kept.splice(0, 10_000);
      sink += o.b.length;
    }
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    process.stdout.write(String(young.space_size / 1048576) + (sink > 0 ? "" : "!"));
  `;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: new URL("../../", import.meta.url),
  }).toString();
  return Number(out);
}

describe("keepIngestMemorySmall", () => {
  it("keeps V8's young generation from growing under allocation churn", () => {
    const without = youngGenerationMiB(false);
    const withBudget = youngGenerationMiB(true);
    // V8's default grows it to 2 x 16 MiB; with the budget it stays where start-up left it (tsx's
    // own start-up may have doubled the initial 1 MiB once or twice before the budget applies).
    assert.ok(without >= 16, `without the budget the young generation grows (${without} MiB)`);
    assert.ok(withBudget <= 8, `with the budget it stays small (${withBudget} MiB)`);
  });
});
