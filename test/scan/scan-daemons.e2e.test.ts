/**
 * `moat scan` from a `client` namespace against every real reflector daemon the lab runs in a `server`
 * namespace: each service is found with its probe's fields, amplification and severity; the closed
 * resolver is open but not abusable; memcached with UDP off shows 11211/udp closed; ports with nothing
 * listening are never open; behind the linux-unneeded-ports filter nothing is open (and all is open
 * again once it is removed); forged replies with wrong cookies during a scan change nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runMoat } from "../helpers/moat.js";
import { QUOTE } from "../lab/daemons/xinetd.js";
import { createLab, daemonSkipReason, type Lab, labSkipReason, type ScanDaemonKind } from "../lab/lab.js";
import { FORGED_MARKERS, type ForgerStats, startForger } from "./helpers/forger.js";

const KINDS: ScanDaemonKind[] = ["dnsmasq", "unbound", "ntpd", "xinetd", "rpcbind", "snmpd"];
const skip = labSkipReason() ?? KINDS.map(daemonSkipReason).find((reason) => reason !== undefined);

/** The server's end of link 0, and the client's. */
const SERVER = "192.0.2.1";
const CLIENT = "192.0.2.2";
/** A second server address on its lo, for the daemons that would clash with SERVER's (53, 11211). */
const SERVER_B = "192.0.2.11";
const SERVER_V6 = "2001:db8:1::1";
/** A python listener that binds and never answers: UDP silence a scanner cannot tell from a filter. */
const SILENT = 4444;

const SERVER_PORTS =
  "11211/udp,53/udp,123/udp,19/udp,17/udp,111/udp,161/udp,4444/udp," +
  "11211/tcp,53/tcp,19/tcp,17/tcp,111/tcp,4444/tcp";
const SERVER_B_PORTS = "11211/udp,53/udp,11211/tcp,53/tcp";
const V6_PORTS = "53/udp,53/tcp";
/** Nothing listens on these, on either address. */
const EMPTY_PORTS = "1000-1099/udp,1000-1099/tcp";

/**
 * Payload bytes of each probe's request: the smallest that identifies the service. SNMP's request id
 * is a BER INTEGER holding the random 16-bit cookie, 1 to 3 bytes long (the reply echoes it).
 */
const REQUEST_BYTES: Record<string, number[]> = {
  memcached: [15],
  "dns-recursion": [29],
  "ntp-version": [12],
  chargen: [1],
  qotd: [2],
  portmap: [40],
  snmp: [40, 41, 42],
};
/** memcached stats that change between two scans (and the reply's byte count with them). */
const VOLATILE = new Set(["uptime", "time", "curr_connections", "total_connections"]);

interface Row {
  ip: string;
  protocol: "tcp" | "udp";
  port: number;
  state: string;
  service: string | null;
  severity: string;
  requestBytes: number;
  responseBytes: number;
  amplification: number | null;
  fields: Record<string, unknown>;
  packetRatio: number | null;
  probe: string | null;
  abusable: boolean | null;
  note: string | null;
  unparseable: boolean;
}

interface Scan {
  rows: Row[];
  stderr: string;
  /** "192.0.2.1 udp/11211" -> row. */
  at(ip: string, spec: string): Row;
}

const key = (r: Pick<Row, "ip" | "protocol" | "port">) => `${r.ip} ${r.protocol}/${r.port}`;

/** `moat scan ... --json` inside `ns`, as a user there would run it. */
async function scanFrom(ns: string, target: string, ports: string): Promise<Scan> {
  const args = ["scan", target, "--allow-special", "--ports", ports, "--json", "--timeout", "500"];
  const result = await runMoat(args, { netns: ns, timeoutMs: 30_000 });
  assert.equal(result.code, 0, `moat ${args.join(" ")} in ${ns}: exit ${result.code}\n${result.stderr}`);
  const rows = result.jsonLines<Row>();
  const byKey = new Map(rows.map((r) => [key(r), r]));
  return {
    rows,
    stderr: result.stderr,
    at(ip, spec) {
      const row = byKey.get(`${ip} ${spec}`);
      assert.ok(row, `no result for ${ip} ${spec} in ${result.stdout}`);
      return row;
    },
  };
}

