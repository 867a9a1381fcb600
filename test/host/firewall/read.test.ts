/**
 * readHostFirewall's reading of the tools, against the real ones: one child runs nft,
 * iptables-save and ip6tables-save, and each result is told apart (read, not installed, refused),
 * as is a namespace that does not exist. Needs root (the tools read the kernel's rules).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/errors.js";
import { parseNftJson } from "../../../src/host/firewall/nft.js";
import { readHostFirewall, runEach } from "../../../src/host/firewall/read.js";
import { toolMissing } from "../../helpers/skip.js";
import { runAsNobody } from "../../helpers/unprivileged.js";

const skip =
  process.getuid?.() !== 0
    ? "reading the firewall needs root"
    : (toolMissing("nft") ?? toolMissing("iptables-save", "--version") ?? toolMissing("setpriv"));

/** Path of `tool` on this machine's PATH. */
function which(tool: string): string {
  return execFileSync("sh", ["-c", `command -v ${tool}`])
    .toString()
    .trim();
}

describe("reading the firewall tools", { skip }, () => {
  const scratch = mkdtempSync(join(tmpdir(), "moat-firewall-read-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it("each command's output, error text and status are its own", async () => {
    const [ok, failed, missing] = await runEach(
      [
        ["sh", "-c", "echo out; echo err >&2"],
        ["sh", "-c", "echo 'it went wrong' >&2; exit 3"],
        ["moat-no-such-tool"],
      ],
      undefined,
    );
    assert.deepEqual(ok, { ok: true, out: { stdout: "out\n", stderr: "err\n" } });
    assert.deepEqual(failed, { ok: false, missing: false, denied: false, message: "it went wrong" });
    assert.equal(missing.ok, false);
    assert.ok(!missing.ok && missing.missing, "a command sh cannot find is missing");
  });

  it("reads the same ruleset nft prints", async () => {
    const fw = await readHostFirewall();
    const direct = parseNftJson(execFileSync("nft", ["-j", "list", "ruleset"]).toString(), "nft");
    assert.deepEqual(fw.nft?.tables, direct.tables);
    assert.ok(fw.iptables !== null, "iptables-save was read too");
  });

  it("a namespace that does not exist is an input error naming it", async () => {
    await assert.rejects(readHostFirewall({ netns: "moat-no-such-namespace" }), (error) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /network namespace "moat-no-such-namespace" does not exist/);
      return true;
    });
  });

  /** readHostFirewall in a child whose PATH holds only `tools` (and sh): the others are not installed. */
  async function readWith(tools: string[]): Promise<{ result?: unknown; error?: string }> {
    const bin = mkdtempSync(join(scratch, "bin-"));
    for (const tool of ["sh", ...tools]) symlinkSync(which(tool), join(bin, tool));
    const code = `
      const { readHostFirewall } = await import("./src/host/firewall/read.ts");
      try {
        const fw = await readHostFirewall();
        process.stdout.write(JSON.stringify({ result: { nft: fw.nft !== null, iptables: fw.iptables !== null, warnings: fw.warnings } }));
      } catch (error) {
        process.stdout.write(JSON.stringify({ error: error.constructor.name + ": " + error.message }));
      }`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: new URL("../../../", import.meta.url),
      env: { ...process.env, PATH: bin },
    });
    return JSON.parse(out.toString());
  }

  it("without nft, iptables is still read and the missing nft is a warning", async () => {
    const { result } = await readWith(["iptables-save", "ip6tables-save"]);
    const r = result as { nft: boolean; iptables: boolean; warnings: string[] };
    assert.equal(r.nft, false);
    assert.equal(r.iptables, true);
    assert.ok(
      r.warnings.some((w) => /^nft: not installed; nftables rules not read/.test(w)),
      r.warnings.join("\n"),
    );
  });

  it("with neither tool, it says so and what to install", async () => {
    const { error } = await readWith([]);
    assert.match(error ?? "", /^EnvironmentError: neither nft nor iptables-save is installed/);
  });

  it("without root, it says reading the firewall needs root", async () => {
    const out = await runAsNobody(`
      const { readHostFirewall } = await import("./src/host/firewall/read.ts");
      try { await readHostFirewall(); process.stdout.write("read"); }
      catch (error) { process.stdout.write(error.constructor.name + ": " + error.message); }`);
    assert.match(out, /^EnvironmentError: reading the firewall needs root: /);
  });
});
