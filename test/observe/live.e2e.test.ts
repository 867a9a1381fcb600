/**
 * `moat observe live` end to end, the built CLI against real tcpdump: a telescope namespace owns an
 * unused prefix (203.0.113.0/24 and 2001:db8:7::/48 as blackhole routes, no forwarding, so nothing
 * answers) and a scanner namespace joined to it by a veth sends known traffic at it: UDP datagrams
 * from a python3 sender (several source addresses, IPv4 and IPv6) and an nmap SYN scan whose
 * --packet-trace says what it sent. moat runs inside the telescope on its veth; the store's totals
 * per port must equal what was sent. While it runs, `moat observe ingests` reads the same store
 * from another process; tcpdump is killed and must be started again; SIGTERM ends it with exit 0.
 * Fatal starts (no such interface, no tcpdump) exit 3 and leave an existing store as it was.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI_BUILT, type MoatResult, moatArgv, runMoat } from "../helpers/moat.js";
import { toolMissing } from "../helpers/skip.js";
import { createLab, type Lab, labSkipReason } from "../lab/lab.js";
import { fixture } from "./capture-helpers.js";

interface Ingest {
  id: number;
  source: string;
  kind: string;
  packets: number;
  complete: boolean;
}

interface PortTotal {
  protocol: string;
  port: number | null;
  packets: number;
  sources: number;
}

/** Packets per "proto/port" and the distinct sources they came from. */
type Sent = Map<string, { packets: number; sources: Set<string> }>;

function addSent(into: Sent, protocol: string, port: number, source: string, packets: number): void {
  const key = `${protocol}/${port}`;
  const entry = into.get(key) ?? { packets: 0, sources: new Set<string>() };
  entry.packets += packets;
  entry.sources.add(source);
  into.set(key, entry);
}

function mergeSent(...parts: Sent[]): Sent {
  const out: Sent = new Map();
  for (const part of parts)
    for (const [key, { packets, sources }] of part) {
      const [protocol, port] = key.split("/");
      for (const source of sources) addSent(out, protocol!, Number(port), source, 0);
      out.get(key)!.packets += packets;
    }
  return out;
}

const total = (sent: Sent) => [...sent.values()].reduce((n, e) => n + e.packets, 0);

/**
 * Other work in the same checkout runs `npm run build`, which deletes dist/ and writes it again: a CLI
 * started in that second finds no module. Such runs are repeated (and counted); nothing else is.
 */
let distRetries = 0;
const distMissing = (stderr: string) => /Cannot find module '[^']*\/dist\/cli\//.test(stderr);

async function moat(args: string[]): Promise<MoatResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await runMoat(args, { built: true });
    if (!distMissing(result.stderr) || attempt === 20) return result;
    distRetries++;
    await sleep(500);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One datagram plan line: from src to dst:port, `count` times, with this payload. */
interface Datagram {
  src: string;
  dst: string;
  port: number;
  count: number;
  payloadHex: string;
}

// Sends each line's datagrams from a socket bound to its source; prints how many sendto() accepted.
const SENDER_PY = `
import json, socket, sys
sent = []
for d in json.loads(sys.argv[1]):
    family = socket.AF_INET6 if ":" in d["dst"] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((d["src"], 0))
    n = 0
    for _ in range(d["count"]):
        if s.sendto(bytes.fromhex(d["payloadHex"]), (d["dst"], d["port"])) > 0:
            n += 1
    s.close()
    sent.append(n)
print(json.dumps(sent))
`;

const MEMCACHED_STATS = Buffer.from("\x00\x01\x00\x00\x00\x01\x00\x00stats\r\n", "latin1").toString("hex");
const SSDP = Buffer.from(
  'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n\r\n',
).toString("hex");

