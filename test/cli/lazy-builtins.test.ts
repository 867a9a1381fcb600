/**
 * The program bundle's stand-ins for node's built-in modules (scripts/lazy-builtins.mjs): each
 * gives the real module's exports, loading it only when one is first used, and a built audit
 * loads neither the modules it does not use nor node's ES module loader.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runInNewContext } from "node:vm";
// @ts-expect-error: a build script, plain JavaScript without types
import { lazyModuleSource } from "../../scripts/lazy-builtins.mjs";
import { CLI_BUILT, REPO_ROOT } from "../helpers/moat.js";

/** Runs a stand-in's source as the bundle would, with `require` counting what it loads. */
function standIn(name: string): { exports: Record<string, unknown>; loads: string[] } {
  const loads: string[] = [];
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string) => {
    loads.push(id);
    return id === `node:${name}` ? (name === "dgram" ? dgram : null) : null;
  };
  runInNewContext(lazyModuleSource(name) as string, { module, require });
  return { exports: module.exports, loads };
}

describe("lazy built-in modules", () => {
  test("a stand-in loads its module on first use and gives the module's own exports", () => {
    const { exports, loads } = standIn("dgram");
    assert.deepEqual(loads, [], "nothing is loaded before an export is used");
    assert.deepEqual(Object.keys(exports).sort(), Object.keys(dgram).sort());
    assert.equal(exports.createSocket, dgram.createSocket);
    assert.equal(exports.Socket, dgram.Socket);
    assert.deepEqual(loads, ["node:dgram"], "loaded once");
  });

  test("modules that are functions or classes are left as they are", () => {
    assert.equal(lazyModuleSource("assert"), null);
    assert.equal(lazyModuleSource("stream"), null);
  });

  const scratch = mkdtempSync(join(tmpdir(), "moat-lazy-builtins-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("a built audit loads no child_process, dgram or ES module loader", () => {
    assert.ok(existsSync(CLI_BUILT), "run npm run build first");
    const hook = join(scratch, "loaded.cjs");
    const list = join(scratch, "loaded.txt");
    writeFileSync(
      hook,
      `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));`,
    );
    const ss = join(REPO_ROOT, "test/host/fixtures/ss/modern-tulpn.txt");
    // The report goes to a file: a pipe on stdout would itself load net for process.stdout.
    const report = join(scratch, "report.json");
    const fd = openSync(report, "w");
    try {
      execFileSync(process.execPath, ["--require", hook, CLI_BUILT, "audit", "--ss", ss, "--json"], {
        stdio: ["ignore", fd, "inherit"],
      });
    } finally {
      closeSync(fd);
    }
    assert.ok(JSON.parse(readFileSync(report, "utf8")).findings.length > 0, "the audit ran");
    const loaded = readFileSync(list, "utf8").split("\n");
    for (const name of ["NativeModule child_process", "NativeModule dgram", "NativeModule net"])
      assert.ok(!loaded.includes(name), `${name} was loaded`);
    // node sets its ES module loader up at start either way; only an ES module entry runs a module job
    assert.ok(!loaded.includes("NativeModule internal/modules/esm/module_job"), "an ES module was loaded");
  });
});
