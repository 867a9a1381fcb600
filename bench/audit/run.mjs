/**
 * Benchmark: `moat audit --netns NS --json` (built CLI) against `ss -tulpn` on the same namespace
 * holding 10,000 listening sockets owned by 200 processes. Both map sockets to processes through
 * /proc/<pid>/fd, so they do the same work; the outputs are checked to agree before any timing.
 *
 *   node bench/audit/run.mjs [--runs 7] [--procs 200] [--per-proc 50] [--no-build] [--compare MAIN_JS]
 *
 * --compare times another build's CLI (its dist/cli/main.cjs) in the same interleaved runs, so a
 * change can be judged against the build before it in the same minute, whatever the load.
 *
 * Needs root (network namespaces). Not part of `npm test`.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { parseBenchArgs, stats } from "../lib.mjs";

// The lab helper is TypeScript; tsx lets this plain-node script reuse it instead of a second copy.
register();
const { createLab, labSkipReason } = await import("../../test/lab/lab.ts");

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.cjs");
const TIME = "/usr/bin/time";

function parseArgs(argv) {
  const opts = parseBenchArgs(
    argv,
    { runs: 7, procs: 200, perProc: 50, build: true, hold: false, compare: undefined },
    {
      "--runs": ["runs", "int"],
      "--procs": ["procs", "int"],
      "--per-proc": ["perProc", "int"],
      "--no-build": ["build", false],
      "--hold": ["hold", true],
      "--compare": ["compare", "string"],
    },
  );
  if (opts.runs < 5) throw new Error("--runs: at least 5, or the median means little");
  return opts;
}

/**
 * Socket j of process i: the four kinds in turn (so 2,500 each of tcp4, tcp6, udp4, udp6 at the
 * default size), each on its own port, spread over wildcard, loopback and a documentation address.
 */
function socketsFor(proc, perProc) {
  const kinds = [
    ["tcp", ["0.0.0.0", "127.0.0.1", "192.0.2.10"]],
    ["tcp", ["::", "::1", "2001:db8::10"]],
    ["udp", ["0.0.0.0", "127.0.0.1", "192.0.2.10"]],
    ["udp", ["::", "::1", "2001:db8::10"]],
  ];
  const sockets = [];
  for (let j = 0; j < perProc; j++) {
    const n = proc * perProc + j;
    const [protocol, addresses] = kinds[n % 4];
    sockets.push({ protocol, address: addresses[Math.floor(n / 4) % 3], port: 20000 + n });
  }
  return sockets;
}

/**
 * The environment both tools run in: this one without NODE_EXTRA_CA_CERTS. `sudo` drops it (as it
 * drops most of a user's environment), so `sudo moat audit` never sees it; when it is set, node
 * parses that certificate file at start-up, before any of moat's code runs (~30 ms for Debian's
 * bundle). ss ignores it. Runs that keep it are reported on a row of their own.
 */
const CERTS = process.env.NODE_EXTRA_CA_CERTS;
const CLEAN_ENV = { ...process.env };
delete CLEAN_ENV.NODE_EXTRA_CA_CERTS;

/** Runs argv under /usr/bin/time (when present) and returns wall ms, peak RSS KiB, stdout. */
function timed(argv, scratch, env = CLEAN_ENV) {
  const rssFile = join(scratch, "rss");
  const useTime = existsSync(TIME);
  const full = useTime ? [TIME, "-f", "%M", "-o", rssFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(full[0], full.slice(1), { stdio: ["ignore", "pipe", "pipe"], env });
    const out = [];
    let err = "";
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) return reject(new Error(`${argv.join(" ")} exited ${code}: ${err.slice(0, 2000)}`));
      const rssKiB = useTime ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : Number.NaN;
      resolve({ ms, rssKiB, stdout: Buffer.concat(out).toString("utf8") });
    });
  });
}

/** Starts listeners a batch at a time: 200 python3 starts at once would only thrash 2 cores. */
async function startListeners(lab, opts) {
  const batch = 16;
  for (let first = 0; first < opts.procs; first += batch) {
    const group = [];
    for (let i = first; i < Math.min(first + batch, opts.procs); i++) {
      group.push(
        lab.start("bench", { kind: "listener", name: `l${i}`, sockets: socketsFor(i, opts.perProc) }),
      );
    }
    await Promise.all(group);
  }
}