/** The three scans of the services, run at once (different sockets, different targets). */
async function scanServices(ns: string): Promise<Scan> {
  const parts = await Promise.all([
    scanFrom(ns, SERVER, SERVER_PORTS),
    scanFrom(ns, SERVER_B, SERVER_B_PORTS),
    scanFrom(ns, SERVER_V6, V6_PORTS),
  ]);
  const rows = parts.flatMap((p) => p.rows);
  const byKey = new Map(rows.map((r) => [key(r), r]));
  return {
    rows,
    stderr: parts.map((p) => p.stderr).join(""),
    at(ip, spec) {
      const row = byKey.get(`${ip} ${spec}`);
      assert.ok(row, `no result for ${ip} ${spec}`);
      return row;
    },
  };
}

/**
 * What two scans of the same daemons must agree on. Left out: memcached's live counters (and so its
 * byte count, checked apart); SNMP's sizes depend on the cookie's length, but the reply adds a fixed
 * number of bytes to the request.
 */
function comparable(r: Row): Record<string, unknown> {
  const fields = Object.fromEntries(Object.entries(r.fields).filter(([k]) => !VOLATILE.has(k)));
  if (r.probe === "memcached") return { ...r, fields, responseBytes: null, amplification: null };
  if (r.probe === "snmp")
    return {
      ...r,
      fields,
      requestBytes: null,
      responseBytes: r.responseBytes - r.requestBytes,
      amplification: null,
    };
  return { ...r, fields };
}

/** Datagrams the scans counted as matching no request (their warnings on stderr, summed). */
function strayCount(stderr: string): number {
  return [...stderr.matchAll(/(\d+) datagrams matched no request/g)].reduce((n, m) => n + Number(m[1]), 0);
}

