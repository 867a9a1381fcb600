/**
 * runLiveCapture (src/observe/live.ts) in-process, with the real tcpdump on loopback: a filter for
 * one random UDP port keeps everything else on `lo` out, and the test sends known datagrams to
 * 127.0.0.1 on that port. The store is the real DuckDB file. Checked: what is sent is what is
 * stored; a killed tcpdump is started again and counting goes on; a store another process holds
 * when the capture stops is waited for, not dropped; fatal starts leave no ingest behind.
 *
 * One test uses a FAKE tcpdump (a shell script): a tcpdump that captures once and then fails at
 * every start cannot be had from the real one without an interface vanishing under it, and the
 * back-off and "only a first failed start is fatal" rules are about exactly that.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EnvironmentError } from "../../src/errors.js";
import { type LiveOptions, type LiveSummary, runLiveCapture } from "../../src/observe/live.js";
import { openDuckDbStore } from "../../src/store/duckdb-store.js";
import { toolMissing } from "../helpers/skip.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(cond: () => boolean, what: string, logs: string[]): Promise<void> {
  for (const deadline = Date.now() + 20_000; !cond(); await sleep(20))
    if (Date.now() > deadline) assert.fail(`no ${what}; log:\n${logs.join("\n")}`);
}

function rootSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "capturing with tcpdump needs root (run as root)";
  return toolMissing("tcpdump");
}

/** Children of this process named `comm` (any thread may be the parent of record). */
function childrenNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    const text = readFileSync(`/proc/${process.pid}/task/${task}/children`, "utf8").trim();
    for (const pid of text === "" ? [] : text.split(/\s+/).map(Number)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm) pids.push(pid);
      } catch {}
    }
  }
  return pids;
}

async function sendUdp(port: number, count: number): Promise<void> {
  const socket = createSocket("udp4");
  for (let i = 0; i < count; i++)
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.from(`probe ${i}`), port, "127.0.0.1", (e) => (e ? reject(e) : resolve())),
    );
  socket.close();
}

/** A running capture: its logs, the counts its last commit saw, and a way to stop it. */
function startCapture(db: string, overrides: Partial<LiveOptions> = {}) {
  const logs: string[] = [];
  const controller = new AbortController();
  let committedCounted = 0;
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  const done: Promise<LiveSummary> = runLiveCapture({
    interface: "lo",
    filter: `udp and dst host 127.0.0.1 and dst port ${port}`,
    tcpdump: "tcpdump",
    bucketSizes: ["1m"],
    commitEverySeconds: 1,
    latenessSeconds: 0,
    openStore: () => openDuckDbStore(db),
    signal: controller.signal,
    log: (m) => logs.push(m),
    onCommit: async (counts) => {
      committedCounted = counts.counted;
    },
    restartDelays: { first: 50, max: 200 },
    ...overrides,
  });
  // Keep a rejection observed until the test awaits it.
  done.catch(() => {});
  return {
    port,
    logs,
    done,
    stop: () => controller.abort(),
    committedCounted: () => committedCounted,
    waitLog: (pattern: RegExp) => waitUntil(() => logs.some((l) => pattern.test(l)), `log ${pattern}`, logs),
  };
}

async function storedPackets(db: string, port: number): Promise<{ packets: number; complete: boolean[] }> {
  const store = await openDuckDbStore(db, { readOnly: true });
  try {
    const rows = await store.portRows({ bucketSize: "1m", protocol: "udp", port });
    const ingests = await store.ingests();
    return { packets: rows.reduce((n, r) => n + r.packets, 0), complete: ingests.map((i) => i.complete) };
  } finally {
    await store.close();
  }
}