function printTable(rows, ratio, expected, opts) {
  const head = ["command", "runs", "median ms", "min ms", "max ms", "peak RSS MiB"];
  const body = rows.map((r) => [
    r.name,
    String(r.ms.length),
    ...["median", "min", "max"].map((k) => stats(r.ms)[k].toFixed(0)),
    Number.isNaN(r.maxRssKiB) ? "n/a" : (r.maxRssKiB / 1024).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n${expected} sockets, ${opts.procs} processes, ${opts.runs} interleaved runs each`);
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  console.log(`ratio moat/ss (medians, same work: --no-firewall): ${ratio.toFixed(2)}x`);
  const median = (key) => stats(rows.find((r) => r.key === key).ms).median;
  if (rows.some((r) => r.key === "certs")) {
    const kept = median("certs") / median("ss");
    console.log(
      `ratio with NODE_EXTRA_CA_CERTS=${CERTS} kept (node parses it at start-up): ${kept.toFixed(2)}x`,
    );
  }
  if (rows.some((r) => r.key === "compare")) {
    const compared = median("compare") / median("ss");
    const change = median("moat") / median("compare");
    console.log(
      `ratio of ${opts.compare} to ss: ${compared.toFixed(2)}x; this build takes ${change.toFixed(2)} of its time`,
    );
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const reason = labSkipReason();
  if (reason !== undefined) {
    console.error(`bench: ${reason}`);
    process.exit(3);
  }
  if (opts.build) {
    console.error("bench: building dist/ (npm run build)");
    execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: build failed or --no-build without a build`);

  const expected = opts.procs * opts.perProc;
  const scratch = mkdtempSync(join(tmpdir(), "moat-bench-"));
  // Addresses on lo: this kernel has no dummy driver, and lo takes any address.
  const lab = await createLab({
    namespaces: [{ role: "bench", addresses: ["192.0.2.10/32", "2001:db8::10/128"] }],
  });
  try {
    const ns = lab.ns("bench");
    const t0 = Date.now();
    await startListeners(lab, opts);
    console.error(`bench: ${expected} sockets in ${ns} from ${opts.procs} processes (${Date.now() - t0} ms)`);
    if (opts.hold) {
      // For profiling by hand (--cpu-prof, strace): keep the lab until a signal; the lab's own
      // SIGINT/SIGTERM handlers tear it down.
      console.error(`bench: holding ${ns}; Ctrl-C or SIGTERM removes it`);
      await new Promise(() => setInterval(() => {}, 1 << 30));
    }

    // --no-firewall: the socket work only, what ss does; the default also reads back nft/iptables.
    const moatArgv = [process.execPath, CLI, "audit", "--netns", ns, "--json", "--no-firewall"];
    const moatFirewallArgv = [process.execPath, CLI, "audit", "--netns", ns, "--json"];
    const ssArgv = ["ip", "netns", "exec", ns, "ss", "-H", "-tulpn"];

    // Same work: both must see every socket and name the process that owns each one.
    const moat = JSON.parse((await timed(moatArgv, scratch)).stdout);
    const ssLines = (await timed(ssArgv, scratch)).stdout.split("\n").filter((l) => l.trim() !== "");
    const owned = moat.findings.filter((f) => f.process !== null).length;
    const ssOwned = ssLines.filter((l) => l.includes('users:(("')).length;
    if (
      moat.findings.length !== expected ||
      ssLines.length !== expected ||
      owned !== expected ||
      ssOwned !== expected
    ) {
      throw new Error(
        `outputs disagree: moat ${moat.findings.length} findings (${owned} with a process), ` +
          `ss ${ssLines.length} lines (${ssOwned} with a process), want ${expected}`,
      );
    }

    const row = (key, name, argv, env) => ({ key, name, argv, env, ms: [], maxRssKiB: 0 });
    const rows = [
      row("moat", "moat audit --netns NS --json --no-firewall", moatArgv),
      row("ss", "ip netns exec NS ss -tulpn", ssArgv),
      row("firewall", "moat audit --netns NS --json (+ firewall)", moatFirewallArgv),
    ];
    if (CERTS !== undefined) {
      rows.push(row("certs", "moat ... --no-firewall, NODE_EXTRA_CA_CERTS set", moatArgv, process.env));
    }
    if (opts.compare !== undefined) {
      const argv = [process.execPath, opts.compare, ...moatArgv.slice(2)];
      rows.push(row("compare", "--compare build ... --no-firewall", argv));
    }
    for (let run = 0; run < opts.runs; run++) {
      // Alternate who goes first so neither always runs on a warmer page cache.
      const order = run % 2 === 0 ? rows : [...rows].reverse(); // rotate so no row always goes first
      for (const row of order) {
        const result = await timed(row.argv, scratch, row.env);
        row.ms.push(result.ms);
        row.maxRssKiB = Math.max(row.maxRssKiB, result.rssKiB);
      }
      console.error(`bench: run ${run + 1}/${opts.runs} done`);
    }
    const ratio = stats(rows[0].ms).median / stats(rows[1].ms).median;
    printTable(rows, ratio, expected, opts);
  } finally {
    await lab.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
