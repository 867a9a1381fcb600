#!/usr/bin/env node
/**
 * Benchmark: `moat scan` (built CLI) against `nmap -sU` and masscan on the same targets, the same
 * UDP reflector ports and the same lab, interleaved in one run: wall time, probes per second, CPU,
 * and recall / false positives against the ground truth the lab was built with.
 *
 *   sudo node bench/scan/run.mjs [--runs 3] [--hosts 512] [--big-ports 512] [--no-masscan] [--no-build] [--cli FILE]
 *
 * Needs root (network namespaces, nftables, raw sockets for nmap and masscan). Not part of
 * `npm test`. Nothing leaves the machine: every target is inside 198.51.100.0/24 and
 * 203.0.113.0/24 (documentation ranges), routed only inside two throwaway namespaces; every
 * scanner runs inside the client namespace (`ip netns exec`). See README.md.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArgs, prng, stats } from "../lib.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEFAULT_CLI = join(ROOT, "dist/cli/main.cjs");
const TIME = "/usr/bin/time";
/** The routed target prefixes: documentation ranges only, never anything else. */
const NETS = ["198.51.100", "203.0.113"];
/** Larger runs (--hosts over 512): the start of 198.18.0.0/15, the range set aside for benchmarks (RFC 2544). */
const WIDE_BASE = (198 << 24) | (18 << 16);
const WIDE_MAX = 1 << 17;
const CLIENT_IP = "192.0.2.1";
const SERVER_IP = "192.0.2.2";
/** Comparison ports: memcached (the reflector that answers) + four reflector ports nobody serves. */
const PORTS = [11211, 123, 53, 161, 1900];
/** Extra ports of the moat-only throughput run: dropped by the lab firewall (silence). */
const BIG_PORT_BASE = 20000;
/** Address roles per 512 addresses, assigned by a seeded shuffle so they are not a simple pattern. */
const ROLES = { open: 320, closed: 128, silent: 64 };
/** One memcached serves at most this many addresses (one UDP and one TCP socket each). */
const ADDRESSES_PER_MEMCACHED = 320;

function parseArgs(argv) {
  const opts = parseBenchArgs(
    argv,
    {
      runs: 3,
      hosts: 512,
      bigPorts: 512,
      build: true,
      masscan: true,
      icmpRatelimit: false,
      nmapMinRate: 10000,
      masscanRate: 100000,
      cli: DEFAULT_CLI,
    },
    {
      "--runs": ["runs", "int"],
      "--hosts": ["hosts", "int"],
      "--big-ports": ["bigPorts", "int"],
      "--nmap-min-rate": ["nmapMinRate", "int"],
      "--masscan-rate": ["masscanRate", "int"],
      "--no-masscan": ["masscan", false],
      "--icmp-ratelimit": ["icmpRatelimit", true],
      "--no-build": ["build", false],
      "--cli": ["cli", "string"],
    },
  );
  // A CLI built elsewhere (same sources): dist/ stays untouched for others using it meanwhile.
  if (opts.cli !== DEFAULT_CLI) opts.build = false;
  if (opts.runs < 3) throw new Error("--runs: at least 3, or the median means little");
  if (opts.bigPorts > 10000) throw new Error("--big-ports: at most 10000");
  const power = Math.log2(opts.hosts);
  if (!Number.isInteger(power) || power < 9 || opts.hosts > WIDE_MAX)
    throw new Error(`--hosts: a power of two from 512 to ${WIDE_MAX}`);
  opts.prefixes = opts.hosts === 512 ? NETS.map((n) => `${n}.0/24`) : [`198.18.0.0/${32 - power}`];
  return opts;
}

/** Every target address with its role: open (memcached), closed (ICMP unreachable), silent (dropped). */
function groundTruth(opts) {
  const dotted = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  const addresses =
    opts.hosts === 512
      ? NETS.flatMap((net) => Array.from({ length: 256 }, (_, h) => `${net}.${h}`))
      : Array.from({ length: opts.hosts }, (_, i) => dotted(WIDE_BASE + i));
  const order = [...addresses];
  const rand = prng(2018);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const role = new Map();
  let k = 0;
  const scale = addresses.length / 512;
  for (const [name, count] of Object.entries(ROLES))
    for (let c = 0; c < count * scale; c++) role.set(order[k++], name);
  if (k !== addresses.length) throw new Error("ROLES must add up to the number of addresses");
  return { addresses, role };
}

