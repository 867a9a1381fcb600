// bench/observe: `moat observe ingest` against `tshark -q -z io,stat,3600` and `tcpdump -nr` on the
// same generated capture, same run, interleaved. See bench/observe/README.md.
//
//   node bench/observe/run.mjs [--packets 10000000] [--sources 1000000] [--runs 3]
//        [--tcpdump-cap SECONDS] [--no-build] [--keep FILE]
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBenchArgs, stats, timedRun } from "../lib.mjs";

const root = new URL("../../", import.meta.url).pathname;

function parseArgs(argv) {
  return parseBenchArgs(
    argv,
    { packets: 10_000_000, sources: 1_000_000, runs: 3, tcpdumpCap: 300, build: true, keep: null },
    {
      "--packets": ["packets", "int"],
      "--sources": ["sources", "int"],
      "--runs": ["runs", "int"],
      "--tcpdump-cap": ["tcpdumpCap", "int"],
      "--no-build": ["build", false],
      "--keep": ["keep", "string"],
    },
  );
}

const fmt = (v, digits = 0) =>
  v === null || v === undefined ? "n/a" : v.toLocaleString("en-US", { maximumFractionDigits: digits });

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r, j) =>
      r
        .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
        .join("  ")
        .concat(j === 0 ? `\n${widths.map((w) => "-".repeat(w)).join("  ")}` : ""),
    )
    .join("\n");
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const tool of ["tshark", "tcpdump"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} is missing: sudo bash scripts/install-test-deps.sh`);
    }
  }
  if (opts.build) execFileSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  const scratch = mkdtempSync(join(tmpdir(), "moat-bench-observe-"));
  const capture = opts.keep ?? join(scratch, "telescope.pcap");
  try {
    // The surge sits 36 hours into a 48-hour file: 36 one-hour buckets of history before it.
    if (!existsSync(capture)) {
      execFileSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "bench/observe/synth.ts",
          "--packets",
          String(opts.packets),
          "--sources",
          String(opts.sources),
          "--surge",
          "11211/udp@36",
          "--seed",
          "1",
          "--out",
          capture,
        ],
        { cwd: root, stdio: "inherit" },
      );
    }
    const size = statSync(capture).size;
    const rssFile = join(scratch, "rss");
    const commands = {
      moat: (run) => [
        process.execPath,
        join(root, "dist/cli/main.cjs"),
        "observe",
        "ingest",
        "--db",
        join(scratch, `run-${run}.duckdb`),
        capture,
      ],
      tshark: () => ["tshark", "-r", capture, "-q", "-z", "io,stat,3600"],
    };
    const results = { moat: [], tshark: [] };
    for (let run = 0; run < opts.runs; run++) {
      const order = run % 2 === 0 ? ["moat", "tshark"] : ["tshark", "moat"];
      for (const name of order) {
        const r = await timedRun(commands[name](run), { rssFile });
        if (r.code !== 0) throw new Error(`${name} failed (exit ${r.code}): ${r.stderr}`);
        results[name].push(r);
        process.stderr.write(
          `run ${run + 1}/${opts.runs} ${name}: ${fmt(r.ms)} ms, ${fmt(r.rssKiB / 1024, 1)} MiB\n`,
        );
      }
    }
    // tcpdump's plain read slows down as it meets more distinct addresses (its name table chains
    // on a hash of the first octets): one run, capped, and a run on the first million packets.
    const tcpdumpFull = await timedRun(["sh", "-c", `tcpdump -nr '${capture}' > /dev/null 2>&1`], {
      timeoutMs: opts.tcpdumpCap * 1000,
      rssFile,
    });
    const firstMillion = Math.min(1_000_000, opts.packets);
    const tcpdumpPart = await timedRun(
      ["sh", "-c", `tcpdump -nr '${capture}' -c ${firstMillion} > /dev/null 2>&1`],
      { timeoutMs: opts.tcpdumpCap * 1000, rssFile },
    );

    // Same work, checked: moat counted every packet and saw the surge.
    const db = join(scratch, "run-0.duckdb");
    const report = JSON.parse(
      execFileSync(
        process.execPath,
        [join(root, "dist/cli/main.cjs"), "observe", "report", "--db", db, "--json"],
        {
          maxBuffer: 1 << 28,
        },
      ).toString(),
    );
    const alerts = execFileSync(process.execPath, [
      join(root, "dist/cli/main.cjs"),
      "observe",
      "alerts",
      "--db",
      db,
      "--json",
    ])
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const surge = alerts.find((a) => a.port === 11211 && a.protocol === "udp");
    const background = alerts.filter((a) => a.port === 23 || a.port === 445);

    const m = stats(results.moat.map((r) => r.ms));
    const t = stats(results.tshark.map((r) => r.ms));
    const peak = (list) => Math.max(...list.map((r) => r.rssKiB ?? 0)) / 1024;
    const rows = [["command", "runs", "median ms", "min ms", "max ms", "packets/s", "peak RSS MiB"]];
    const repeated = (label, name) => {
      const st = stats(results[name].map((r) => r.ms));
      return [
        label,
        opts.runs,
        fmt(st.median),
        fmt(st.min),
        fmt(st.max),
        fmt(opts.packets / (st.median / 1000)),
        fmt(peak(results[name]), 1),
      ];
    };
    // A single run, perhaps stopped at the cap: its time and rate are then bounds.
    const once = (label, r, packets) => {
      const bound = (sign, text) => (r.timedOut ? `${sign} ${text}` : text);
      return [
        `${label}${r.timedOut ? ` (stopped at ${opts.tcpdumpCap} s)` : ""}`,
        1,
        bound(">", fmt(r.ms)),
        "",
        "",
        bound("<", fmt(packets / (r.ms / 1000))),
        // A process killed at the cap leaves no /usr/bin/time report: no peak to show.
        r.rssKiB ? fmt(r.rssKiB / 1024, 1) : "n/a",
      ];
    };
    rows.push(repeated("moat observe ingest (1m, 1h, 1d buckets)", "moat"));
    rows.push(repeated("tshark -q -z io,stat,3600", "tshark"));
    rows.push(once("tcpdump -nr > /dev/null", tcpdumpFull, opts.packets));
    rows.push(once(`tcpdump -nr -c ${fmt(firstMillion)} (first packets only)`, tcpdumpPart, firstMillion));
    console.log(
      `\n${fmt(opts.packets)} packets from ${fmt(opts.sources)} sources, ${fmt(size / 2 ** 20, 0)} MiB pcap, 48 hours, surge on 11211/udp at hour 36`,
    );
    console.log(table(rows));
    console.log(
      `speed moat vs tshark: ${(t.median / m.median).toFixed(2)}x (ratio of median wall times; > 1 = moat faster)`,
    );
    console.log(
      `speed moat vs tcpdump -nr: ${tcpdumpFull.timedOut ? "> " : ""}${(tcpdumpFull.ms / m.median).toFixed(2)}x${tcpdumpFull.timedOut ? " (tcpdump did not finish)" : ""}`,
    );
    console.log(
      `moat counted ${fmt(report.packets)} packets, ${fmt(report.sources)} distinct sources (HyperLogLog; truth ${fmt(opts.sources)}), surge alert on 11211/udp at ${surge ? new Date(surge.bucket * 1000).toISOString() : "NONE"}, alerts on 23/tcp or 445/tcp: ${background.length}`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