describe("moat observe live in the lab", {
  skip: labSkipReason() ?? toolMissing("tcpdump") ?? toolMissing("nmap"),
}, () => {
  let lab: Lab;
  let scanner: string;
  let telescope: string;
  let telescopeDev: string;
  let dir: string;
  const children: ChildProcess[] = [];
  /** How often `moat observe ingests` found the store held by live's commit (and was retried). */
  let busyRetries = 0;
  let ingestsReads = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "moat-live-e2e-"));
    lab = await createLab({
      namespaces: [{ role: "scanner" }, { role: "telescope" }],
      links: [["scanner", "telescope"]],
    });
    scanner = lab.ns("scanner");
    telescope = lab.ns("telescope");
    const scannerDev = `v${lab.id}-0a`;
    telescopeDev = `v${lab.id}-0b`;
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    // The telescope: the prefix is routed to it and dropped there without a word.
    ip(
      "netns",
      "exec",
      telescope,
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=0",
      "net.ipv6.conf.all.forwarding=0",
    );
    ip("-n", telescope, "route", "add", "blackhole", "203.0.113.0/24");
    ip("-n", telescope, "-6", "route", "add", "blackhole", "2001:db8:7::/48");
    ip("-n", scanner, "route", "add", "203.0.113.0/24", "via", "192.0.2.2");
    ip("-n", scanner, "-6", "route", "add", "2001:db8:7::/48", "via", "2001:db8:1::2");
    // More sources than the link's own address, so unique sources per port are known and > 1.
    for (const a of ["192.0.2.10/24", "192.0.2.11/24"])
      ip("-n", scanner, "addr", "add", a, "dev", scannerDev);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(
      `moat observe ingests: ${ingestsReads} reads while live ran, ${busyRetries} retried (store busy); ` +
        `${distRetries} CLI runs repeated while dist/ was being rebuilt`,
    );
  });

  /** `moat observe live` inside the telescope namespace, its stderr kept to wait on. */
  function spawnLive(db: string) {
    const args = ["observe", "live", "-i", telescopeDev, "--db", db];
    args.push("--commit-every", "1", "--lateness", "0", "--buckets", "1m");
    // `ip netns exec` execs in place: the pid is moat's own.
    const child = spawn("ip", ["netns", "exec", telescope, process.execPath, ...moatArgv(args, true)], {
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdout!.resume();
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    return {
      child,
      exited,
      stderr: () => stderr,
      /** Until stderr matches, or fail naming what moat said. */
      async waitFor(pattern: RegExp, what: string): Promise<void> {
        for (const deadline = Date.now() + 30_000; !pattern.test(stderr); await sleep(50)) {
          if (child.exitCode !== null || Date.now() > deadline)
            assert.fail(`moat observe live: no ${what} (exit ${child.exitCode}); stderr:\n${stderr}`);
        }
      },
    };
  }

  /** A live capture that has started (tcpdump delivered its header); again if dist/ was mid-rebuild. */
  async function startLive(db: string): Promise<ReturnType<typeof spawnLive>> {
    for (let attempt = 0; ; attempt++) {
      const live = spawnLive(db);
      try {
        await live.waitFor(/tcpdump is capturing on /, "capture start");
        return live;
      } catch (error) {
        await live.exited;
        if (!distMissing(live.stderr()) || attempt === 20) throw error;
        distRetries++;
        await sleep(500);
      }
    }
  }

  /** `moat observe ingests --json` from another process, retried when live holds the store. */
  async function readIngests(db: string): Promise<Ingest[]> {
    for (;;) {
      const result = await moat(["observe", "ingests", "--db", db, "--json"]);
      ingestsReads++;
      if (result.code === 0)
        return result.stdout
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as Ingest);
      // DuckDB lets one process write or several read: a read that falls in a commit is told so.
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /open in another moat process/);
      busyRetries++;
      await sleep(100);
    }
  }

  /** Until live's committed packet count is at least `min` and held still over two commits. */
  async function waitCounted(db: string, min: number): Promise<number> {
    let last = -1;
    let lastAt = 0;
    for (const deadline = Date.now() + 30_000; ; await sleep(300)) {
      const [ingest] = await readIngests(db);
      const packets = ingest?.packets ?? 0;
      if (packets >= min && packets === last && Date.now() - lastAt > 2_100) return packets;
      if (packets !== last) {
        last = packets;
        lastAt = Date.now();
      }
      if (Date.now() > deadline) assert.fail(`live counted ${packets} packets, expected at least ${min}`);
    }
  }

  function sendUdp(plan: Datagram[]): Sent {
    const out = execFileSync(
      "ip",
      ["netns", "exec", scanner, "python3", "-c", SENDER_PY, JSON.stringify(plan)],
      {
        encoding: "utf8",
      },
    );
    const counts = JSON.parse(out) as number[];
    const sent: Sent = new Map();
    for (const [i, d] of plan.entries()) addSent(sent, "udp", d.port, d.src, counts[i]!);
    return sent;
  }

  /** nmap SYN scan from the scanner; what it sent, from its own --packet-trace. */
  function nmapSyn(ports: string, targets: string[], ipv6 = false): Sent {
    const args = [
      "netns",
      "exec",
      scanner,
      "nmap",
      "-n",
      "-Pn",
      "-sS",
      "--max-retries",
      "0",
      "-T4",
      "--packet-trace",
    ];
    if (ipv6) args.push("-6");
    const out = execFileSync("ip", [...args, "-p", ports, ...targets], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    const sent: Sent = new Map();
    for (const line of out.split("\n")) {
      const m = /^SENT \([\d.]+s\) TCP \[?([0-9a-f.:]+?)\]?:\d+ > \[?([0-9a-f.:]+?)\]?:(\d+) S /.exec(line);
      if (m) addSent(sent, "tcp", Number(m[3]), m[1]!, 1);
    }
    assert.ok(sent.size > 0, `nmap sent no SYN that --packet-trace showed:\n${out.slice(0, 2000)}`);
    return sent;
  }

  async function report(db: string): Promise<PortTotal[]> {
    const result = await moat(["observe", "report", "--db", db, "--bucket", "1m", "--json", "--top", "1000"]);
    assert.equal(result.code, 0, result.stderr);
    return result.json<{ ports: PortTotal[] }>().ports;
  }

  /** TCP and UDP ports in the report are exactly the ones sent to, with the packets and sources sent. */
  function assertTotals(ports: PortTotal[], sent: Sent): void {
    const got = new Map(
      ports
        .filter((p) => p.protocol === "tcp" || p.protocol === "udp")
        .map((p) => [`${p.protocol}/${p.port}`, p]),
    );
    assert.deepEqual([...got.keys()].sort(), [...sent.keys()].sort());
    for (const [key, want] of sent) {
      assert.equal(got.get(key)!.packets, want.packets, `${key} packets`);
      assert.equal(got.get(key)!.sources, want.sources.size, `${key} sources`);
    }
  }

  async function stop(live: ReturnType<typeof spawnLive>, db: string): Promise<Ingest> {
    live.child.kill("SIGTERM");
    const { code, signal } = await live.exited;
    assert.equal(code, 0, `exit ${code} ${signal}; stderr:\n${live.stderr()}`);
    const ingests = await readIngests(db);
    assert.equal(ingests.length, 1);
    assert.equal(ingests[0]!.kind, "live");
    assert.equal(ingests[0]!.source, `live:${telescopeDev}`);
    assert.equal(ingests[0]!.complete, true, "the ingest is complete after SIGTERM");
    return ingests[0]!;
  }

  test("counts per port what the scanner sent; the store is readable while it runs; SIGTERM ends it", {
    timeout: 180_000,
  }, async () => {
    const db = join(dir, "counts.duckdb");
    const live = await startLive(db);
    const before = (await readIngests(db))[0]?.packets ?? 0;

    const udp = sendUdp([
      { src: "192.0.2.1", dst: "203.0.113.5", port: 11211, count: 17, payloadHex: MEMCACHED_STATS },
      { src: "192.0.2.10", dst: "203.0.113.6", port: 11211, count: 9, payloadHex: MEMCACHED_STATS },
      { src: "192.0.2.11", dst: "203.0.113.7", port: 11211, count: 4, payloadHex: MEMCACHED_STATS },
      { src: "192.0.2.10", dst: "203.0.113.8", port: 1900, count: 6, payloadHex: SSDP },
      { src: "2001:db8:1::1", dst: "2001:db8:7::5", port: 53, count: 5, payloadHex: "00" },
    ]);
    const syn4 = nmapSyn("22,23,445", ["203.0.113.16", "203.0.113.17", "203.0.113.18"]);
    const syn6 = nmapSyn("80,443", ["2001:db8:7::10", "2001:db8:7::11"], true);
    const sent = mergeSent(udp, syn4, syn6);
    const counted = await waitCounted(db, before + total(sent));
    assert.ok(counted >= total(sent));

    const ingest = await stop(live, db);
    assert.ok(ingest.packets >= total(sent), `stored ${ingest.packets} packets, sent ${total(sent)}`);
    assert.match(live.stderr(), /stopped: [\d,]+ packets in \d+ commits, tcpdump started 1 time\(s\)/);
    assertTotals(await report(db), sent);
    console.log(
      `sent ${[...sent].map(([k, v]) => `${k}=${v.packets}/${v.sources.size}src`).join(" ")}; stored all`,
    );
  });

  test("tcpdump killed while live runs: logged, started again, traffic after it counted too", {
    timeout: 180_000,
  }, async () => {
    const db = join(dir, "restart.duckdb");
    const live = await startLive(db);
    const pid = live.child.pid!;
    assert.ok(
      execFileSync("ip", ["netns", "pids", telescope], { encoding: "utf8" })
        .split("\n")
        .includes(String(pid)),
      "moat runs in the telescope namespace",
    );
    const first = sendUdp([
      { src: "192.0.2.1", dst: "203.0.113.20", port: 11211, count: 12, payloadHex: MEMCACHED_STATS },
      { src: "192.0.2.10", dst: "203.0.113.21", port: 1900, count: 3, payloadHex: SSDP },
    ]);
    await waitCounted(db, total(first));

    // tcpdump is moat's child (in the telescope namespace too): kill it as the OOM killer would.
    const tcpdumps = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter((child) => readFileSync(`/proc/${child}/comm`, "utf8").trim() === "tcpdump");
    assert.equal(tcpdumps.length, 1, "one tcpdump child");
    process.kill(tcpdumps[0]!, "SIGKILL");
    await live.waitFor(/tcpdump stopped \(killed by SIGKILL\); starting it again/, "restart message");
    await live.waitFor(/tcpdump is capturing on \S+ \(run 2\)/, "second capture");

    const second = sendUdp([
      { src: "192.0.2.11", dst: "203.0.113.22", port: 11211, count: 7, payloadHex: MEMCACHED_STATS },
      { src: "2001:db8:1::1", dst: "2001:db8:7::9", port: 123, count: 4, payloadHex: "1b".padEnd(96, "0") },
    ]);
    const sent = mergeSent(first, second);
    await waitCounted(db, total(sent));

    await stop(live, db);
    assert.match(live.stderr(), /tcpdump started 2 time\(s\)/);
    assertTotals(await report(db), sent);
  });

  test("fatal starts exit 3 and leave the store as it was", { timeout: 120_000 }, async () => {
    const db = join(dir, "fatal.duckdb");
    const ingest = await moat(["observe", "ingest", "--db", db, fixture("ethernet.pcap")]);
    assert.equal(ingest.code, 0, ingest.stderr);
    const snapshot = async () => {
      const ingests = await moat(["observe", "ingests", "--db", db, "--json"]);
      const rep = await moat(["observe", "report", "--db", db, "--bucket", "1m", "--json"]);
      assert.equal(ingests.code, 0, ingests.stderr);
      assert.equal(rep.code, 0, rep.stderr);
      return { ingests: ingests.stdout, report: rep.stdout };
    };
    const beforeRuns = await snapshot();

    const args = ["observe", "live", "--db", db, "--commit-every", "1"];
    // In the telescope namespace, where no interface of that name exists.
    const noIf = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(
        "ip",
        ["netns", "exec", telescope, process.execPath, CLI_BUILT, ...args, "-i", "does-not-exist"],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      children.push(c);
      let stderr = "";
      c.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      c.once("close", (code) => resolve({ code, stderr }));
    });
    assert.equal(noIf.code, 3, noIf.stderr);
    assert.match(noIf.stderr, /tcpdump could not capture on does-not-exist/);
    assert.match(noIf.stderr, /fix: check the interface name/);

    const noTool = await moat([...args, "-i", "lo", "--tcpdump", join(dir, "nonexistent")]);
    assert.equal(noTool.code, 3, noTool.stderr);
    assert.match(noTool.stderr, /nonexistent/);
    assert.match(noTool.stderr, /fix: install tcpdump/);

    assert.deepEqual(await snapshot(), beforeRuns);
  });
});
