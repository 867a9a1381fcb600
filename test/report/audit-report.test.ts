import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { summarize } from "../../src/audit/classify.js";
import type { AuditReport, Finding } from "../../src/audit/types.js";
import { renderAuditCsv, renderAuditJson, renderAuditMarkdown } from "../../src/report/audit-formats.js";
import { renderAuditTable } from "../../src/report/audit-table.js";
import { csvField } from "../../src/report/csv.js";
import { colors, wantColor } from "../../src/report/style.js";
import { parseCsv } from "../helpers/csv.js";

const memcachedFix = [
  "Bind memcached to loopback and turn UDP off.",
  "In /etc/memcached.conf set -l 127.0.0.1",
  "systemctl restart memcached.service",
];

function finding(overrides: Partial<Finding>): Finding {
  return {
    protocol: "tcp",
    family: "ipv4",
    address: "0.0.0.0",
    port: 11211,
    scope: "all",
    netns: null,
    process: { name: "memcached", pid: 5088, unit: "memcached.service" },
    service: { id: "memcached", name: "memcached" },
    exposure: "exposed",
    severity: "high",
    risks: [],
    reasons: ["It listens on all IPv4 addresses (0.0.0.0)."],
    fix: memcachedFix,
    ...overrides,
  };
}

function report(findings: Finding[]): AuditReport {
  return {
    host: "web1",
    generatedAt: "2026-11-23T10:00:00.000Z",
    source: "procfs",
    summary: summarize(findings),
    findings,
    warnings: [],
  };
}

const sample = report([
  finding({ protocol: "udp", severity: "critical", reasons: ["UDP is on (11211/udp)", "SASL is off"] }),
  finding({}),
  finding({
    port: 5353,
    address: "127.0.0.1",
    scope: "loopback",
    exposure: "local",
    severity: "info",
    service: null,
    process: null,
    fix: [],
    reasons: ["It is bound to loopback"],
  }),
  finding({
    port: 4444,
    family: "ipv6",
    address: "::",
    severity: "medium",
    service: null,
    process: { name: "python3", pid: 77, unit: null },
    fix: ["Find out what this program is, and whether it must be reachable.", "ls -l /proc/77/exe"],
    reasons: ["No service Moat knows uses 4444/tcp, its reason has a | pipe, and a, comma"],
  }),
]);

describe("audit table", () => {
  const plain = renderAuditTable(sample, { colors: colors(false), all: false });

  it("opens with one summary line counting every severity", () => {
    assert.equal(
      plain.split("\n")[0],
      "web1: 4 listening sockets, 3 open to other networks — 1 critical, 1 high, 1 medium, 0 low, 1 info.",
    );
  });

  it("lists findings most severe first, with their reasons under them", () => {
    const lines = plain.split("\n");
    const critical = lines.findIndex((l) => l.startsWith("CRITICAL"));
    const high = lines.findIndex((l) => l.startsWith("HIGH"));
    const medium = lines.findIndex((l) => l.startsWith("MEDIUM"));
    assert.ok(critical > 0 && critical < high && high < medium);
    assert.match(lines[critical + 1]!, /UDP is on/);
    assert.match(lines[medium]!, /\[::\]/);
  });

  it("hides local-only sockets unless --all, and says so", () => {
    assert.doesNotMatch(plain, /5353/);
    assert.match(plain, /1 local-only socket not shown/);
    const all = renderAuditTable(sample, { colors: colors(false), all: true });
    assert.match(all, /INFO +5353\/tcp/);
    assert.doesNotMatch(all, /not shown/);
  });

  it("prints one fix block per distinct fix, commands marked with $", () => {
    assert.equal(plain.match(/systemctl restart memcached.service/g)?.length, 1);
    assert.match(plain, /memcached \(11211\/udp, 11211\/tcp\)/);
    assert.match(plain, /\$ systemctl restart memcached.service/);
    assert.match(plain, /\$ ls -l \/proc\/77\/exe/);
  });

  it("has no escape codes without colour and some with it", () => {
    assert.doesNotMatch(plain, new RegExp(String.fromCharCode(27)));
    assert.match(
      renderAuditTable(sample, { colors: colors(true), all: false }),
      new RegExp(String.fromCharCode(27)),
    );
  });

  it("says so when nothing is open", () => {
    const quiet = renderAuditTable(report([sample.findings[2]!]), { colors: colors(false), all: false });
    assert.match(quiet, /Nothing on this host is open to other networks/);
  });
});

describe("colour choice", () => {
  it("follows the terminal and NO_COLOR", () => {
    assert.equal(wantColor({ isTTY: true }, {}), true);
    assert.equal(wantColor({ isTTY: false }, {}), false);
    assert.equal(wantColor({ isTTY: true }, { NO_COLOR: "1" }), false);
  });
});

describe("audit json", () => {
  it("keeps the fields of the output contract", () => {
    const parsed = JSON.parse(renderAuditJson(sample));
    assert.deepEqual(Object.keys(parsed).slice(0, 5), [
      "host",
      "generatedAt",
      "source",
      "summary",
      "findings",
    ]);
    assert.deepEqual(parsed.summary, { critical: 1, high: 1, medium: 1, low: 0, info: 1 });
    for (const key of ["protocol", "family", "address", "port", "scope", "process", "service", "exposure"]) {
      assert.ok(key in parsed.findings[0], key);
    }
  });
});

describe("audit csv", () => {
  it("writes a header and one row per finding, lists joined in one cell", () => {
    const rows = parseCsv(renderAuditCsv(sample));
    assert.equal(rows.length, 5);
    assert.equal(rows[0]![0], "severity");
    const medium = rows.find((r) => r[4] === "4444")!;
    assert.equal(medium[13], "No service Moat knows uses 4444/tcp, its reason has a | pipe, and a, comma");
  });

  it("any text survives a round trip through one field", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), (fields) => {
        const line = `${fields.map(csvField).join(",")}\r\n`;
        assert.deepEqual(parseCsv(line), [fields]);
      }),
    );
  });
});

describe("audit markdown", () => {
  it("escapes pipes in cells and puts commands in a shell block", () => {
    const md = renderAuditMarkdown(sample);
    assert.match(md, /^# Moat audit of web1/);
    assert.match(md, /```sh\nsystemctl restart memcached.service\n```/);
    for (const line of md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---"))) {
      assert.equal(line.replaceAll("\\|", "").split("|").length, 8, line);
    }
  });
});