// ---------------------------------------------------------------------------------------------
// Lab: two namespaces, a veth pair on 192.0.2.0/24, local routes for the target prefixes.

function createLab(opts, truth) {
  const id = randomBytes(3).toString("hex");
  // Not "moat-<6 hex>-role": that pattern belongs to test/lab, whose sweep would remove a namespace
  // it does not own while this benchmark runs.
  const srv = `moat-bench-${id}-scansrv`;
  const cli = `moat-bench-${id}-scancli`;
  const devCli = `vs${id}a`;
  const devSrv = `vs${id}b`;
  const ip = (...a) => execFileSync("ip", a, { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const inNs = (ns, argv, input) =>
    execFileSync("ip", ["netns", "exec", ns, ...argv], {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      input,
    }).toString();
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of [srv, cli]) {
      try {
        for (const pid of ip("netns", "pids", ns).split("\n").filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {}
        }
      } catch {}
      try {
        ip("netns", "del", ns);
      } catch {}
    }
  };
  const lab = { id, srv, cli, devCli, devSrv, destroy, inNs, serverMac: "" };
  ip("netns", "add", srv);
  ip("netns", "add", cli);
  for (const ns of [srv, cli]) ip("-n", ns, "link", "set", "lo", "up");
  ip("link", "add", devCli, "netns", cli, "type", "veth", "peer", "name", devSrv, "netns", srv);
  ip("-n", cli, "addr", "add", `${CLIENT_IP}/24`, "dev", devCli);
  ip("-n", srv, "addr", "add", `${SERVER_IP}/24`, "dev", devSrv);
  ip("-n", cli, "link", "set", devCli, "up");
  ip("-n", srv, "link", "set", devSrv, "up");
  for (const prefix of opts.prefixes) {
    // A local route, not an address: every address of the prefix is the server's own (an address
    // with a /24 would make .0 and .255 special).
    ip("-n", srv, "route", "add", "local", prefix, "dev", "lo");
    ip("-n", cli, "route", "add", prefix, "via", SERVER_IP);
  }
  lab.serverMac = inNs(srv, ["cat", `/sys/class/net/${devSrv}/address`]).trim();
  if (!opts.icmpRatelimit) {
    // One namespace stands for all the hosts; each real host has its own ICMP budget per sender, but
    // here the kernel's per-sender limit would be shared by all of them. Off: every closed port says so.
    inNs(srv, ["sysctl", "-qw", "net.ipv4.icmp_ratemask=0"]);
  }
  // Silent hosts (a dropping firewall) and the throughput run's extra ports (dropped everywhere).
  const silent = truth.addresses.filter((a) => truth.role.get(a) === "silent");
  const ruleset = `table inet moatbench {
  set silent { type ipv4_addr; elements = { ${silent.join(", ")} } }
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr @silent meta l4proto udp drop
    udp dport ${BIG_PORT_BASE}-${BIG_PORT_BASE + 9999} drop
  }
}
`;
  inNs(srv, ["nft", "-f", "-"], ruleset);
  return lab;
}

/**
 * memcached (UDP on) bound to each open address (a wildcard socket would answer from 192.0.2.2), as
 * many daemons as it takes for ADDRESSES_PER_MEMCACHED each.
 */
