/**
 * `moat audit` end to end against real daemons in lab namespaces, checked against the output
 * contract of DESIGN.md. The CLI runs as a child process, exactly as a user runs it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { parseCsv } from "../helpers/csv.js";
import { type MoatResult, runMoat } from "../helpers/moat.js";
import {
  createLab,
  type Endpoint,
  endpointKey,
  familyOf,
  type Lab,
  type LabSpec,
  labSkipReason,
} from "./lab.js";

const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;

/** The contract, as a schema: a renamed or retyped field fails here with its path. */
const FindingSchema = z.object({
  protocol: z.enum(["tcp", "udp"]),
  family: z.enum(["ipv4", "ipv6"]),
  address: z.string(),
  port: z.number().int().min(0).max(65535),
  scope: z.enum(["all", "public", "private", "loopback", "link-local"]),
  netns: z.string().nullable(),
  process: z.object({ name: z.string(), pid: z.number().int(), unit: z.string().nullable() }).nullable(),
  service: z.object({ id: z.string(), name: z.string() }).nullable(),
  exposure: z.enum(["exposed", "restricted", "blocked", "local"]),
  severity: z.enum(SEVERITIES),
  risks: z.array(z.unknown()),
  reasons: z.array(z.string()),
  fix: z.array(z.string()),
});
const ReportSchema = z.object({
  host: z.string().min(1),
  generatedAt: z.string(),
  source: z.string().min(1),
  summary: z.object({
    critical: z.number().int(),
    high: z.number().int(),
    medium: z.number().int(),
    low: z.number().int(),
    info: z.number().int(),
  }),
  findings: z.array(FindingSchema),
});
type Report = z.infer<typeof ReportSchema>;
type Finding = z.infer<typeof FindingSchema>;

const OPEN: Endpoint[] = [
  { protocol: "tcp", address: "0.0.0.0", port: 11211 },
  { protocol: "udp", address: "0.0.0.0", port: 11211 },
];
/** Ports no catalog entry should claim: "something nobody meant to expose". */
const UNKNOWN: Endpoint[] = [
  { protocol: "tcp", address: "0.0.0.0", port: 47001 },
  { protocol: "udp", address: "0.0.0.0", port: 47002 },
];
const V6: Endpoint = { protocol: "tcp", address: "::", port: 47003 };

const SPEC: LabSpec = {
  namespaces: [
    {
      role: "server",
      daemons: [
        { kind: "memcached", name: "mc-open", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 },
        { kind: "memcached", name: "mc-local", listen: "127.0.0.1", tcpPort: 11311, udpPort: 0 },
        { kind: "memcached", name: "mc-sasl", listen: "0.0.0.0", tcpPort: 11212, udpPort: 0, sasl: true },
        { kind: "listener", name: "unknown", sockets: UNKNOWN },
        { kind: "listener", name: "v6", sockets: [V6] },
      ],
    },
    {
      role: "quiet",
      daemons: [{ kind: "memcached", name: "mc-quiet", listen: "127.0.0.1", tcpPort: 11211, udpPort: 0 }],
    },
    { role: "client" },
  ],
  links: [["server", "client"]],
};

