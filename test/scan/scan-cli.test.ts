import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runMoat } from "../helpers/moat.js";

const dir = mkdtempSync(join(tmpdir(), "moat-scan-cli-"));
const STATS = "STAT pid 99\r\nSTAT uptime 5\r\nSTAT version 1.6.21\r\nEND\r\n";
/** 127.0.0.2: loopback, so allowed without --allow-special, and 11211 is free there even with a real memcached. */
const TARGET = "127.0.0.2";

async function lines(args: string[]) {
  const r = await runMoat(["scan", ...args]);
  return { ...r, rows: r.stdout.trim().split("\n").filter(Boolean) };
}

describe("moat scan (CLI)", () => {
  let server: dgram.Socket;
  before(async () => {
    server = dgram.createSocket("udp4");
    server.on("message", (msg, rinfo) => {
      if (msg.length < 8) return;
      const header = Buffer.alloc(8);
      msg.copy(header, 0, 0, 2);
      header.writeUInt16BE(1, 4);
      server.send(Buffer.concat([header, Buffer.from(STATS)]), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => server.bind(11211, TARGET, resolve));
  });
  after(() => server.close());

  it("finds the reflector: JSON lines of the output contract, exit 1 with --fail-on critical", async () => {
    const r = await lines([
      TARGET,
      "--ports",
      "11211/udp,11212/udp",
      "--json",
      "--timeout",
      "200",
      "--fail-on",
      "critical",
    ]);
    assert.equal(r.code, 1, r.stderr);
    const rows = r.rows.map((l) => JSON.parse(l) as Record<string, unknown>);
    const open = rows.find((x) => x.port === 11211)!;
    assert.deepEqual(Object.keys(open).slice(0, 10), [
      "ip",
      "protocol",
      "port",
      "state",
      "service",
      "severity",
      "requestBytes",
      "responseBytes",
      "amplification",
      "fields",
    ]);
    assert.equal(open.state, "open");
    assert.equal(open.severity, "critical");
    assert.equal(open.service, "memcached");
    assert.equal((open.fields as Record<string, unknown>).version, "1.6.21");
    assert.equal(rows.find((x) => x.port === 11212)?.state, "closed");
  });

  it("prints a table of open ports and a summary", async () => {
    const r = await lines([TARGET, "--ports", "11211/udp,11212/udp", "--timeout", "200"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /127\.0\.0\.2\s+11211\/udp\s+open\s+critical\s+memcached\s+\d+(\.\d+)?x\s+version=1\.6\.21/,
    );
    assert.doesNotMatch(r.stdout, /11212\/udp/);
    assert.match(r.stdout, /1 open, 1 closed; 1 critical\./);
  });

  it("writes Shadowserver-style CSV", async () => {
    const r = await lines([TARGET, "--ports", "11211/udp", "--csv", "--timeout", "200"]);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.rows;
    assert.match(
      header!,
      /^timestamp,ip,protocol,port,hostname,tag,version,pid,pointer_size,uptime,time,curr_connections,total_connections,response_size,amplification,/,
    );
    assert.match(row!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,127\.0\.0\.2,udp,11211,,memcached,1\.6\.21,99,,5,/);
  });

  it("continues from a --resume state file", async () => {
    const state = join(dir, "cli.state");
    const first = await lines([
      TARGET,
      "--ports",
      "11211/udp",
      "--json",
      "--timeout",
      "200",
      "--resume",
      state,
    ]);
    assert.equal(first.rows.length, 1);
    const second = await lines([
      TARGET,
      "--ports",
      "11211-11213/udp",
      "--json",
      "--timeout",
      "200",
      "--resume",
      state,
    ]);
    assert.deepEqual(second.rows.map((l) => (JSON.parse(l) as { port: number }).port).sort(), [11212, 11213]);
    assert.equal(readFileSync(state, "utf8").trim().split("\n").length, 4);
  });

  it("refuses what it must, exit 2, saying why and which flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["10.1.1.1"], /10\.0\.0\.0\/8.*private-use.*--allow-special/],
      [["11.0.0.0/23"], /512 addresses; more than 256 need --scope FILE/],
      [["127.0.0.1", "--ports", "53"], /needs a protocol/],
      [["127.0.0.1", "--rate", "fast"], /--rate/],
      [["127.0.0.1", "--retries", "-1"], /--retries/],
      [["127.0.0.1", "--min-timeout", "0"], /--min-timeout: "0" must be a whole number/],
      [["127.0.0.1", "--answer-window", "soon"], /--answer-window/],
      [["bad_name!"], /not an address, network/],
      [["no-such-host.invalid"], /cannot resolve host name/],
      [[], /no targets/],
      [["127.0.0.1", "--ports", "1/udp", "--profile", "reflectors"], /--ports or --profile, not both/],
    ];
    for (const [args, message] of cases) {
      const r = await runMoat(["scan", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stdout, "");
    }
    const targets = join(dir, "targets.txt");
    writeFileSync(targets, "127.0.0.1\n# note\n127.0.0.300\n");
    const r = await runMoat(["scan", "--targets-file", targets]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${targets}:3:`));
  });

  it("honours exclude files", async () => {
    const exclude = join(dir, "exclude.txt");
    writeFileSync(exclude, "127.0.0.2\n");
    const r = await runMoat([
      "scan",
      TARGET,
      "127.0.0.3",
      "--exclude",
      exclude,
      "--ports",
      "11211/udp",
      "--json",
      "--timeout",
      "100",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { ip: string }).ip),
      ["127.0.0.3"],
    );
    assert.match(r.stderr, /excluded 1 addresses/);
  });

  it("explains its safety rules in --help", async () => {
    const r = await runMoat(["scan", "--help"]);
    assert.equal(r.code, 0);
    for (const text of [
      "--allow-special",
      "--scope FILE",
      "/etc/moat/exclude.txt",
      "Loopback",
      "open|filtered",
      "--min-timeout",
      "--answer-window",
      "Exit status",
    ])
      assert.ok(r.stdout.includes(text), text);
  });
});
