/**
 * `moat scan` run from one lab namespace against real memcached daemons in another: the reflector is
 * found with its fields and amplification, memcached with UDP off shows nothing open on UDP, closed
 * ports stay closed, and the documentation range needs --allow-special.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runMoat } from "../helpers/moat.js";
import { createLab, type Lab, labSkipReason } from "../lab/lab.js";

const skip = labSkipReason();

interface Row {
  ip: string;
  protocol: string;
  port: number;
  state: string;
  service: string | null;
  severity: string;
  requestBytes: number;
  responseBytes: number;
  amplification: number | null;
  fields: Record<string, unknown>;
}

describe("moat scan in the lab", { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({
      namespaces: [
        { role: "scanner" },
        {
          role: "server",
          daemons: [
            { kind: "memcached", name: "open", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 },
            { kind: "memcached", name: "safe", listen: "0.0.0.0", tcpPort: 11311, udpPort: 0 },
          ],
        },
      ],
      links: [["scanner", "server"]],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  // The native UDP socket (closed from its error queue) and the dgram fallback (connected sockets).
  for (const native of ["1", "0"])
    it(`finds the open reflector, the safe memcached's UDP closed, and nothing else open (MOAT_NATIVE=${native})`, async () => {
      const ports = "11211/udp,11211/tcp,11311/udp,11311/tcp,11212/udp,11212/tcp";
      const r = await runMoat(
        ["scan", "192.0.2.2", "--allow-special", "--ports", ports, "--json", "--timeout", "500"],
        { netns: lab.ns("scanner"), env: { MOAT_NATIVE: native } },
      );
      assert.equal(r.code, 0, r.stderr);
      const rows = r.jsonLines<Row>();
      const at = (protocol: string, port: number) =>
        rows.find((x) => x.protocol === protocol && x.port === port)!;
      const reflector = at("udp", 11211);
      assert.equal(reflector.state, "open");
      assert.equal(reflector.service, "memcached");
      assert.equal(reflector.severity, "critical");
      assert.match(String(reflector.fields.version), /^\d+\.\d+/);
      assert.ok(
        reflector.amplification !== null && reflector.amplification > 10,
        `amplification ${reflector.amplification}`,
      );
      assert.equal(reflector.responseBytes > reflector.requestBytes * 10, true);
      assert.equal(at("tcp", 11211).state, "open");
      assert.equal(at("tcp", 11211).service, "memcached");
      assert.equal(at("tcp", 11311).state, "open");
      assert.equal(at("udp", 11311).state, "closed", "memcached -U 0: nothing on UDP");
      assert.equal(at("udp", 11212).state, "closed");
      assert.equal(at("tcp", 11212).state, "closed");
      assert.equal(rows.filter((x) => x.state === "open").length, 3);
    });

  it("refuses the documentation range without --allow-special", async () => {
    const r = await runMoat(["scan", "192.0.2.2", "--ports", "11211/udp"], { netns: lab.ns("scanner") });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /192\.0\.2\.0\/24.*--allow-special/);
  });
});
