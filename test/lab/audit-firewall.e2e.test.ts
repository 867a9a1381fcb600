/**
 * `moat audit` judges exposure through the firewall of the namespace it audits (real nftables in a
 * lab namespace) and through a declared packet filter file (`--filter`).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runMoat } from "../helpers/moat.js";
import { nftLabSkipReason } from "../helpers/skip.js";
import { createLab, type Lab } from "./lab.js";

interface Finding {
  protocol: string;
  address: string;
  port: number;
  exposure: string;
  severity: string;
  reasons: string[];
}

// Only inside the lab namespace: memcached's TCP port from the admin network only, its UDP port from
// nowhere, everything else accepted.
const RULESET = `table inet guard {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 11211 ip saddr 203.0.113.0/24 accept
    tcp dport 11211 drop
    udp dport 11211 drop
  }
}
`;

describe("moat audit through firewalls", { skip: nftLabSkipReason() }, () => {
  let lab: Lab;
  let ns: string;
  let dir: string;
  const audit = async (...extra: string[]): Promise<Finding[]> => {
    const result = await runMoat(["audit", "--netns", ns, "--json", ...extra]);
    assert.equal(result.code, 0, result.stderr);
    return result.json<{ findings: Finding[] }>().findings;
  };
  const find = (findings: Finding[], protocol: string, port: number) =>
    findings.find((f) => f.protocol === protocol && f.port === port)!;

  before(async () => {
    lab = await createLab({
      namespaces: [
        {
          role: "server",
          daemons: [{ kind: "memcached", name: "mc", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 }],
        },
      ],
    });
    ns = lab.ns("server");
    dir = mkdtempSync(join(tmpdir(), "moat-fw-"));
  });
  after(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("with no rules, memcached is exposed and the reason says nothing stops it", async () => {
    const udp = find(await audit(), "udp", 11211);
    assert.equal(udp.exposure, "exposed");
    assert.equal(udp.severity, "critical");
    assert.ok(
      udp.reasons.some((r) => /Reachable from anywhere: the host firewall has no rules for it/.test(r)),
    );
  });

  test("nftables rules in the namespace make TCP restricted and UDP blocked", async () => {
    const file = join(dir, "guard.nft");
    writeFileSync(file, RULESET);
    execFileSync("ip", ["netns", "exec", ns, "nft", "-f", file]);
    try {
      const findings = await audit();
      const tcp = find(findings, "tcp", 11211);
      assert.equal(tcp.exposure, "restricted");
      assert.ok(
        tcp.reasons.some((r) => r.startsWith("Reachable only from 203.0.113.0/24;")),
        tcp.reasons.join("\n"),
      );
      assert.equal(tcp.severity, "medium");
      const udp = find(findings, "udp", 11211);
      assert.equal(udp.exposure, "blocked");
      assert.equal(udp.severity, "low");
      assert.ok(udp.reasons.some((r) => /blocks it from every source/.test(r)));
      // --no-firewall judges by the bind address alone again
      assert.equal(find(await audit("--no-firewall"), "udp", 11211).exposure, "exposed");
    } finally {
      execFileSync("ip", ["netns", "exec", ns, "nft", "delete", "table", "inet", "guard"]);
    }
  });

  test("--filter: the advisory's preset in front of the NIC blocks memcached over IPv4", async () => {
    const preset = await runMoat([
      "filter",
      "new",
      "--preset",
      "linux-unneeded-ports",
      "--set",
      "admin=203.0.113.0/24",
      "--set",
      "ntp=192.0.2.123",
    ]);
    assert.equal(preset.code, 0, preset.stderr);
    const file = join(dir, "web.yaml");
    writeFileSync(file, preset.stdout);
    const findings = await audit("--filter", file);
    for (const protocol of ["tcp", "udp"]) {
      const f = find(findings, protocol, 11211);
      assert.equal(f.exposure, "blocked", `${protocol}: ${f.reasons.join("\n")}`);
      assert.ok(
        f.reasons.some((r) => /deny all/.test(r)),
        f.reasons.join("\n"),
      );
    }
  });

  test("a filter file that does not parse is exit 2 naming the file", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "name: bad\nrules:\n  - { action: allow, protocol: tcpp }\n");
    const result = await runMoat(["audit", "--netns", ns, "--filter", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, new RegExp(`${file}:3`));
  });
});
