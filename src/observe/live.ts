/**
 * `moat observe live`: tcpdump captures (`-w - -U`: pcap on stdout, flushed per packet), the ingest
 * pipeline counts, and closed buckets are committed every few seconds. tcpdump is a real dependency
 * (libpcap, BPF filters, privilege handling) rather than something to re-implement.
 *
 * If tcpdump dies (interface reset, OOM killer, someone's kill), it is started again after a pause
 * that doubles up to 30 s; the aggregators keep their state across restarts, so the buckets it spans
 * are still one row each. Only a first start that never produces a capture header is fatal: that is
 * a wrong interface or a missing privilege, which a restart will not fix.
 *
 * The store is opened for each commit and closed after, so `moat observe report` can read it in
 * between (DuckDB allows one writing process at a time).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EnvironmentError } from "../errors.js";
import type { ObserveStore } from "../store/observe-store.js";
import type { BucketSize } from "./aggregate.js";
import { openCaptureStream } from "./capture/open.js";
import type { CaptureReader } from "./capture/reader.js";
import { IngestPipeline, type PipelineCounts } from "./pipeline.js";

export interface LiveOptions {
  interface: string;
  filter?: string;
  tcpdump: string;
  bucketSizes: readonly BucketSize[];
  commitEverySeconds: number;
  latenessSeconds: number;
  openStore: () => Promise<ObserveStore>;
  signal: AbortSignal;
  /** Progress and restarts, for people (stderr). */
  log: (message: string) => void;
  /** After each commit, with the rows' buckets (to look for alerts). */
  onCommit?: (counts: PipelineCounts, buckets: { size: BucketSize; bucket: number }[]) => Promise<void>;
  /** Restart pauses, ms (tests shorten them). */
  restartDelays?: { first: number; max: number };
}

export interface LiveSummary {
  ingestId: number;
  counts: PipelineCounts;
  /** tcpdump runs: 1 + restarts. */
  runs: number;
  commits: number;
}

/** Snap length: headers and enough payload to recognise a probe; the wire length is still counted. */
const SNAP_LENGTH = 1024;

function tcpdumpArgs(options: LiveOptions): string[] {
  const args = ["-i", options.interface, "-w", "-", "-U", "-n", "-s", String(SNAP_LENGTH)];
  if (options.filter !== undefined) args.push(options.filter);
  return args;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export async function runLiveCapture(options: LiveOptions): Promise<LiveSummary> {
  const { signal, log } = options;
  const source = `live:${options.interface}${options.filter ? ` (${options.filter})` : ""}`;
  const first = await options.openStore();
  const ingestId = await first
    .startIngest({ source, fingerprint: null, kind: "live", bucketSizes: options.bucketSizes })
    .finally(() => first.close());

  const pipeline = new IngestPipeline({
    bucketSizes: options.bucketSizes,
    latenessSeconds: options.latenessSeconds,
  });
  let commits = 0;
  let committing: Promise<void> = Promise.resolve();
  const readerProblems: { index: number; offset: number; problem: string }[] = [];

  const commit = (complete: boolean): Promise<void> => {
    // One commit at a time, in order: the timer may fire while the previous one is still writing.
    committing = committing.then(async () => {
      if (!complete) pipeline.closeBuckets(Date.now() * 1000);
      else pipeline.closeAll();
      pipeline.addReaderProblems(readerProblems.splice(0));
      const { rows, problems } = pipeline.takeBatch();
      if (rows.length === 0 && problems.length === 0 && !complete) return;
      const store = await options.openStore();
      try {
        const c = pipeline.counts;
        await store.commit(ingestId, {
          rows,
          packets: c.packets,
          problems: Object.values(c.decodeProblems).reduce((a, b) => a + b, 0),
          newProblems: problems,
          complete,
        });
      } finally {
        await store.close();
      }
      commits++;
      await options.onCommit?.(
        pipeline.counts,
        rows.map((r) => ({ size: r.bucketSize, bucket: r.bucket })),
      );
    });
    return committing;
  };

  const timer = setInterval(() => {
    commit(false).catch((error: Error) => log(`could not write to the store: ${error.message}`));
  }, options.commitEverySeconds * 1000);

  let runs = 0;
  let delay = options.restartDelays?.first ?? 1000;
  const maxDelay = options.restartDelays?.max ?? 30_000;
  try {
    while (!signal.aborted) {
      runs++;
      const started = Date.now();
      const outcome = await captureOnce(options, pipeline, (p) => readerProblems.push(...p));
      if (signal.aborted) break;
      if (!outcome.gotHeader && runs === 1) {
        throw new EnvironmentError(
          `tcpdump could not capture on ${options.interface}: ${outcome.stderr.trim() || `exit ${outcome.exit}`}`,
          "check the interface name (ip link), and run as root or give tcpdump CAP_NET_RAW and CAP_NET_ADMIN",
        );
      }
      // A run that lasted a while was healthy: start the back-off again from the beginning.
      if (Date.now() - started > 60_000) delay = options.restartDelays?.first ?? 1000;
      log(
        `tcpdump stopped (${outcome.exit}${outcome.stderr.trim() ? `: ${outcome.stderr.trim().split("\n").at(-1)}` : ""}); starting it again in ${Math.round(delay / 100) / 10} s`,
      );
      await sleep(delay, signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  } finally {
    clearInterval(timer);
  }
  await commit(true);
  return { ingestId, counts: pipeline.counts, runs, commits };
}

interface CaptureOutcome {
  gotHeader: boolean;
  exit: string;
  stderr: string;
}

/** One tcpdump run, until it exits or the signal stops it. */
async function captureOnce(
  options: LiveOptions,
  pipeline: IngestPipeline,
  onProblems: (problems: { index: number; offset: number; problem: string }[]) => void,
): Promise<CaptureOutcome> {
  let child: ChildProcess;
  try {
    child = spawn(options.tcpdump, tcpdumpArgs(options), { stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new EnvironmentError(
      `cannot start ${options.tcpdump}: ${(error as Error).message}`,
      "install tcpdump (apt-get install tcpdump)",
    );
  }
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<string>((resolve, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT")
        reject(
          new EnvironmentError(
            `${options.tcpdump} is not installed`,
            "install tcpdump (apt-get install tcpdump), or give its path with --tcpdump",
          ),
        );
      else resolve(error.message);
    });
    child.once("exit", (code, sig) => resolve(sig ? `killed by ${sig}` : `exit code ${code}`));
  });
  const stop = () => child.kill("SIGTERM");
  options.signal.addEventListener("abort", stop, { once: true });
  try {
    const reader = await Promise.race([
      openCaptureStream(child.stdout!, `tcpdump -i ${options.interface}`),
      exited.then(() => null),
    ]);
    if (reader === null) return { gotHeader: false, exit: await exited, stderr };
    await pump(reader, pipeline, onProblems);
    return { gotHeader: true, exit: await exited, stderr };
  } finally {
    options.signal.removeEventListener("abort", stop);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

async function pump(
  reader: CaptureReader,
  pipeline: IngestPipeline,
  onProblems: (problems: { index: number; offset: number; problem: string }[]) => void,
): Promise<void> {
  let seen = 0;
  do {
    for (let record = reader.next(); record !== null; record = reader.next()) pipeline.add(record);
    if (reader.problems.length > seen) {
      onProblems(reader.problems.slice(seen));
      seen = reader.problems.length;
    }
  } while (await reader.fill());
  await reader.close();
}
