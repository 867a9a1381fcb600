/** The whole scan pipeline on loopback: probes by port, results of the output contract, resume. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadCatalog } from "../../src/catalog/load.js";
import type { Catalog } from "../../src/catalog/types.js";
import { parsePorts } from "../../src/scan/ports.js";
import { memcachedProbe } from "../../src/scan/probes/memcached.js";
import { RateLimiter } from "../../src/scan/rate.js";
import { ScanState } from "../../src/scan/resume.js";
import { Scanner, type ScanResult, scanSeverity } from "../../src/scan/scan.js";
import { planTargets } from "../../src/scan/scope.js";
import { parseTarget } from "../../src/scan/targets.js";

const dir = mkdtempSync(join(tmpdir(), "moat-scan-"));
const STATS = "STAT pid 4242\r\nSTAT uptime 77\r\nSTAT version 1.6.18\r\nSTAT curr_connections 2\r\nEND\r\n";

/** memcached's UDP framing, answering `stats` with the request id echoed. */
async function fakeMemcached(): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (msg, rinfo) => {
    if (msg.length < 8 || !msg.subarray(8).toString().startsWith("stats")) return;
    const header = Buffer.alloc(8);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(1, 4);
    socket.send(Buffer.concat([header, Buffer.from(STATS)]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return socket;
}

async function collect(scanner: Scanner, stopAfter = Number.POSITIVE_INFINITY): Promise<ScanResult[]> {
  const out: ScanResult[] = [];
  for await (const r of scanner.results()) {
    out.push(r);
    if (out.length >= stopAfter) break;
  }
  return out;
}

/** The same through `batches()`, the CLI's way, stopping after `stopAfter` batches. */
async function collectBatches(scanner: Scanner, stopAfter: number): Promise<ScanResult[]> {
  const out: ScanResult[] = [];
  let batches = 0;
  for await (const batch of scanner.batches()) {
    out.push(...batch);
    if (++batches >= stopAfter) break;
  }
  return out;
}

describe("scan pipeline", () => {
  let catalog: Catalog;
  let server: dgram.Socket;
  let port: number;
  before(async () => {
    catalog = await loadCatalog();
    server = await fakeMemcached();
    port = server.address().port;
  });
  after(() => server.close());

  function scanner(ports: string, state?: ScanState): Scanner {
    return new Scanner({
      plan: planTargets([parseTarget("127.0.0.1")]),
      ports: parsePorts(ports),
      catalog,
      udpProbes: [{ ...memcachedProbe, ports: [port] }],
      tcpProbes: [],
      rate: new RateLimiter({ rate: Number.POSITIVE_INFINITY }),
      retries: 1,
      timeoutMs: 200,
      ...(state ? { state } : {}),
    });
  }

  it("finds the reflector with its fields and amplification; critical", async () => {
    const [r] = await collect(scanner(`${port}/udp`));
    assert.deepEqual(
      {
        ip: r!.ip,
        protocol: r!.protocol,
        port: r!.port,
        state: r!.state,
        service: r!.service,
        severity: r!.severity,
        probe: r!.probe,
        abusable: r!.abusable,
      },
      {
        ip: "127.0.0.1",
        protocol: "udp",
        port,
        state: "open",
        service: "memcached",
        severity: "critical",
        probe: "memcached",
        abusable: true,
      },
    );
    assert.equal(r!.requestBytes, 15);
    assert.equal(r!.responseBytes, 8 + STATS.length);
    assert.equal(r!.amplification, Math.round(((8 + STATS.length) / 15) * 100) / 100);
    assert.equal(r!.packetRatio, 1);
    assert.equal(r!.fields.version, "1.6.18");
    assert.equal(r!.fields.pid, 4242);
  });

  it("gives ports without a probe the empty-datagram probe: closed, never open", async () => {
    const results = await collect(scanner(`${port + 1}-${port + 5}/udp`));
    assert.equal(results.length, 5);
    for (const r of results) {
      if (r.port === port) continue;
      assert.notEqual(r.state, "open");
      assert.equal(r.severity, "info");
    }
  });

  it("resumes an interrupted scan: nothing lost, nothing scanned twice", async () => {
    const path = join(dir, "scan.state");
    const ports = `${port - 10}-${port + 9}/udp,1-10/tcp`;
    const interrupted = ScanState.open(path);
    const first = await collect(scanner(ports, interrupted), 12);
    interrupted.close();
    // The consumer stopped: the state file holds exactly what it took.
    const recorded = readFileSync(path, "utf8").trim().split("\n").slice(1);
    assert.equal(recorded.length, 12);
    const state = ScanState.open(path);
    const second = scanner(ports, state);
    const rest = await collect(second);
    state.close();
    assert.equal(second.skipped, 12);
    const keys = [...first, ...rest].map((r) => `${r.protocol} ${r.port}`);
    assert.equal(keys.length, 30);
    assert.equal(new Set(keys).size, 30);
    assert.ok(rest.concat(first).some((r) => r.port === port && r.state === "open"));
  });

  it("resumes a scan read a batch at a time (as the CLI reads it): each batch taken is recorded", async () => {
    const path = join(dir, "scan-batches.state");
    const ports = `${port - 10}-${port + 9}/udp,1-10/tcp`;
    const interrupted = ScanState.open(path);
    const first = await collectBatches(scanner(ports, interrupted), 1);
    interrupted.close();
    assert.ok(first.length > 0);
    const recorded = readFileSync(path, "utf8").trim().split("\n").slice(1);
    assert.equal(recorded.length, first.length);
    const state = ScanState.open(path);
    const second = scanner(ports, state);
    const rest = await collectBatches(second, Number.POSITIVE_INFINITY);
    state.close();
    assert.equal(second.skipped, first.length);
    const keys = [...first, ...rest].map((r) => `${r.protocol} ${r.port}`);
    assert.equal(keys.length, 30);
    assert.equal(new Set(keys).size, 30);
  });
});

describe("scan severity", () => {
  it("an answering reflector is critical; an unconfirmed one high; TCP memcached high", async () => {
    const catalog = await loadCatalog();
    const memcached = catalog.byId("memcached")!;
    const ntp = catalog.byId("ntp")!;
    assert.equal(scanSeverity("udp", memcached, { fields: {}, abusable: true, note: "" }), "critical");
    assert.equal(scanSeverity("udp", ntp, null), "high", "answers, but no probe confirmed monlist");
    assert.equal(scanSeverity("tcp", memcached, null), "high");
    assert.equal(scanSeverity("tcp", undefined, null), "medium");
    const dns = catalog.byId("dns")!;
    assert.equal(scanSeverity("udp", dns, { fields: {}, abusable: false, note: "" }), "info");
    assert.equal(
      scanSeverity("udp", dns, null),
      "high",
      "a public resolver port answering something: unconfirmed",
    );
  });
});
