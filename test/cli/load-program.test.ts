/**
 * The built program (dist/cli/program.cjs, made by `npm run build`, which scripts/test.sh runs
 * first) and its V8 code cache: V8 takes the cache under the flags every run sets, and a cache it
 * refuses only means compiling from source, with the same program as the result.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { compileProgram } from "../../src/cli/load-program.js";
import { REPO_ROOT, runMoat } from "../helpers/moat.js";

const BUNDLE = join(REPO_ROOT, "dist/cli/program.cjs");
const CACHE = `${BUNDLE}.cache`;

describe("the built program and its code cache", () => {
  const scratch = mkdtempSync(join(tmpdir(), "moat-code-cache-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("the build made a cache, and V8 takes it", () => {
    assert.ok(existsSync(BUNDLE) && existsSync(CACHE), "run npm run build first");
    assert.equal(compileProgram(BUNDLE, CACHE).cachedDataRejected, false);
  });

  test("a cache of other code is refused, and the program compiles from source", () => {
    const foreign = join(scratch, "foreign.cache");
    writeFileSync(foreign, Buffer.from("not a code cache at all, nor one of this program"));
    const script = compileProgram(BUNDLE, foreign);
    assert.equal(script.cachedDataRejected, true);
    assert.equal(typeof script.runInThisContext(), "function");
    // No cache file at all: nothing to refuse.
    assert.equal(compileProgram(BUNDLE, join(scratch, "missing.cache")).cachedDataRejected, undefined);
  });

  test("the built CLI prints what the sources print", async () => {
    const args = ["audit", "--ss", join(REPO_ROOT, "test/host/fixtures/ss/modern-tulpn.txt"), "--json"];
    const [built, source] = await Promise.all([runMoat(args, { built: true }), runMoat(args)]);
    assert.equal(built.code, source.code, built.stderr);
    const strip = (text: string) => text.replace(/"generatedAt": "[^"]*"/, "");
    assert.equal(strip(built.stdout), strip(source.stdout));
    assert.ok(built.json<{ findings: unknown[] }>().findings.length > 0);
  });
});