describe("moat scan against every real reflector daemon", { skip }, () => {
  let lab: Lab;
  let client = "";
  let stateDir = "";
  /** The clean scan of every service, taken once the lab is up. */
  let clean: Scan;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "moat-scan-daemons-"));
    lab = await createLab({
      namespaces: [
        {
          role: "server",
          addresses: [`${SERVER_B}/32`],
          daemons: [
            { kind: "memcached", name: "mc-udp", listen: SERVER, tcpPort: 11211, udpPort: 11211 },
            { kind: "memcached", name: "mc-udp-off", listen: SERVER_B, tcpPort: 11211, udpPort: 0 },
            { kind: "dnsmasq", name: "open-resolver", listen: SERVER },
            { kind: "dnsmasq", name: "open-resolver-v6", listen: SERVER_V6 },
            { kind: "unbound", name: "closed-resolver", listen: SERVER_B },
            { kind: "ntpd", name: "ntpd", listen: SERVER },
            { kind: "xinetd", name: "inetd", listen: SERVER },
            { kind: "rpcbind", name: "portmap", listen: SERVER },
            { kind: "snmpd", name: "snmpd", listen: SERVER },
            {
              kind: "listener",
              name: "silent",
              sockets: [
                { protocol: "udp", address: SERVER, port: SILENT },
                { protocol: "tcp", address: SERVER, port: SILENT },
              ],
            },
          ],
        },
        { role: "client" },
      ],
      links: [["server", "client"]],
    });
    client = lab.ns("client");
    clean = await scanServices(client);
  });

  after(async () => {
    await lab?.destroy();
    if (stateDir !== "") rmSync(stateDir, { recursive: true, force: true });
  });

  it("finds every UDP reflector open, with its probe's fields, amplification and severity", () => {
    const memcached = clean.at(SERVER, "udp/11211");
    assert.equal(memcached.state, "open");
    assert.equal(memcached.service, "memcached");
    assert.equal(memcached.probe, "memcached");
    assert.match(String(memcached.fields.version), /^1\.6\.\d+$/);
    assert.equal(typeof memcached.fields.uptime, "number");
    assert.equal(memcached.fields.pid, lab.daemon("mc-udp").pid);
    assert.equal(memcached.fields.datagrams, memcached.packetRatio);
    assert.equal(memcached.fields.missing_datagrams, 0);
    assert.ok(memcached.amplification !== null && memcached.amplification > 50, `${memcached.amplification}`);

    const dns = clean.at(SERVER, "udp/53");
    assert.equal(dns.service, "dns");
    assert.equal(dns.probe, "dns-recursion");
    assert.equal(dns.fields.ra, true, "recursion available");
    assert.equal(dns.fields.rcode, "NOERROR");
    assert.deepEqual(dns.fields.addresses, ["192.0.2.80"]);
    assert.match(String(dns.fields.version), /^dnsmasq-2\.\d+/, "version.bind");

    const dns6 = clean.at(SERVER_V6, "udp/53");
    assert.equal(dns6.state, "open");
    assert.equal(dns6.abusable, true);
    assert.deepEqual(dns6.fields.addresses, ["192.0.2.80"]);

    const ntp = clean.at(SERVER, "udp/123");
    assert.equal(ntp.service, "ntp");
    assert.equal(ntp.probe, "ntp-version", "mode 6 answers");
    assert.match(String(ntp.fields.version), /^ntpd ntpsec-\d/);
    assert.equal(ntp.fields.stratum, 16);
    // NTPsec has no mode 7: monlist gets silence, so none of its fields and no reflector verdict.
    assert.equal("entries" in ntp.fields, false, "monlist must not answer");
    assert.equal(ntp.abusable, false);
    assert.notEqual(ntp.severity, "critical");

    const chargen = clean.at(SERVER, "udp/19");
    assert.equal(chargen.service, "chargen");
    assert.equal(chargen.fields.printable, true);
    assert.equal(chargen.fields.length, chargen.responseBytes);
    assert.ok(chargen.responseBytes >= 512, `chargen gave ${chargen.responseBytes} bytes`);

    const qotd = clean.at(SERVER, "udp/17");
    assert.equal(qotd.service, "qotd");
    assert.equal(qotd.fields.quote, QUOTE);
    assert.equal(qotd.fields.length, Buffer.byteLength(`${QUOTE}\r\n`));
    assert.equal(qotd.responseBytes, Buffer.byteLength(`${QUOTE}\r\n`));

    const portmap = clean.at(SERVER, "udp/111");
    assert.equal(portmap.service, "rpcbind");
    assert.equal(portmap.fields.accept_stat, "SUCCESS");
    const programs = portmap.fields.programs as string[];
    assert.ok(programs.includes("100000 portmapper v2 udp 111"), JSON.stringify(programs));
    assert.equal(portmap.fields.program_count, programs.length);

    const snmp = clean.at(SERVER, "udp/161");
    assert.equal(snmp.service, "snmp");
    assert.equal(snmp.fields.community, "public");
    // snmpd's default sysDescr is uname: the same kernel in every namespace.
    assert.match(String(snmp.fields.sysDescr), /^Linux /);
    assert.ok(String(snmp.fields.sysDescr).includes(release()), String(snmp.fields.sysDescr));

    for (const r of [memcached, dns, dns6, ntp, chargen, qotd, portmap, snmp]) {
      const what = key(r);
      assert.equal(r.state, "open", what);
      assert.equal(r.unparseable, false, what);
      assert.ok(
        REQUEST_BYTES[r.probe ?? ""]?.includes(r.requestBytes),
        `${what}: ${r.requestBytes} request bytes from ${r.probe}`,
      );
      assert.ok(r.responseBytes > r.requestBytes, `${what}: ${r.responseBytes} <= ${r.requestBytes}`);
      assert.ok(r.amplification !== null && r.amplification > 1, `${what}: amplification ${r.amplification}`);
      assert.equal(r.amplification, Math.round((r.responseBytes / r.requestBytes) * 100) / 100, what);
      assert.ok(r.packetRatio !== null && r.packetRatio >= 1, what);
      if (r !== ntp) {
        assert.equal(r.abusable, true, `${what}: an abusable reflector`);
        assert.equal(r.severity, "critical", `${what}: an open reflector is critical`);
      }
    }
  });

  it("finds the TCP side of the daemons open, and the silent UDP listener open|filtered", () => {
    for (const [ip, port, service] of [
      [SERVER, 11211, "memcached"],
      [SERVER, 53, "dns"],
      [SERVER, 19, "chargen"],
      [SERVER, 17, "qotd"],
      [SERVER, 111, "rpcbind"],
      [SERVER_B, 11211, "memcached"],
      [SERVER_B, 53, "dns"],
      [SERVER_V6, 53, "dns"],
    ] as const) {
      const r = clean.at(ip, `tcp/${port}`);
      assert.equal(r.state, "open", key(r));
      assert.equal(r.service, service, key(r));
      assert.equal(r.amplification, null, key(r));
      if (service === "memcached") {
        assert.equal(r.probe, "tcp-memcached", key(r));
        assert.match(String(r.fields.version), /^1\.6\.\d+$/, key(r));
      }
    }
    assert.equal(clean.at(SERVER, `tcp/${SILENT}`).state, "open");
    // A bound socket that never answers: no ICMP, no reply; UDP cannot tell it from a filter.
    const silent = clean.at(SERVER, `udp/${SILENT}`);
    assert.equal(silent.state, "open|filtered");
    assert.equal(silent.amplification, null);
    assert.equal(silent.responseBytes, 0);
  });

  it("the closed resolver (unbound) is open but not abusable: recursion refused", () => {
    const r = clean.at(SERVER_B, "udp/53");
    assert.equal(r.state, "open");
    assert.equal(r.service, "dns");
    assert.equal(r.probe, "dns-recursion");
    assert.equal(r.abusable, false);
    assert.equal(r.fields.rcode, "REFUSED");
    assert.equal(r.fields.ra, false);
    assert.deepEqual(r.fields.addresses, []);
    assert.notEqual(r.severity, "critical");
    // REFUSED is a bare header: smaller than the question, so no amplification.
    assert.ok(r.amplification !== null && r.amplification < 1, `amplification ${r.amplification}`);
  });

  it("memcached with UDP off (-U 0): 11211/udp closed, TCP still open", () => {
    const udp = clean.at(SERVER_B, "udp/11211");
    assert.equal(udp.state, "closed");
    assert.equal(udp.service, null);
    assert.equal(udp.responseBytes, 0);
    assert.equal(udp.amplification, null);
    assert.equal(clean.at(SERVER_B, "tcp/11211").state, "open");
    const open = clean.rows.filter((r) => r.state === "open").map(key);
    assert.equal(open.filter((k) => k === `${SERVER_B} udp/11211`).length, 0);
  });

  it("a flood of forged replies with wrong cookies during a scan changes nothing", async (t) => {
    const forger = await startForger(lab.ns("server"), CLIENT, [SERVER, SERVER_B]);
    let forged: Scan;
    let stats: ForgerStats;
    try {
      forged = await scanServices(client);
    } finally {
      stats = await forger.stop();
    }
    // The forger saw the requests and answered them, and the scanner received (and ignored) forgeries.
    const stray = strayCount(forged.stderr);
    t.diagnostic(`forger: ${JSON.stringify(stats)}; the scans ignored ${stray} stray datagrams`);
    assert.ok(stats.requests >= 10, JSON.stringify(stats));
    assert.ok(stats.forged >= 100, JSON.stringify(stats));
    assert.ok(stats.sprayed >= 200, JSON.stringify(stats));
    assert.ok(stray > strayCount(clean.stderr), forged.stderr);

    const output = JSON.stringify(forged.rows);
    for (const marker of FORGED_MARKERS)
      assert.equal(output.includes(marker), false, `${marker} in ${output}`);
    const sorted = (s: Scan) => [...s.rows].sort((a, b) => key(a).localeCompare(key(b))).map(comparable);
    assert.deepEqual(sorted(forged), sorted(clean));
    // memcached's stats text grows or shrinks by a few digits between two scans; a forgery adds ~60.
    const mc = (s: Scan) => s.at(SERVER, "udp/11211").responseBytes;
    assert.ok(Math.abs(mc(forged) - mc(clean)) < 16, `memcached ${mc(clean)} -> ${mc(forged)} bytes`);
  });

  it("behind moat filter apply (linux-unneeded-ports) nothing is open; removed, all open again", async (t) => {
    const t0 = performance.now();
    const env = { MOAT_STATE_DIR: stateDir };
    const made = await runMoat([
      "filter",
      "new",
      "--preset",
      "linux-unneeded-ports",
      "--set",
      "admin=198.51.100.0/24",
      "--set",
      "ntp=198.51.100.123",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const file = join(stateDir, "deny.yaml");
    writeFileSync(file, made.stdout);
    const server = lab.ns("server");
    const applied = await runMoat(["filter", "apply", file, "--netns", server, "--confirm", "0"], { env });
    assert.equal(applied.code, 0, `${applied.stdout}${applied.stderr}`);

    const t1 = performance.now();
    let filtered: Scan;
    try {
      filtered = await scanServices(client);
      t.diagnostic(
        `filter new + apply ${Math.round(t1 - t0)} ms, scan behind it ${Math.round(performance.now() - t1)} ms`,
      );
    } finally {
      const removed = await runMoat(["filter", "remove", "--netns", server], { env });
      assert.equal(removed.code, 0, `${removed.stdout}${removed.stderr}`);
    }

    for (const r of filtered.rows) {
      if (r.ip === SERVER_V6) continue; // the preset covers IPv4 only (the cloud filter's limit)
      // Dropped without a word: TCP times out (filtered), UDP is silent (open|filtered).
      assert.equal(r.state, r.protocol === "tcp" ? "filtered" : "open|filtered", key(r));
      assert.equal(r.responseBytes, 0, key(r));
    }
    // "IPv6 passes it unfiltered", as the preset says.
    assert.equal(filtered.at(SERVER_V6, "udp/53").state, "open");

    const again = await scanServices(client);
    const states = (s: Scan) => s.rows.map((r) => `${key(r)} ${r.state} ${r.service}`).sort();
    assert.deepEqual(states(again), states(clean));
  });

  // Last: its 200 closed UDP ports use up the server's ICMP budget toward the client (a burst of 6,
  // then 1/s), which the other scans need for memcached's closed 11211/udp.
  it("ports with nothing listening are never reported open", async () => {
    const [a, b] = await Promise.all([
      scanFrom(client, SERVER, EMPTY_PORTS),
      scanFrom(client, SERVER_B, EMPTY_PORTS),
    ]);
    const rows = [...a.rows, ...b.rows];
    assert.equal(rows.length, 400);
    assert.deepEqual(rows.filter((r) => r.state === "open").map(key), [], "false positives");
    for (const r of rows) {
      // TCP: a reset every time. UDP: ICMP port unreachable, rate-limited per peer by the server's
      // kernel (a burst of 6, then 1/s), so most stay open|filtered: never open.
      if (r.protocol === "tcp") assert.equal(r.state, "closed", key(r));
      else assert.ok(r.state === "closed" || r.state === "open|filtered", `${key(r)}: ${r.state}`);
      assert.equal(r.responseBytes, 0, key(r));
    }
  });
});