async function startMemcached(lab, truth) {
  const open = truth.addresses.filter((a) => truth.role.get(a) === "open");
  const children = [];
  let err = "";
  for (let i = 0; i < open.length; i += ADDRESSES_PER_MEMCACHED) {
    const some = open.slice(i, i + ADDRESSES_PER_MEMCACHED);
    const argv = ["memcached", "-u", "nobody", "-l", some.join(","), "-p", "11211", "-U", "11211"];
    argv.push("-t", "2", "-m", "16", "-c", "4096");
    const child = spawn("ip", ["netns", "exec", lab.srv, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.setEncoding("utf8").on("data", (c) => {
      err += c;
    });
    children.push(child);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listening = lab
      .inNs(lab.srv, ["ss", "-Hlun", "sport", "=", ":11211"])
      .split("\n")
      .filter((l) => l.trim() !== "").length;
    if (listening === open.length) return children;
    const exited = children.find((c) => c.exitCode !== null);
    if (exited) throw new Error(`memcached exited ${exited.exitCode}: ${err.slice(0, 500)}`);
    if (Date.now() > deadline)
      throw new Error(`memcached: ${listening}/${open.length} UDP sockets after 10 s: ${err.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Running and parsing the scanners.

const running = new Set();

/** Runs argv under /usr/bin/time: wall ms (measured here), user+system CPU seconds, stdout. */
function timed(argv, scratch) {
  const timeFile = join(scratch, "time");
  const full = [TIME, "-f", "%U %S", "-o", timeFile, ...argv];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(full[0], full.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    const out = [];
    let err = "";
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      running.delete(child);
      if (code !== 0) return reject(new Error(`${argv.join(" ")} exited ${code}: ${err.slice(-2000)}`));
      const [user, sys] = readFileSync(timeFile, "utf8").trim().split("\n").pop().split(" ").map(Number);
      resolve({ ms, cpuS: user + sys, stdout: Buffer.concat(out).toString("utf8") });
    });
  });
}

/** Map "ip:port" -> state from moat's JSON lines. */
function parseMoat(stdout) {
  const states = new Map();
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const r = JSON.parse(line);
    if (r.protocol === "udp") states.set(`${r.ip}:${r.port}`, r.state);
  }
  return states;
}

/** Map "ip:port" -> state from nmap's grepable output (-oG -). */
function parseNmap(stdout) {
  const states = new Map();
  for (const line of stdout.split("\n")) {
    const m = /^Host: (\S+) .*\tPorts: (.*?)(\t|$)/.exec(line);
    if (m === null) continue;
    for (const entry of m[2].split(", ")) {
      const [port, state, proto] = entry.split("/");
      if (proto === "udp") states.set(`${m[1]}:${port}`, state);
    }
  }
  return states;
}

/** Map "ip:port" -> "open" from masscan's list output (-oL -): it reports nothing else for UDP. */
function parseMasscan(stdout) {
  const states = new Map();
  for (const line of stdout.split("\n")) {
    const [status, proto, port, ip] = line.split(" ");
    if (status === "open" && proto === "udp") states.set(`${ip}:${port}`, "open");
  }
  return states;
}

/** Recall and false positives against the lab's truth, and how many closed ports were seen closed. */
function score(states, truthOpen, truthClosed) {
  let found = 0;
  let falsePositives = 0;
  let closedSeen = 0;
  for (const [key, state] of states) {
    if (state === "open") {
      if (truthOpen.has(key)) found++;
      else falsePositives++;
    }
    if (state === "closed" && truthClosed.has(key)) closedSeen++;
  }
  return { recall: found / truthOpen.size, found, falsePositives, closedSeen };
}

// ---------------------------------------------------------------------------------------------

function printTable(title, rows) {
  const head = [
    "tool",
    "runs",
    "probes",
    "median ms",
    "min ms",
    "max ms",
    "probes/s",
    "CPU s",
    "probes/CPU-s",
    "recall",
    "false pos",
    "closed seen",
  ];
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const body = rows.map((r) => {
    const wall = stats(r.ms);
    const cpu = stats(r.cpu).median;
    const minRecall = Math.min(...r.scores.map((s) => s.recall));
    const minFound = Math.min(...r.scores.map((s) => s.found));
    const maxFp = Math.max(...r.scores.map((s) => s.falsePositives));
    const closed = r.tracksClosed
      ? `${Math.min(...r.scores.map((s) => s.closedSeen))}/${r.truthClosed}`
      : "n/a";
    return [
      r.name,
      String(r.ms.length),
      fmt(r.probes),
      ...["median", "min", "max"].map((k) => fmt(wall[k])),
      fmt((r.probes / wall.median) * 1000),
      cpu.toFixed(2),
      fmt(r.probes / cpu),
      `${(minRecall * 100).toFixed(1)}% (${minFound}/${r.truthOpen})`,
      String(maxFp),
      closed,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root (network namespaces, nftables, raw sockets): run with sudo");
    process.exit(3);
  }
  const tools = ["ip", "nft", "memcached", "nmap", ...(opts.masscan ? ["masscan"] : [])];
  for (const tool of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      console.error(`bench: ${tool} missing: sudo bash scripts/install-test-deps.sh (or --no-masscan)`);
      process.exit(3);
    }
  }
  if (!existsSync(TIME)) {
    console.error(`bench: ${TIME} missing (Debian package "time"): sudo bash scripts/install-test-deps.sh`);
    process.exit(3);
  }
  if (opts.build) {
    console.error("bench: building dist/ (npm run build)");
    execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  }
  const CLI = opts.cli;
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: build failed or --no-build without a build`);

  const truth = groundTruth(opts);
  const PREFIXES = opts.prefixes;
  const scratch = mkdtempSync(join(tmpdir(), "moat-bench-scan-"));
  let lab;
  const teardown = () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch {}
    }
    lab?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  };
  process.on("exit", teardown);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ])
    process.once(signal, () => process.exit(code));

  try {
    lab = createLab(opts, truth);
    await startMemcached(lab, truth);
    const scope = join(scratch, "scope.txt");
    writeFileSync(scope, `${PREFIXES.join("\n")}\n`);

    const truthOpen = new Set(
      truth.addresses.filter((a) => truth.role.get(a) === "open").map((a) => `${a}:11211`),
    );
    const truthClosed = new Set();
    for (const a of truth.addresses) {
      const role = truth.role.get(a);
      if (role === "silent") continue;
      for (const p of PORTS) if (!(role === "open" && p === 11211)) truthClosed.add(`${a}:${p}`);
    }
    const probes = truth.addresses.length * PORTS.length;
    const inCli = (argv) => ["ip", "netns", "exec", lab.cli, ...argv];
    const udpList = PORTS.join(",");

    const moatArgv = inCli([
      process.execPath,
      CLI,
      "scan",
      ...PREFIXES,
      "--ports",
      PORTS.map((p) => `${p}/udp`).join(","),
      "--allow-special",
      "--scope",
      scope,
      "--rate",
      "max",
      "--json",
    ]);
    const nmapBase = ["nmap", "-sU", "-n", "-Pn", "-T4", "--max-retries", "1", "-p", udpList, "-oG", "-"];
    const rows = [
      { name: "moat scan --rate max", argv: moatArgv, parse: parseMoat, tracksClosed: true },
      {
        // nmap -T4's waits: it adapts its timeout to the measured round trip (microseconds here) but
        // never below its --min-rtt-timeout of 100 ms, per attempt. moat's default retries after
        // 20 ms and calls a port silent 100 ms after its first attempt.
        name: "moat scan --rate max --min-timeout 100",
        argv: [...moatArgv, "--min-timeout", "100"],
        parse: parseMoat,
        tracksClosed: true,
      },
      {
        name: "nmap -sU -T4 --max-retries 1",
        argv: inCli([...nmapBase, ...PREFIXES]),
        parse: parseNmap,
        tracksClosed: true,
      },
      {
        name: `nmap -sU -T4 --max-retries 1 --min-rate ${opts.nmapMinRate}`,
        argv: inCli([...nmapBase, "--min-rate", String(opts.nmapMinRate), ...PREFIXES]),
        parse: parseNmap,
        tracksClosed: true,
      },
    ];
    if (opts.masscan) {
      rows.push({
        name: `masscan --rate ${opts.masscanRate} --wait 1`,
        argv: inCli([
          "masscan",
          ...PREFIXES,
          `-pU:${PORTS.join(",U:")}`,
          "--rate",
          String(opts.masscanRate),
          "--wait",
          "1",
          "--adapter",
          lab.devCli,
          "--adapter-ip",
          CLIENT_IP,
          "--router-mac",
          lab.serverMac,
          "-oL",
          "-",
        ]),
        parse: parseMasscan,
        tracksClosed: false,
        masscan: true,
      });
    }
    for (const r of rows)
      Object.assign(r, { probes, truthOpen: truthOpen.size, truthClosed: truthClosed.size });
    for (const r of rows) Object.assign(r, { ms: [], cpu: [], scores: [] });

    // The throughput run: moat alone, one pass (--retries 0), the addresses x (11211 + N-1 dropped
    // ports); with more addresses, fewer ports (the same number of probes as 512 x --big-ports).
    const bigPortCount = Math.max(2, Math.round((opts.bigPorts * 512) / truth.addresses.length));
    const bigPorts = [11211, ...Array.from({ length: bigPortCount - 1 }, (_, i) => BIG_PORT_BASE + i)];
    const bigRow = {
      name: `moat scan --rate max --retries 0 (${bigPorts.length} ports)`,
      argv: inCli([
        process.execPath,
        CLI,
        "scan",
        ...PREFIXES,
        "--ports",
        `11211/udp,${BIG_PORT_BASE}-${BIG_PORT_BASE + bigPortCount - 2}/udp`,
        "--allow-special",
        "--scope",
        scope,
        "--rate",
        "max",
        "--retries",
        "0",
        "--json",
      ]),
      parse: parseMoat,
      tracksClosed: false,
      probes: truth.addresses.length * bigPorts.length,
      truthOpen: truthOpen.size,
      truthClosed: 0,
      ms: [],
      cpu: [],
      scores: [],
    };

    // masscan's receive thread blocks in libpcap until a packet arrives, so after its --wait it
    // can hang (masscan issue #144); a lab-internal datagram every 50 ms to the client wakes it.
    const ticker = () => {
      const code =
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" +
        `while True:\n  s.sendto(b'x',('${CLIENT_IP}',9))\n  time.sleep(0.05)\n`;
      const child = spawn("ip", ["netns", "exec", lab.srv, "python3", "-c", code], { stdio: "ignore" });
      running.add(child);
      return () => {
        child.kill("SIGKILL");
        running.delete(child);
      };
    };

    const all = [...rows, bigRow];
    for (let run = 0; run < opts.runs; run++) {
      // Rotate who goes first so no tool always meets a fresh (or a just-busy) lab.
      const order = all.map((_, i) => all[(i + run) % all.length]);
      for (const row of order) {
        const stopTicker = row.masscan ? ticker() : () => {};
        let result;
        try {
          result = await timed(row.argv, scratch);
        } finally {
          stopTicker();
        }
        row.ms.push(result.ms);
        row.cpu.push(result.cpuS);
        const states = row.parse(result.stdout);
        if (row === bigRow) {
          const expected = bigRow.probes;
          if (states.size !== expected)
            throw new Error(`${row.name}: ${states.size} results, want ${expected}`);
        }
        row.scores.push(score(states, truthOpen, truthClosed));
        // Let the lab drain (late replies, conntrack-free but sockets and softirq) before the next tool.
        await new Promise((r) => setTimeout(r, 300));
      }
      console.error(`bench: run ${run + 1}/${opts.runs} done`);
    }

    const silent = truth.addresses.filter((a) => truth.role.get(a) === "silent").length;
    printTable(
      `${truth.addresses.length} addresses (${PREFIXES.join(", ")}) x ${PORTS.length} UDP ports (${udpList}) = ${probes} probes; ` +
        `truth: ${truthOpen.size} open memcached, ${truthClosed.size} closed, ${silent * PORTS.length} silent (${silent} dropped hosts); ` +
        `ICMP rate limit ${opts.icmpRatelimit ? "kernel default" : "off"}; ${opts.runs} interleaved runs`,
      rows,
    );
    for (const moat of rows.slice(0, 2))
      for (const r of rows.slice(2))
        console.log(
          `speed ${moat.name} vs ${r.name}: ${(stats(r.ms).median / stats(moat.ms).median).toFixed(1)}x ` +
            "(ratio of median wall times; > 1 = moat faster)",
        );
    printTable(
      `throughput, moat alone: ${truth.addresses.length} addresses x ${bigPorts.length} UDP ports = ` +
        `${bigRow.probes.toLocaleString("en-US")} probes (11211 + ${bigPorts.length - 1} dropped ports), --retries 0, ` +
        "adaptive timeout (20 ms floor, silent 100 ms after the first attempt)",
      [bigRow],
    );
    const big = stats(bigRow.ms).median;
    const bigCpu = stats(bigRow.cpu).median;
    const perS = (n) => Math.round(n).toLocaleString("en-US");
    console.log(
      `moat at --rate max: ${perS((bigRow.probes / big) * 1000)} probes/s of wall time (start-up and the ` +
        `final wait included), ${perS(bigRow.probes / bigCpu)} probes per CPU-second (user + system of the one moat process)`,
    );
  } finally {
    teardown();
  }
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
