/**
 * `moat observe` end to end, through the built CLI (npm run build): generated captures with known
 * ground truth (bench/observe/synth.ts) and the real-tool fixtures go in with `ingest`; `alerts`,
 * `report` and `ingests` must tell what the generator, tcpdump or the file's own bytes say. Also an
 * ingest killed mid-way, broken captures and bad flags.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type SynthOptions, type SynthSummary, writeSyntheticPcap } from "../../bench/observe/synth.js";
import type { ObserveReportData } from "../../src/observe/report-data.js";
import type { IngestRecord, StoredProblem } from "../../src/store/observe-store.js";
import { CLI_BUILT, type MoatResult, moatArgv, runMoat } from "../helpers/moat.js";
import { toolMissing } from "../helpers/skip.js";
import { fixture, tcpdumpLines } from "./capture-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "moat-observe-e2e-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (ext: string) => join(dir, `f${n++}${ext}`);

before(() => {
  assert.ok(existsSync(CLI_BUILT), `${CLI_BUILT} is missing: run npm run build first`);
});

const moat = (args: string[], timeoutMs = 120_000) => runMoat(args, { built: true, timeoutMs });

/** Exit code, and no internal error or stack trace whatever happened. */
function clean(r: MoatResult, code: number, what: string): void {
  const streams = `\n--- stdout ---\n${r.stdout.slice(0, 3000)}\n--- stderr ---\n${r.stderr.slice(0, 3000)}`;
  assert.equal(r.code, code, `${what}: exit ${r.code}${streams}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at .+:\d+:\d+/, `${what}: a stack trace${streams}`);
}

const jsonLines = <T>(text: string): T[] =>
  text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);

const keyOf = (protocol: string, port: number | null) => `${protocol}/${port ?? ""}`;

/** Packets per (protocol, port) over the whole file, from the generator's ground truth. */
function truthTotals(summary: SynthSummary): Record<string, number> {
  return Object.fromEntries(
    Object.entries(summary.perPort).map(([k, series]) => [k, series.reduce((a, b) => a + b, 0)]),
  );
}

function reportTotals(report: ObserveReportData): Record<string, number> {
  return Object.fromEntries(report.ports.map((p) => [keyOf(p.protocol, p.port), p.packets]));
}

async function report(db: string, extra: string[] = []): Promise<ObserveReportData> {
  const r = await moat(["observe", "report", "--db", db, "--json", ...extra]);
  clean(r, 0, "report");
  return r.json<ObserveReportData>();
}

async function ingests(db: string, extra: string[] = []) {
  const r = await moat(["observe", "ingests", "--db", db, "--json", ...extra]);
  clean(r, 0, "ingests");
  return jsonLines<IngestRecord & { problemList?: StoredProblem[] }>(r.stdout);
}

/** The canonical telescope: 48 hourly buckets, steady 23/tcp and 445/tcp, 11211/udp surging from bucket 30. */
const CANONICAL: SynthOptions = {
  packets: 40_000,
  sources: 3_000,
  seed: 7,
  surges: [{ protocol: "udp", port: 11211, bucket: 30 }],
};

describe("moat observe: the canonical surge", () => {
  const pcap = tmp(".pcap");
  const db = tmp(".duckdb");
  let summary: SynthSummary;
  before(async () => {
    summary = await writeSyntheticPcap(pcap, CANONICAL);
    clean(await moat(["observe", "ingest", "--db", db, pcap]), 0, "ingest");
  });

  it("alerts on 11211/udp from the surge's bucket on, never on 23/tcp or 445/tcp or anything else", async () => {
    const r = await moat(["observe", "alerts", "--db", db, "--json"]);
    clean(r, 0, "alerts");
    const alerts = jsonLines<Record<string, unknown>>(r.stdout);
    assert.ok(alerts.length > 0, "some alerts");
    for (const a of alerts)
      assert.deepEqual(Object.keys(a).sort(), [
        "baseline",
        "bucket",
        "factor",
        "metric",
        "port",
        "protocol",
        "value",
      ]);
    const surge = summary.surges[0]!;
    const onset = summary.start + surge.bucket * summary.bucketSeconds;
    const memcached = alerts.filter((a) => a.protocol === "udp" && a.port === 11211);
    const first = Math.min(...memcached.map((a) => a.bucket as number));
    // "Must raise an alert within one bucket" of the surge's start, and nothing before it.
    assert.ok(
      first >= onset && first <= onset + summary.bucketSeconds,
      `first alert ${first}, surge ${onset}`,
    );
    assert.deepEqual(
      alerts.filter((a) => !(a.protocol === "udp" && a.port === 11211)),
      [],
      "no alert on the steady ports",
    );
    for (const a of memcached) {
      assert.ok(a.metric === "sources" || a.metric === "packets");
      assert.ok((a.value as number) > (a.baseline as number));
      assert.ok((a.factor as number) > 1);
    }
  });

  it("report --json: packets per port equal the generator's ground truth", async () => {
    const r = await report(db);
    assert.deepEqual(reportTotals(r), truthTotals(summary));
    assert.equal(r.packets, summary.packets);
    assert.equal(r.bucketSeconds, summary.bucketSeconds);
    assert.equal(r.buckets.length, summary.buckets);
    assert.equal(r.since, summary.start);
    // Sources over the range: every source the generator used (exact below the sketch bound? no: a
    // union of per-bucket sketches, so within HyperLogLog's error).
    assert.ok(Math.abs(r.sources - summary.sources) <= summary.sources * 0.03, `${r.sources} sources`);
    // A port filter narrows the report to that port and its truth.
    const only = await report(db, ["--port", "11211/udp"]);
    assert.deepEqual(reportTotals(only), { "udp/11211": truthTotals(summary)["udp/11211"] });
  });

  it("the same file again is recognised, under its own name and as a copy; totals do not change", async () => {
    const before = await report(db);
    const again = await moat(["observe", "ingest", "--db", db, pcap]);
    clean(again, 0, "re-ingest");
    assert.match(again.stdout, /already/);
    const copy = tmp(".pcap");
    copyFileSync(pcap, copy);
    const viaCopy = await moat(["observe", "ingest", "--db", db, "--json", copy]);
    clean(viaCopy, 0, "ingest of a copy");
    assert.equal(viaCopy.json<{ outcome: string }>().outcome, "already-ingested");
    assert.deepEqual(await report(db), before);
    const list = await ingests(db);
    assert.equal(list.length, 1);
    assert.equal(list[0]!.packets, summary.packets);
    assert.equal(list[0]!.complete, true);
  });

  it("report --chart a.svg --chart b.png writes both: well-formed SVG, a PNG", async () => {
    const svg = tmp(".svg");
    const png = tmp(".png");
    const r = await moat(["observe", "report", "--db", db, "--chart", svg, "--chart", png]);
    clean(r, 0, "report with charts");
    const text = readFileSync(svg, "utf8");
    assert.ok(text.includes("11211/udp"), "the surged port is charted");
    if (toolMissing("python3") === undefined) {
      // A real XML parser's reading.
      const parsed = spawnSync(
        "python3",
        ["-c", "import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().tag)", svg],
        { encoding: "utf8" },
      );
      assert.equal(parsed.status, 0, parsed.stderr);
      assert.equal(parsed.stdout.trim(), "{http://www.w3.org/2000/svg}svg");
    } else assert.match(text.trim(), /^(<\?xml[^>]*>\s*)?<svg[\s\S]*<\/svg>$/);
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(bytes.toString("latin1", 12, 16), "IHDR");
    assert.ok(bytes.readUInt32BE(16) > 100 && bytes.readUInt32BE(20) > 100, "a picture, not a dot");
  });

  it("report --chart x.gif is refused (exit 2) before any work", async () => {
    const gif = tmp(".gif");
    const svg = tmp(".svg");
    // A store that does not exist: had the report run, that would have been the message.
    const r = await moat(["observe", "report", "--db", tmp(".duckdb"), "--chart", svg, "--chart", gif]);
    clean(r, 2, "--chart x.gif");
    assert.match(r.stderr, /--chart/);
    assert.ok(r.stderr.includes(gif), r.stderr);
    assert.ok(!existsSync(gif) && !existsSync(svg), "no chart written");
  });
});

describe("moat observe: an ingest killed mid-way", () => {
  it("opens cleanly, says interrupted, resumes, and ends with the totals of a clean ingest", async () => {
    const pcap = tmp(".pcap");
    const summary = await writeSyntheticPcap(pcap, {
      packets: 300_000,
      sources: 20_000,
      seed: 3,
      surges: [{ protocol: "udp", port: 11211, bucket: 30 }],
    });
    const args = ["--buckets", "1m,1h", "--batch-rows", "2000"];
    const killed = tmp(".duckdb");
    const child = spawn(
      process.execPath,
      moatArgv(["observe", "ingest", "--db", killed, ...args, pcap], true),
      {
        env: { ...process.env, MOAT_OBSERVE_TRACE: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal })),
    );
    // Kill it the moment its first batch is committed: the rest of the file is still to come.
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      if (/batch committed/.test(stderr)) child.kill("SIGKILL");
    });
    const end = await exited;
    assert.equal(
      end.signal,
      "SIGKILL",
      `the ingest ended by itself first: ${end.code}\n${stdout}\n${stderr}`,
    );
    assert.equal(stdout, "", "killed before it finished");

    const [interrupted, ...more] = await ingests(killed);
    assert.deepEqual(more, []);
    assert.equal(interrupted!.complete, false);
    assert.ok(interrupted!.packets > 0 && interrupted!.packets < summary.packets, `${interrupted!.packets}`);
    assert.ok(interrupted!.buckets > 0);
    const text = await moat(["observe", "ingests", "--db", killed]);
    clean(text, 0, "ingests");
    assert.match(text.stdout, /interrupted/);

    const resumed = await moat(["observe", "ingest", "--db", killed, "--json", ...args, pcap]);
    clean(resumed, 0, "resume");
    assert.equal(resumed.json<{ outcome: string }>().outcome, "resumed");
    const [done] = await ingests(killed);
    assert.equal(done!.id, interrupted!.id);
    assert.equal(done!.complete, true);
    assert.equal(done!.packets, summary.packets);

    const fresh = tmp(".duckdb");
    clean(await moat(["observe", "ingest", "--db", fresh, ...args, pcap]), 0, "clean ingest");
    for (const bucket of ["1h", "1m"]) {
      const a = await report(killed, ["--bucket", bucket]);
      const b = await report(fresh, ["--bucket", bucket]);
      assert.deepEqual(reportTotals(a), reportTotals(b), `${bucket}: resumed vs clean`);
      assert.deepEqual(reportTotals(a), truthTotals(summary), `${bucket}: resumed vs ground truth`);
      assert.deepEqual(
        a.buckets.map((x) => [x.bucket, x.packets, x.sources]),
        b.buckets.map((x) => [x.bucket, x.packets, x.sources]),
        `${bucket}: per-bucket packets and sources`,
      );
      assert.deepEqual(a.alerts, b.alerts);
    }
    // Every bucket row once: as many as the clean ingest wrote.
    assert.equal(done!.buckets, (await ingests(fresh))[0]!.buckets);
  });
});

// ---- broken captures, made from a real fixture ----

/** Offsets of each record header of a little-endian microsecond pcap: the file's own framing. */
function recordOffsets(pcap: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 24; at + 16 <= pcap.length; at += 16 + pcap.readUInt32LE(at + 8)) {
    if (at + 16 + pcap.readUInt32LE(at + 8) > pcap.length) break;
    offsets.push(at);
  }
  return offsets;
}

describe("moat observe: broken captures", () => {
  const original = readFileSync(fixture("ethernet.pcap"));
  const offsets = recordOffsets(original);
  assert.equal(original.readUInt32LE(0), 0xa1b2c3d4, "the fixture is a little-endian µs pcap");

  async function ingestBroken(bytes: Buffer, code: number) {
    const file = tmp(".pcap");
    writeFileSync(file, bytes);
    const db = tmp(".duckdb");
    const r = await moat(["observe", "ingest", "--db", db, file]);
    clean(r, code, file);
    return { file, db, r };
  }

  it("a truncated file: the whole records are counted, the cut one is a problem with its packet index", async () => {
    const cutAt = offsets[20]! + 16 + 10; // 10 bytes into record 20's data
    const { db } = await ingestBroken(original.subarray(0, cutAt), 0);
    const [ingest] = await ingests(db, ["--problems"]);
    assert.equal(ingest!.packets, 20);
    assert.equal(ingest!.complete, true);
    assert.ok(ingest!.problems >= 1);
    const truncation = ingest!.problemList!.find((p) => /truncated/.test(p.problem));
    assert.ok(truncation, JSON.stringify(ingest!.problemList));
    assert.equal(truncation.index, 20);
    assert.equal(truncation.offset, offsets[20]);
    const text = await moat(["observe", "ingests", "--db", db, "--problems"]);
    clean(text, 0, "ingests --problems");
    assert.match(text.stdout, new RegExp(`packet 20 \\(byte ${offsets[20]}\\): .*truncated`));
  });

  it("a bogus record length: the records before it are counted, the problem names its index and offset", async () => {
    const bytes = Buffer.from(original);
    bytes.writeUInt32LE(0x7fff_ffff, offsets[7]! + 8);
    const { db, r } = await ingestBroken(bytes, 0);
    assert.match(r.stdout, /problem/);
    const [ingest] = await ingests(db, ["--problems"]);
    assert.equal(ingest!.packets, 7);
    const bogus = ingest!.problemList!.find((p) => /length/.test(p.problem));
    assert.ok(bogus, JSON.stringify(ingest!.problemList));
    assert.equal(bogus.index, 7);
    assert.equal(bogus.offset, offsets[7]);
  });

  it("wrong magic: exit 2 naming the file, nothing recorded", async () => {
    const bytes = Buffer.from(original);
    bytes.write("JUNK", 0, "latin1");
    const { file, db, r } = await ingestBroken(bytes, 2);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /not a pcap/);
    assert.deepEqual(await ingests(db), []);
  });

  it("an unknown link type: every packet is a problem with its index, and the ingest still completes", async () => {
    const bytes = Buffer.from(original);
    bytes.writeUInt32LE(147, 20); // LINKTYPE_USER0
    const { db } = await ingestBroken(bytes, 0);
    const [ingest] = await ingests(db, ["--problems"]);
    assert.equal(ingest!.complete, true);
    assert.equal(ingest!.packets, offsets.length);
    assert.equal(ingest!.problems, offsets.length);
    assert.deepEqual(
      ingest!.problemList!.map((p) => p.index),
      offsets.map((_, i) => i),
    );
    assert.deepEqual(
      ingest!.problemList!.map((p) => p.offset),
      offsets,
    );
    assert.ok(
      ingest!.problemList!.every((p) => /link/i.test(p.problem)),
      ingest!.problemList![0]!.problem,
    );
    const r = await moat(["observe", "report", "--db", db]);
    clean(r, 0, "report of a store with no traffic");
  });

  it("a missing file and an empty file: exit 2 naming them", async () => {
    const db = tmp(".duckdb");
    const missing = join(dir, "no-such.pcap");
    const empty = tmp(".pcap");
    writeFileSync(empty, "");
    for (const file of [missing, empty]) {
      const r = await moat(["observe", "ingest", "--db", db, file]);
      clean(r, 2, file);
      assert.ok(r.stderr.includes(file), r.stderr);
    }
  });
});

describe("moat observe: real-tool captures", () => {
  const names = ["zmap.pcap", "masscan.pcap", "nmap.pcap", "hping3.pcap", "backscatter.pcap"];
  const db = tmp(".duckdb");
  before(async () => {
    const r = await moat(["observe", "ingest", "--db", db, ...names.map((f) => fixture(`real/${f}`))]);
    clean(r, 0, "ingest of the real captures");
  });

  it("every packet is counted (tcpdump's count of the same files)", {
    skip: toolMissing("tcpdump"),
  }, async () => {
    const list = await ingests(db);
    assert.equal(list.length, names.length);
    for (const [i, name] of names.entries()) {
      assert.equal(list[i]!.packets, tcpdumpLines(fixture(`real/${name}`)).length, name);
      assert.equal(list[i]!.problems, 0, name);
    }
  });

  it("the report's probes and tools column names zmap and masscan, as many as tcpdump shows", async () => {
    const r = await moat(["observe", "report", "--db", db, "--bucket", "1d", "--top", "100"]);
    clean(r, 0, "report");
    const lines = r.stdout.split("\n");
    const header = lines.findIndex((l) =>
      /port\s+packets\s+sources\s+first seen\s+last seen\s+probes and tools/.test(l),
    );
    assert.ok(header >= 0, r.stdout);
    const column = lines[header]!.indexOf("probes and tools");
    const table = lines.slice(header + 1, lines.indexOf("", header));
    const tools = table.map((l) => l.slice(column));
    assert.ok(
      tools.some((t) => /\bzmap \d/.test(t)),
      tools.join("\n"),
    );
    assert.ok(
      tools.some((t) => /\bmasscan \d/.test(t)),
      tools.join("\n"),
    );
    // The JSON report's tag counts: zmap's are the packets with IP id 54321, by tcpdump's reading.
    const json = await report(db, ["--bucket", "1d", "--top", "100"]);
    const zmapTagged = json.ports.reduce((a, p) => a + (p.tags.zmap ?? 0), 0);
    if (toolMissing("tcpdump") === undefined) {
      const withId = names.flatMap((name) =>
        tcpdumpLines(fixture(`real/${name}`), ["-v"]).filter((l) => /\bid 54321\b/.test(l)),
      );
      assert.equal(zmapTagged, withId.length);
    }
    assert.ok(zmapTagged > 0);
    assert.ok(json.ports.some((p) => (p.tags.masscan ?? 0) > 0));
  });
});

describe("moat observe: flag errors exit 2 naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--since", "garbage"], /--since.*garbage/],
    [["--since", "2023-11-15", "--until", "2023-11-14"], /--until/],
    [["--port", "99999/udp"], /--port.*99999/],
    [["--bucket", "5m"], /--bucket/],
    [["--top", "0"], /--top/],
  ];
  for (const command of ["report", "alerts"]) {
    for (const [flags, message] of cases) {
      it(`${command} ${flags.join(" ")}`, async () => {
        // No store at that path: the flag must be the message, not the store.
        const r = await moat(["observe", command, "--db", join(dir, "none.duckdb"), ...flags]);
        clean(r, 2, flags.join(" "));
        assert.match(r.stderr, message);
      });
    }
  }

  it("ingest --buckets 5m and --lateness -1", async () => {
    for (const [flags, message] of [
      [["--buckets", "1m,5m"], /--buckets.*5m/],
      [["--lateness", "-1"], /--lateness/],
    ] as const) {
      const r = await moat(["observe", "ingest", "--db", tmp(".duckdb"), ...flags, fixture("ethernet.pcap")]);
      clean(r, 2, flags.join(" "));
      assert.match(r.stderr, message);
    }
  });
});
