// What every benchmark shares: summary statistics and a seeded random source, so that each
// bench/*/run.mjs reports numbers the same way and generates the same data on every machine.

/** Median, min and max of a list of timings. */
export function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * A benchmark's command line. `flags` maps each flag to [option, kind]: "int" takes a positive
 * integer, "string" any value, anything else is the value a flag without argument sets. Unknown
 * flags and bad values throw, naming every flag there is.
 */
export function parseBenchArgs(argv, defaults, flags) {
  const opts = { ...defaults };
  const usage = Object.entries(flags)
    .map(([flag, [, kind]]) => (kind === "int" ? `${flag} N` : kind === "string" ? `${flag} VALUE` : flag))
    .join(", ");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const known = flags[arg];
    if (known === undefined) throw new Error(`unknown option ${arg} (${usage})`);
    const [key, kind] = known;
    if (kind !== "int" && kind !== "string") {
      opts[key] = kind;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${arg} needs a value`);
    if (kind === "string") opts[key] = value;
    else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} needs a positive integer`);
      opts[key] = n;
    }
  }
  return opts;
}

/** mulberry32: a small seeded PRNG, floats in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Process groups of timedRun children still running: killed if the benchmark itself exits. */
const running = new Set();
process.on("exit", () => {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

/**
 * Run a command to completion and time it from outside (start-up included); peak RSS from
 * /usr/bin/time when present. stdout goes to /dev/null unless `keepStdout`. `timeoutMs` kills it and
 * reports `timedOut` instead of failing: a peer tool too slow to finish is itself a result.
 */
export async function timedRun(argv, { keepStdout = false, timeoutMs = 0, rssFile } = {}) {
  const { spawn } = await import("node:child_process");
  const { existsSync, readFileSync, rmSync } = await import("node:fs");
  const useTime = rssFile !== undefined && existsSync("/usr/bin/time");
  const full = useTime ? ["/usr/bin/time", "-f", "%M", "-o", rssFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    // Its own process group, so a timeout kills the whole tree (time → sh → tool), not only the
    // first process while the tool runs on, holding the pipes open.
    const child = spawn(full[0], full.slice(1), {
      stdio: ["ignore", keepStdout ? "pipe" : "ignore", "pipe"],
      detached: true,
    });
    running.add(child.pid);
    const out = [];
    let err = "";
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {
              child.kill("SIGKILL");
            }
          }, timeoutMs)
        : null;
    child.stdout?.on("data", (chunk) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      err = (err + chunk).slice(-4000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      running.delete(child.pid);
      if (timer) clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      let rssKiB = null;
      if (useTime && existsSync(rssFile)) {
        const last = readFileSync(rssFile, "utf8").trim().split("\n").at(-1);
        rssKiB = Number(last) || null;
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, code, timedOut, stdout: Buffer.concat(out).toString("utf8"), stderr: err, rssKiB });
    });
  });
}