describe("runLiveCapture with the real tcpdump on lo", { skip: rootSkipReason() }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "moat-live-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("what is sent is stored, and the ingest is complete once stopped", async () => {
    const db = join(dir, "count.duckdb");
    const live = startCapture(db);
    await live.waitLog(/tcpdump is capturing on lo/);
    const sent = 23 + Math.floor(Math.random() * 20);
    await sendUdp(live.port, sent);
    await waitUntil(() => live.committedCounted() >= sent, `commit of ${sent} packets`, live.logs);
    live.stop();
    const summary = await live.done;
    assert.equal(summary.counts.counted, sent);
    assert.equal(summary.runs, 1);
    assert.deepEqual(await storedPackets(db, live.port), { packets: sent, complete: [true] });
  });

  test("a killed tcpdump is started again and what comes after is counted too", async () => {
    const db = join(dir, "restart.duckdb");
    const live = startCapture(db);
    await live.waitLog(/tcpdump is capturing on lo/);
    await sendUdp(live.port, 11);
    await waitUntil(() => live.committedCounted() >= 11, "first packets", live.logs);
    const tcpdumps = childrenNamed("tcpdump");
    assert.equal(tcpdumps.length, 1, "one tcpdump child");
    process.kill(tcpdumps[0]!, "SIGKILL");
    await live.waitLog(/tcpdump stopped \(killed by SIGKILL\); starting it again/);
    await live.waitLog(/tcpdump is capturing on lo \(run 2\)/);
    await sendUdp(live.port, 7);
    await waitUntil(() => live.committedCounted() >= 18, "packets after the restart", live.logs);
    live.stop();
    const summary = await live.done;
    assert.equal(summary.runs, 2);
    assert.equal(summary.counts.counted, 18);
    assert.deepEqual(await storedPackets(db, live.port), { packets: 18, complete: [true] });
  });

  test("a store another process holds when the capture stops is waited for, nothing dropped", async () => {
    const db = join(dir, "held.duckdb");
    const live = startCapture(db);
    await live.waitLog(/tcpdump is capturing on lo/);
    // All counted first: packets still in flight when tcpdump is stopped are the kernel's to lose.
    await sendUdp(live.port, 13);
    await waitUntil(() => live.committedCounted() >= 13, "packets", live.logs);
    // Another process (as `moat observe report` would) holds the file open until told to let go.
    const holder = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { openDuckDbStore } from ${JSON.stringify(new URL("../../src/store/duckdb-store.ts", import.meta.url).href)};
         const s = await openDuckDbStore(${JSON.stringify(db)}, { readOnly: true });
         console.log("held");
         process.stdin.resume();
         process.stdin.on("end", async () => { await s.close(); process.exit(0); });`,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      let out = "";
      holder.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      await waitUntil(() => out.includes("held"), "holder", live.logs);
      // The 1m bucket is still open: every row is in the last commit, which finds the store held.
      live.stop();
      await live.waitLog(/the store is busy/);
    } finally {
      holder.stdin!.end();
    }
    const summary = await live.done;
    assert.ok(
      live.logs.some((l) => /the store is free again/.test(l)),
      live.logs.join("\n"),
    );
    assert.equal(summary.counts.counted, 13);
    assert.deepEqual(await storedPackets(db, live.port), { packets: 13, complete: [true] });
  });

  test("a FAKE tcpdump that captures once, then fails at every start: restarts back off, not fatal", async () => {
    // The fake: first start writes an empty pcap (header only) and exits 0; later ones fail at once
    // as tcpdump does when the interface is gone.
    const fake = join(dir, "fake-tcpdump.sh");
    const runs = join(dir, "fake-runs");
    writeFileSync(
      fake,
      `#!/bin/sh
echo run >> '${runs}'
if [ "$(wc -l < '${runs}')" -eq 1 ]; then
  printf '\\324\\303\\262\\241\\002\\000\\004\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\004\\000\\000\\001\\000\\000\\000'
  exit 0
fi
echo "tcpdump: $2: No such device exists" >&2
exit 1
`,
    );
    chmodSync(fake, 0o755);
    const db = join(dir, "fake.duckdb");
    const delays = { first: 100, max: 400 };
    const live = startCapture(db, { tcpdump: fake, restartDelays: delays });
    const stops = () => live.logs.filter((l) => l.startsWith("tcpdump stopped"));
    await waitUntil(() => stops().length >= 5, "five restarts", live.logs);
    live.stop();
    const summary = await live.done;
    assert.ok(summary.runs >= 5);
    // Each pause doubles up to the maximum; the log says how long, in seconds.
    const said = stops().map((l) => Number(/again in ([\d.]+) s/.exec(l)![1]));
    const expected = said.map((_, i) => Math.min(delays.first * 2 ** i, delays.max) / 1000);
    assert.deepEqual(said, expected);
    assert.match(
      live.logs.find((l) => l.startsWith("tcpdump stopped (exit code 1"))!,
      /No such device exists/,
    );
    assert.deepEqual(await storedPackets(db, live.port), { packets: 0, complete: [true] });
  });
});

describe("fatal starts of runLiveCapture", { skip: toolMissing("tcpdump") }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "moat-live-fatal-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, overrides, message, fix] of [
    [
      "no such interface",
      { interface: "does-not-exist" },
      /could not capture on does-not-exist/,
      /interface/,
    ],
    ["no tcpdump", { tcpdump: "/nonexistent/tcpdump" }, /\/nonexistent\/tcpdump/, /install tcpdump/],
  ] as const) {
    test(`${name}: an EnvironmentError, and no ingest recorded`, async () => {
      const db = join(dir, `${name.replaceAll(" ", "-")}.duckdb`);
      const live = startCapture(db, overrides);
      const error = await live.done.then(
        () => assert.fail("it started"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof EnvironmentError, String(error));
      assert.match(error.message, message);
      assert.match(error.fix, fix);
      const store = await openDuckDbStore(db, { readOnly: true });
      try {
        assert.deepEqual(await store.ingests(), []);
      } finally {
        await store.close();
      }
    });
  }
});
