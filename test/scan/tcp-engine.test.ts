import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import type { TcpProbe } from "../../src/scan/probes/types.js";
import { RateLimiter } from "../../src/scan/rate.js";
import { TcpEngine, type TcpJob, type TcpOutcome } from "../../src/scan/tcp-engine.js";

const bannerProbe: TcpProbe = {
  id: "banner",
  service: "ssh",
  transport: "tcp",
  ports: [],
  request: null,
  parse: (data) => {
    const m = /^SSH-2\.0-(\S+)/.exec(data.toString("latin1"));
    return m ? { fields: { version: m[1]! }, abusable: false, note: "ssh" } : null;
  },
};

const versionProbe: TcpProbe = {
  id: "version",
  service: "memcached",
  transport: "tcp",
  ports: [],
  request: Buffer.from("version\r\n"),
  parse: (data) => {
    const m = /^VERSION (\S+)\r\n/.exec(data.toString("latin1"));
    return m ? { fields: { version: m[1]! }, abusable: false, note: "memcached" } : null;
  },
};

async function listen(onConnection: (socket: net.Socket) => void, host = "127.0.0.1"): Promise<net.Server> {
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

async function closedPort(host = "127.0.0.1"): Promise<number> {
  const s = await listen(() => {}, host);
  const port = portOf(s);
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function scan(jobs: TcpJob[]): Promise<TcpOutcome[]> {
  const engine = new TcpEngine({
    rate: new RateLimiter({ rate: Number.POSITIVE_INFINITY }),
    timeoutMs: 500,
    retries: 0,
    idleMs: 100,
  });
  const out: TcpOutcome[] = [];
  for await (const o of engine.run(jobs)) out.push(o);
  return out;
}

const job = (port: number, probes: TcpProbe[] = [], ip = "127.0.0.1"): TcpJob => ({
  ip,
  family: ip.includes(":") ? "ipv6" : "ipv4",
  port,
  probes,
});

describe("TCP engine on loopback", () => {
  let ssh: net.Server;
  let memcached: net.Server;
  let silent: net.Server;
  before(async () => {
    ssh = await listen((s) => {
      s.on("error", () => {});
      s.write("SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    });
    memcached = await listen((s) => {
      s.on("error", () => {});
      s.on("data", (d) => {
        if (d.toString() === "version\r\n") s.write("VERSION 1.6.18\r\n");
      });
    });
    silent = await listen((s) => {
      s.on("error", () => {});
    });
  });
  after(() => {
    for (const s of [ssh, memcached, silent]) s.close();
  });

  it("reads a banner, sends a request, and tells closed from open", async () => {
    const closed = await closedPort();
    const outcomes = await scan([
      job(portOf(ssh), [bannerProbe]),
      job(portOf(memcached), [versionProbe]),
      job(closed, [bannerProbe]),
      job(portOf(silent)),
    ]);
    const by = new Map(outcomes.map((o) => [o.job.port, o]));
    assert.equal(by.get(portOf(ssh))?.state, "open");
    assert.deepEqual(by.get(portOf(ssh))?.result?.fields, { version: "OpenSSH_9.2p1" });
    assert.equal(by.get(portOf(memcached))?.probe?.id, "version");
    assert.deepEqual(by.get(portOf(memcached))?.result?.fields, { version: "1.6.18" });
    assert.equal(by.get(portOf(memcached))?.requestBytes, 9);
    assert.equal(by.get(closed)?.state, "closed");
    assert.equal(by.get(portOf(silent))?.state, "open");
    assert.equal(by.get(portOf(silent))?.result, null);
  });

  it("tries the next probe when the first does not recognise the service", async () => {
    const [o] = await scan([job(portOf(memcached), [bannerProbe, versionProbe])]);
    assert.equal(o!.probe?.id, "version");
  });

  it("an answer no probe understands is unparseable, not a service", async () => {
    const [o] = await scan([job(portOf(ssh), [versionProbe])]);
    assert.equal(o!.state, "open");
    assert.equal(o!.probe, null);
    assert.equal(o!.unparseable, true);
  });

  it("zero false positives: 200 closed ports are all closed", async () => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => closedPort()));
    const outcomes = await scan(ports.map((p) => job(p)));
    assert.equal(outcomes.length, 200);
    assert.ok(outcomes.every((o) => o.state === "closed"));
  });

  it("works over IPv6 loopback", async () => {
    const v6 = await listen((s) => {
      s.on("error", () => {});
      s.end("SSH-2.0-x\r\n");
    }, "::1");
    try {
      const [o] = await scan([job(portOf(v6), [bannerProbe], "::1")]);
      assert.equal(o!.state, "open");
      assert.deepEqual(o!.result?.fields, { version: "x" });
    } finally {
      v6.close();
    }
  });
});
