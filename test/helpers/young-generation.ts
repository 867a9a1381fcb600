import { execFileSync } from "node:child_process";

/**
 * Runs a fresh node (after `setup` ran) that churns short-lived objects while a
 * few survive, and returns the size of V8's young generation in MiB at the end. The growth settings
 * are applied at run time, so this checks that this node's V8 still honours them.
 */
export function youngGenerationMiB(setup: string): number {
  const script = `
    import { getHeapSpaceStatistics } from "node:v8";
    ${setup}
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