function parseReport(result: MoatResult): Report {
  const parsed = ReportSchema.safeParse(result.json());
  if (!parsed.success) assert.fail(`report breaks the contract: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function key(f: Pick<Finding, "protocol" | "address" | "port">): string {
  return endpointKey({ protocol: f.protocol, address: f.address, port: f.port });
}

function findingAt(report: Report, e: Endpoint, netns?: string): Finding {
  const matches = report.findings.filter(
    (f) => key(f) === endpointKey(e) && (netns === undefined || f.netns === netns),
  );
  assert.equal(matches.length, 1, `want one finding for ${endpointKey(e)}, got ${matches.length}`);
  return matches[0]!;
}

function expectOk(result: MoatResult, codes: number[] = [0]): void {
  assert.ok(
    result.code !== null && codes.includes(result.code),
    `exit ${result.code}, want ${codes.join("|")}\nstderr: ${result.stderr.slice(0, 2000)}`,
  );
}

describe("moat audit against the lab", { skip: labSkipReason() }, () => {
  let lab: Lab;
  let server: string;
  let quiet: string;
  let pending: Promise<Report> | undefined;
  /** The --netns --json run, done once and shared; each test that needs it fails on its own. */
  const serverReport = (): Promise<Report> => {
    pending ??= runMoat(["audit", "--netns", server, "--json"]).then((result) => {
      expectOk(result);
      return parseReport(result);
    });
    return pending;
  };

  before(async () => {
    lab = await createLab(SPEC);
    server = lab.ns("server");
    quiet = lab.ns("quiet");
  });
  after(async () => {
    await lab?.destroy();
  });

  test("report header: host, ISO time, source naming the namespace, summary = counts", async () => {
    const report = await serverReport();
    assert.ok(!Number.isNaN(Date.parse(report.generatedAt)), `generatedAt ${report.generatedAt}`);
    assert.match(report.generatedAt, /^\d{4}-\d\d-\d\dT/);
    assert.ok(report.source.includes(server), `source "${report.source}" does not name ${server}`);
    for (const severity of SEVERITIES) {
      const count = report.findings.filter((f) => f.severity === severity).length;
      assert.equal(report.summary[severity], count, `summary.${severity}`);
    }
  });

  test("one finding per lab socket, no more, each labelled with the namespace", async () => {
    const report = await serverReport();
    const want = lab.daemons.filter((d) => d.role === "server").flatMap((d) => d.endpoints.map(endpointKey));
    assert.deepEqual(report.findings.map(key).sort(), want.sort());
    for (const f of report.findings) assert.equal(f.netns, server, `${key(f)} netns`);
  });

  test("memcached on 0.0.0.0 with UDP on: every field of the UDP finding", async () => {
    const report = await serverReport();
    const f = findingAt(report, OPEN[1]!);
    const pid = lab.daemon("mc-open").pid;
    assert.equal(f.protocol, "udp");
    assert.equal(f.family, "ipv4");
    assert.equal(f.address, "0.0.0.0");
    assert.equal(f.port, 11211);
    assert.equal(f.scope, "all");
    assert.equal(f.netns, server);
    assert.equal(f.process?.name, "memcached");
    assert.equal(f.process?.pid, pid);
    assert.equal(f.service?.id, "memcached");
    assert.match(f.service?.name ?? "", /memcached/i);
    assert.equal(f.exposure, "exposed");
    assert.equal(f.severity, "critical");
    assert.ok(f.risks.length > 0, "no risks listed");
    // Three separate reasons: each is one thing to act on.
    const udp = f.reasons.findIndex((r) => /\bUDP\b/.test(r));
    const all = f.reasons.findIndex((r) => /all addresses|0\.0\.0\.0/i.test(r));
    const sasl = f.reasons.findIndex((r) => /SASL/.test(r));
    assert.ok(udp >= 0 && all >= 0 && sasl >= 0, `reasons: ${JSON.stringify(f.reasons)}`);
    assert.equal(
      new Set([udp, all, sasl]).size,
      3,
      `UDP, all-addresses and SASL share a reason: ${f.reasons}`,
    );
    assert.ok(
      f.fix.some((s) => s.includes("-U 0")),
      `fix lacks -U 0: ${JSON.stringify(f.fix)}`,
    );
    assert.ok(
      f.fix.some((s) => s.includes("-l 127.0.0.1")),
      `fix lacks -l 127.0.0.1: ${JSON.stringify(f.fix)}`,
    );
    assert.ok(
      f.fix.some((s) => /systemctl restart memcached/.test(s)),
      `fix lacks a restart: ${JSON.stringify(f.fix)}`,
    );
  });

  test("memcached on 0.0.0.0, TCP: exposed, same process, at least high", async () => {
    const report = await serverReport();
    const f = findingAt(report, OPEN[0]!);
    assert.equal(f.family, "ipv4");
    assert.equal(f.scope, "all");
    assert.equal(f.exposure, "exposed");
    assert.equal(f.service?.id, "memcached");
    assert.equal(f.process?.name, "memcached");
    assert.equal(f.process?.pid, lab.daemon("mc-open").pid);
    assert.ok(["critical", "high"].includes(f.severity), `severity ${f.severity}`);
    assert.ok(f.fix.some((s) => s.includes("-l 127.0.0.1")));
  });

  test("memcached on 127.0.0.1 only: loopback, local, info", async () => {
    const report = await serverReport();
    const f = findingAt(report, { protocol: "tcp", address: "127.0.0.1", port: 11311 });
    assert.equal(f.scope, "loopback");
    assert.equal(f.exposure, "local");
    assert.equal(f.severity, "info");
    assert.equal(f.service?.id, "memcached");
    assert.equal(f.process?.pid, lab.daemon("mc-local").pid);
  });

  test("memcached with SASL and UDP off: no reason claims SASL is off or UDP is on", async () => {
    const report = await serverReport();
    const f = findingAt(report, { protocol: "tcp", address: "0.0.0.0", port: 11212 });
    assert.equal(f.service?.id, "memcached");
    assert.equal(f.exposure, "exposed");
    assert.equal(f.process?.pid, lab.daemon("mc-sasl").pid);
    for (const r of f.reasons) {
      assert.doesNotMatch(r, /SASL[^.]*\b(off|disabled)\b|no -S/i, r);
      assert.doesNotMatch(r, /UDP is on/i, r);
    }
  });

  test("listener on [::]: family ipv6, scope all, exposed", async () => {
    const report = await serverReport();
    const f = findingAt(report, V6);
    assert.equal(f.family, "ipv6");
    assert.equal(f.address, "::");
    assert.equal(f.scope, "all");
    assert.equal(f.exposure, "exposed");
    assert.equal(f.process?.name, "python3");
    assert.equal(f.process?.pid, lab.daemon("v6").pid);
  });

  test("unknown services on all addresses are findings, TCP and UDP", async () => {
    const report = await serverReport();
    for (const e of UNKNOWN) {
      const f = findingAt(report, e);
      assert.equal(f.service, null, `${endpointKey(e)} matched ${f.service?.id}`);
      assert.equal(f.scope, "all");
      assert.equal(f.exposure, "exposed");
      assert.equal(f.family, familyOf(e.address));
      assert.equal(f.process?.pid, lab.daemon("unknown").pid);
      assert.notEqual(f.severity, "info", "an unknown program open to all is worth a look");
      assert.ok(f.reasons.length > 0, "no reason given");
    }
  });

  test("--all-netns sees every lab socket exactly once, in its own namespace", async () => {
    const result = await runMoat(["audit", "--all-netns", "--json"]);
    expectOk(result);
    const all = parseReport(result);
    for (const daemon of lab.daemons) {
      for (const e of daemon.endpoints) {
        const hits = all.findings.filter((f) => key(f) === endpointKey(e) && f.netns === daemon.netns);
        assert.equal(hits.length, 1, `${daemon.netns} ${endpointKey(e)} seen ${hits.length} times`);
        assert.equal(hits[0]!.process?.pid, daemon.pid);
      }
    }
    const ours = all.findings.filter((f) => f.netns?.startsWith(`moat-${lab.id}-`));
    assert.equal(
      ours.length,
      lab.daemons.flatMap((d) => d.endpoints).length,
      "extra findings in lab namespaces",
    );
  });

  test("--fail-on: high exits 1 on the open server, critical exits 0 with only a loopback daemon", async () => {
    const high = await runMoat(["audit", "--netns", server, "--json", "--fail-on", "high"]);
    expectOk(high, [1]);
    const quietRun = await runMoat(["audit", "--netns", quiet, "--json", "--fail-on", "critical"]);
    expectOk(quietRun, [0]);
    const quietReport = parseReport(quietRun);
    assert.equal(quietReport.findings.length, 1);
    assert.equal(quietReport.findings[0]!.exposure, "local");
    const quietHigh = await runMoat(["audit", "--netns", quiet, "--fail-on", "low"]);
    expectOk(quietHigh, [0]);
  });

  test("an unknown namespace is a usage error (exit 2) naming it and the ones that exist", async () => {
    const result = await runMoat(["audit", "--netns", `moat-${lab.id}-nosuch`, "--json"]);
    expectOk(result, [2]);
    assert.match(result.stderr, new RegExp(`moat-${lab.id}-nosuch`));
    assert.match(result.stderr, new RegExp(`existing: .*${server}`));
  });

  test("table output: the summary line and the fix commands", async () => {
    const report = await serverReport();
    const result = await runMoat(["audit", "--netns", server]);
    expectOk(result);
    const s = report.summary;
    const summary = `${s.critical} critical, ${s.high} high, ${s.medium} medium, ${s.low} low, ${s.info} info`;
    assert.ok(result.stdout.includes(summary), `no "${summary}" in\n${result.stdout}`);
    assert.ok(!result.stdout.includes("\x1b["), "colour codes without a terminal");
    for (const needle of ["-U 0", "-l 127.0.0.1", "systemctl restart memcached", "memcached", "11211"]) {
      assert.ok(result.stdout.includes(needle), `table lacks "${needle}"`);
    }
  });

  test("--format csv: a header, one well-formed row per finding", async () => {
    const report = await serverReport();
    const result = await runMoat(["audit", "--netns", server, "--format", "csv"]);
    expectOk(result);
    const [header, ...rows] = parseCsv(result.stdout).filter((r) => r.some((c) => c !== ""));
    assert.ok(header, "empty CSV");
    for (const column of ["severity", "protocol", "address", "port", "scope", "exposure"]) {
      assert.ok(header.includes(column), `CSV header lacks ${column}: ${header.join(",")}`);
    }
    assert.equal(rows.length, report.findings.length);
    for (const row of rows) assert.equal(row.length, header.length, `ragged row: ${row.join(",")}`);
    const col = (name: string) => header.indexOf(name);
    const udp = rows.find((r) => r[col("protocol")] === "udp" && r[col("port")] === "11211");
    assert.equal(udp?.[col("severity")], "critical");
    assert.equal(udp?.[col("address")], "0.0.0.0");
  });

  test("--format markdown: a table with a row per exposed finding and the fixes", async () => {
    const report = await serverReport();
    const result = await runMoat(["audit", "--netns", server, "--format", "markdown"]);
    expectOk(result);
    const lines = result.stdout.split("\n");
    const sep = lines.findIndex((l) => /^\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(l));
    assert.ok(sep > 0, "no markdown table separator");
    const width = (l: string) => l.replace(/\\\|/g, "").split("|").length;
    assert.equal(width(lines[sep - 1]!), width(lines[sep]!), "header and separator differ in columns");
    const end = lines.findIndex((l, i) => i > sep && !l.startsWith("|"));
    const body = lines.slice(sep + 1, end === -1 ? undefined : end);
    for (const row of body) assert.equal(width(row), width(lines[sep]!), `ragged row: ${row}`);
    const exposed = report.findings.filter((f) => f.exposure === "exposed").length;
    assert.ok(body.length >= exposed, `${body.length} rows for ${exposed} exposed findings`);
    assert.ok(result.stdout.includes("systemctl restart memcached"));
  });
});
