import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { V8_FLAGS } from "../src/cli/load-program.js";
import { SMALL_YOUNG_GENERATION } from "../src/young-generation.js";
import { youngGenerationMiB } from "./helpers/young-generation.js";

// As every moat run starts: set at run time, before the program loads (load-program.ts).
const START = `(await import("node:v8")).setFlagsFromString(${JSON.stringify(SMALL_YOUNG_GENERATION)});`;
const GROW = `${START} (await import("./src/young-generation.ts")).letYoungGenerationGrow();`;

describe("young generation settings", () => {
  it("every run starts with the small young generation, set before the program compiles", () => {
    assert.ok(V8_FLAGS.includes(SMALL_YOUNG_GENERATION));
  });

  it("stays small as moat starts it, and grows again for a scan", () => {
    const small = youngGenerationMiB(START);
    const grown = youngGenerationMiB(GROW);
    // tsx's own start-up may have doubled the initial 1 MiB once or twice before the setting applies.
    assert.ok(small <= 8, `started small, it stays small (${small} MiB)`);
    assert.ok(grown >= 16, `after letYoungGenerationGrow it grows to V8's default (${grown} MiB)`);
  });
});
