/**
 * `moat audit --scan-from`: the audit joined with a scan of the audited namespace's own addresses from
 * a second lab namespace. Real memcached answers from outside and is marked confirmed with its
 * amplification; a firewall drop shows as filtered and agrees with the firewall read-back; loopback
 * sockets are never scanned.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { runMoat } from "../helpers/moat.js";
import { nftLabSkipReason } from "../helpers/skip.js";
import { createLab, type Lab } from "./lab.js";

interface Finding {
  protocol: string;
  address: string;
  port: number;
  exposure: string;
  reasons: string[];
  outside?: {
    state: string;
    from: string;
    address: string;
    amplification?: number;
    fields?: Record<string, unknown>;
  };
}

// Inside the server namespace only: memcached's TCP port dropped from everywhere.
const DROP_TCP_11211 = `table inet guard {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 11211 drop
  }
}
`;

describe("moat audit --scan-from", { skip: nftLabSkipReason() }, () => {
  let lab: Lab;
  let server: string;
  let vantage: string;
  const audit = async (...extra: string[]): Promise<Finding[]> => {
    const result = await runMoat(["audit", "--netns", server, "--scan-from", vantage, "--json", ...extra]);
    assert.equal(result.code, 0, result.stderr);
    return result.json<{ findings: Finding[] }>().findings;
  };
  const find = (findings: Finding[], protocol: string, port: number) => {
    const found = findings.find((f) => f.protocol === protocol && f.port === port);
    assert.ok(found, `no ${port}/${protocol} finding`);
    return found;
  };

  before(async () => {
    lab = await createLab({
      namespaces: [
        { role: "vantage" },
        {
          role: "server",
          daemons: [
            { kind: "memcached", name: "open", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 },
            { kind: "memcached", name: "local", listen: "127.0.0.1", tcpPort: 11311, udpPort: 11311 },
            { kind: "listener", name: "app", sockets: [{ protocol: "tcp", address: "0.0.0.0", port: 8080 }] },
          ],
        },
      ],
      links: [["vantage", "server"]],
    });
    server = lab.ns("server");
    vantage = lab.ns("vantage");
  });
  after(async () => {
    await lab?.destroy();
  });

  test("the UDP reflector answers from outside: confirmed, with its amplification", async () => {
    const findings = await audit();
    const udp = find(findings, "udp", 11211);
    assert.equal(udp.exposure, "exposed");
    assert.equal(udp.outside?.state, "open", udp.reasons.join("\n"));
    assert.equal(udp.outside?.from, `netns:${vantage}`);
    assert.equal(udp.outside?.address, "192.0.2.2");
    assert.ok((udp.outside?.amplification ?? 0) > 1, `amplification ${udp.outside?.amplification}`);
    assert.match(String(udp.outside?.fields?.version), /^\d+\.\d+/);
    assert.ok(
      udp.reasons.some((r) =>
        /^Confirmed from netns:\S+: it answered at 192\.0\.2\.2 \(amplification [\d.]+x\)/.test(r),
      ),
      udp.reasons.join("\n"),
    );
    assert.equal(find(findings, "tcp", 11211).outside?.state, "open");
    assert.equal(find(findings, "tcp", 8080).outside?.state, "open");
    // Loopback-only sockets are local: never scanned, no outside view.
    for (const protocol of ["tcp", "udp"]) {
      const local = find(findings, protocol, 11311);
      assert.equal(local.exposure, "local");
      assert.equal(local.outside, undefined);
    }
  });

  test("the table marks confirmed exposure", async () => {
    const result = await runMoat(["audit", "--netns", server, "--scan-from", vantage]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /11211\/udp .*exposed, confirmed/);
  });

  test("a firewall drop in the server shows as filtered from outside and as blocked in the read-back", async () => {
    execFileSync("ip", ["netns", "exec", server, "nft", "-f", "-"], { input: DROP_TCP_11211 });
    try {
      const findings = await audit();
      const tcp = find(findings, "tcp", 11211);
      assert.equal(tcp.exposure, "blocked", tcp.reasons.join("\n"));
      assert.equal(tcp.outside?.state, "filtered");
      assert.ok(
        tcp.reasons.some((r) => r.startsWith(`Not reachable from netns:${vantage}: filtered`)),
        tcp.reasons.join("\n"),
      );
      assert.equal(find(findings, "udp", 11211).outside?.state, "open");
    } finally {
      execFileSync("ip", ["netns", "exec", server, "nft", "delete", "table", "inet", "guard"]);
    }
  });

  test("a --scan-from namespace that does not exist is exit 2 naming it", async () => {
    const result = await runMoat(["audit", "--netns", server, "--scan-from", "moat-no-such-ns", "--json"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--scan-from: no network namespace named "moat-no-such-ns"/);
    assert.equal(result.stdout, "");
  });

  test("scanning from the audited namespace itself, or with --ss, is exit 2", async () => {
    const self = await runMoat(["audit", "--netns", server, "--scan-from", server]);
    assert.equal(self.code, 2);
    assert.match(self.stderr, /is the namespace being audited/);
    const ss = await runMoat(["audit", "--ss", "-", "--scan-from", vantage], {
      input:
        "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n" +
        "udp   UNCONN 0      0            0.0.0.0:11211      0.0.0.0:*\n",
    });
    assert.equal(ss.code, 2, ss.stderr);
    assert.match(ss.stderr, /cannot be used with --ss/);
  });
});
