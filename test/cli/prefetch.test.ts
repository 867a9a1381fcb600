/**
 * The start-up prefetch (src/cli/prefetch.ts): which command lines start which reads, and that the
 * readers take a prefetched read over (the very same result) exactly once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { auditReadsFor, prefetchFor } from "../../src/cli/prefetch.js";
import { nativeListeners, nativeSocketFds } from "../../src/host/native.js";
import { testAddon } from "../host/native-addon.js";

const registry = () =>
  (globalThis as Record<symbol, Map<string, Promise<unknown>> | undefined>)[
    Symbol.for("moat.prefetched-reads")
  ] ?? new Map<string, Promise<unknown>>();

describe("auditReadsFor", () => {
  test("an audit of this host reads /proc and this namespace's table", () => {
    for (const args of [["audit"], ["audit", "--json"], ["--no-color", "audit", "--fail-on", "high"]])
      assert.deepEqual(auditReadsFor(args), { procRoot: "/proc", nsPath: null }, args.join(" "));
  });

  test("--netns NAME and --netns=NAME read that namespace by its file", () => {
    const expected = { procRoot: "/proc", nsPath: "/run/netns/web1" };
    assert.deepEqual(auditReadsFor(["audit", "--netns", "web1", "--json"]), expected);
    assert.deepEqual(auditReadsFor(["audit", "--netns=web1"]), expected);
  });

  test("a namespace name that could leave /run/netns reads no table, only the fds", () => {
    for (const name of ["../etc", "a/b", ".hidden", ""])
      assert.deepEqual(
        auditReadsFor(["audit", "--netns", name]),
        { procRoot: "/proc", nsPath: undefined },
        name,
      );
  });

  test("other sources, help and other commands read nothing early", () => {
    for (const args of [
      ["audit", "--ss", "x.txt"],
      ["audit", "--ss=-"],
      ["audit", "--proc-root", "/tmp/p"],
      ["audit", "--all-netns"],
      ["audit", "--help"],
      ["audit", "-h"],
      ["scan", "127.0.0.1"],
      ["catalog", "audit"],
      [],
    ])
      assert.equal(auditReadsFor(args), null, args.join(" "));
  });

  test("arguments after -- are not options", () => {
    assert.deepEqual(auditReadsFor(["audit", "--", "--ss"]), { procRoot: "/proc", nsPath: null });
  });
});

describe("prefetched reads", () => {
  testAddon(); // built when missing, so the prefetch has an addon to start reads with

  test("the first reader takes the prefetched walk and table; the next one reads anew", async () => {
    prefetchFor(["audit", "--json"]);
    const early = registry().get("socketFds:/proc");
    assert.ok(early !== undefined && registry().has("listeners:"), "both reads started");
    const walk = await nativeSocketFds("/proc");
    assert.equal(walk, await early, "the very result of the prefetched walk");
    assert.ok((await nativeListeners(null)) !== null);
    assert.equal(registry().size, 0, "each taken once");
    const again = await nativeSocketFds("/proc");
    assert.ok(again !== null && again !== walk, "a later read is a new walk");
  });

  test("a prefetched read nobody takes is harmless, and one that fails waits for its reader", async () => {
    prefetchFor(["audit", "--netns", "no-such-namespace-here"]);
    const failing = registry().get("listeners:/run/netns/no-such-namespace-here");
    assert.ok(failing !== undefined);
    await assert.rejects(failing, { code: "ENOENT" });
    // The reader sees the failure as "no native answer", as without a prefetch.
    assert.equal(await nativeListeners("/run/netns/no-such-namespace-here"), null);
    registry().clear();
  });

  test("an audit of an ss file starts nothing", () => {
    prefetchFor(["audit", "--ss", "-"]);
    assert.equal(registry().size, 0);
  });
});
