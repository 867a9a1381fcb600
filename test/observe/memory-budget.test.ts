import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { youngGenerationMiB } from "../helpers/young-generation.js";

const BUDGET =
  'const { keepIngestMemorySmall } = await import("./src/observe/memory-budget.ts"); keepIngestMemorySmall();';

describe("keepIngestMemorySmall", () => {
  it("keeps V8's young generation from growing under allocation churn", () => {
    const without = youngGenerationMiB("");
    const withBudget = youngGenerationMiB(BUDGET);
    // V8's default grows it to 2 x 16 MiB; with the budget it stays where start-up left it (tsx's
    // own start-up may have doubled the initial 1 MiB once or twice before the budget applies).
    assert.ok(without >= 16, `without the budget the young generation grows (${without} MiB)`);
    assert.ok(withBudget <= 8, `with the budget it stays small (${withBudget} MiB)`);
  });
});
