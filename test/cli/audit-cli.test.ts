import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMoat } from "../helpers/moat.js";

const fixture = (name: string) => `test/host/fixtures/ss/${name}`;

describe("moat audit from ss text", () => {
  it("--json follows the output contract", async () => {
    const r = await runMoat(["audit", "--ss", fixture("modern-tulpn.txt"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = r.json<{
      host: string;
      source: string;
      summary: Record<string, number>;
      findings: { protocol: string; port: number; severity: string; exposure: string }[];
    }>();
    assert.equal(report.source, `ss:${fixture("modern-tulpn.txt")}`);
    assert.deepEqual(Object.keys(report.summary), ["critical", "high", "medium", "low", "info"]);
    assert.equal(report.findings.length, 5);
    const udp = report.findings.find((f) => f.protocol === "udp" && f.port === 11211)!;
    assert.equal(udp.severity, "critical");
  });

  it("reads stdin with --ss -", async () => {
    const r = await runMoat(["audit", "--ss", "-", "--format", "csv"], {
      input:
        "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\nudp UNCONN 0 0 0.0.0.0:123 0.0.0.0:*\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split("\r\n")[1]!, /^\w+,udp,ipv4,0\.0\.0\.0,123,all,exposed,ntp,/);
  });

  it("--fail-on sets the exit code", async () => {
    const high = await runMoat(["audit", "--ss", fixture("modern-tulpn.txt"), "--fail-on", "critical"]);
    assert.equal(high.code, 1);
    const loopbackOnly = await runMoat(["audit", "--ss", "-", "--fail-on", "low"], {
      input:
        "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\ntcp LISTEN 0 5 127.0.0.1:6379 0.0.0.0:*\n",
    });
    assert.equal(loopbackOnly.code, 0, loopbackOnly.stderr);
    assert.match(loopbackOnly.stdout, /Nothing on this host is open to other networks/);
  });
});

describe("moat audit with bad input", () => {
  it("a malformed ss file: exit 2, file and line named, no stack trace", async () => {
    const bad = join(tmpdir(), `moat-bad-ss-${process.pid}.txt`);
    writeFileSync(
      bad,
      "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\ntcp LISTEN 0 5 999.1.1.1:80 *:*\n",
    );
    const r = await runMoat(["audit", "--ss", bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${bad}:2`));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("a missing file: exit 2", async () => {
    const r = await runMoat(["audit", "--ss", "/nonexistent/ss.txt"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/nonexistent\/ss\.txt/);
  });

  it("two sources at once, an unknown format, an unknown flag: exit 2 with a message", async () => {
    for (const args of [
      ["audit", "--ss", "x", "--all-netns"],
      ["audit", "--format", "xml"],
      ["audit", "--bogus"],
      ["audit", "--fail-on", "severe"],
    ]) {
      const r = await runMoat(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.ok(r.stderr.length > 0, args.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  it("a copied /proc tree that is not one: exit 2 naming the directory", async () => {
    const r = await runMoat(["audit", "--proc-root", tmpdir()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(tmpdir()));
  });
});

describe("help", () => {
  it("moat --help and moat audit --help explain themselves", async () => {
    const main = await runMoat(["--help"]);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /Exit status:/);
    assert.match(main.stdout, /audit/);
    const audit = await runMoat(["audit", "--help"]);
    assert.equal(audit.code, 0);
    assert.match(audit.stdout, /--fail-on <level>/);
    assert.match(audit.stdout, /UNCONN|unconnected UDP/);
  });
});
