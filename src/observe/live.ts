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
import type { ObserveStore, StoredProblem } from "../store/observe-store.js";
import type { BucketRow, BucketSize } from "./aggregate.js";
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
  /** How long the start and the last commit wait for a store another process holds, ms (60 s). */
  storePatienceMs?: number;
}

export interface LiveSummary {
  /** null when it was stopped before tcpdump ever captured (nothing was recorded). */
  ingestId: number | null;
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0];

export async function runLiveCapture(options: LiveOptions): Promise<LiveSummary> {
  const { signal, log } = options;
  const source = `live:${options.interface}${options.filter ? ` (${options.filter})` : ""}`;
  let ingestId: number | null = null;
  const startIngest = async () => {
    const store = (await openStore(patience))!;
    try {
      ingestId = await store.startIngest({
        source,
        fingerprint: null,
        kind: "live",
        bucketSizes: options.bucketSizes,
      });
    } finally {
      await store.close();
    }
  };

  const pipeline = new IngestPipeline({
    bucketSizes: options.bucketSizes,
    latenessSeconds: options.latenessSeconds,
  });
  let commits = 0;
  let committing: Promise<void> = Promise.resolve();
  const readerProblems: StoredProblem[] = [];
  /** Taken from the pipeline but not written (the store failed mid-commit): the next commit's. */
  const unwritten: { rows: BucketRow[]; problems: StoredProblem[] } = { rows: [], problems: [] };
  /** Packets and problems as of the last commit: progress alone is worth a commit too. */
  let committed = { packets: 0, problems: 0 };
  let busy = false;
  const problemTotal = () => Object.values(pipeline.counts.decodeProblems).reduce((a, b) => a + b, 0);

  /**
   * The store is opened per commit. Another process may hold it for a moment (`moat observe report`,
   * `ingests`; DuckDB allows one writing process or several reading ones): a timed commit then
   * leaves everything pending for the next one; the start and the last commit wait up to
   * storePatienceMs.
   */
  const patience = options.storePatienceMs ?? 60_000;
  const openStore = async (patienceMs: number): Promise<ObserveStore | null> => {
    const deadline = Date.now() + patienceMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        const store = await options.openStore();
        if (busy) log("the store is free again");
        busy = false;
        return store;
      } catch (error) {
        // Only a store held by another process is worth waiting for (the DuckDB store says so with an
        // EnvironmentError); a file that is not a store will not become one.
        if (!(error instanceof EnvironmentError)) throw error;
        if (!busy) log(`the store is busy (${firstLine(error)}); keeping the counts and trying again`);
        busy = true;
        if (Date.now() >= deadline) {
          if (patienceMs > 0) throw error;
          return null;
        }
        await sleep(wait);
      }
    }
  };

  const commit = (complete: boolean): Promise<void> => {
    // One commit at a time, in order: the timer may fire while the previous one is still writing.
    committing = committing.then(async () => {
      if (ingestId === null) return;
      if (!complete) pipeline.closeBuckets(Date.now() * 1000);
      else pipeline.closeAll();
      const c = pipeline.counts;
      const nothingNew =
        pipeline.pendingSize === 0 &&
        unwritten.rows.length === 0 &&
        unwritten.problems.length === 0 &&
        readerProblems.length === 0 &&
        c.packets === committed.packets &&
        problemTotal() === committed.problems;
      if (nothingNew && !complete) return;
      const store = await openStore(complete ? patience : 0);
      if (store === null) return;
      pipeline.addReaderProblems(readerProblems.splice(0));
      const batch = pipeline.takeBatch();
      const rows = unwritten.rows.splice(0).concat(batch.rows);
      const problems = unwritten.problems.splice(0).concat(batch.problems);
      const progress = { packets: c.packets, problems: problemTotal() };
      try {
        await store.commit(ingestId, {
          rows,
          packets: progress.packets,
          problems: progress.problems,
          newProblems: problems,
          complete,
        });
      } catch (error) {
        // The commit is one transaction: nothing of it landed, so all of it goes with the next one.
        unwritten.rows.unshift(...rows);
        unwritten.problems.unshift(...problems);
        throw error;
      } finally {
        await store.close();
      }
      committed = progress;
      commits++;
      await options.onCommit?.(
        pipeline.counts,
        rows.map((r) => ({ size: r.bucketSize, bucket: r.bucket })),
      );
    });
    return committing;
  };

  // A store that cannot be opened (not a store, a newer schema) fails here, before any capture. The
  // ingest is recorded only once tcpdump captures: a wrong interface or a missing tcpdump leaves the
  // store as it was.
  await (await openStore(patience))!.close();

  const timer = setInterval(() => {
    commit(false).catch((error: Error) => log(`could not write to the store: ${error.message}`));
  }, options.commitEverySeconds * 1000);

  let runs = 0;
  let delay = options.restartDelays?.first ?? 1000;
  const maxDelay = options.restartDelays?.max ?? 30_000;
  let failure: unknown = null;
  try {
    while (!signal.aborted) {
      runs++;
      const started = Date.now();
      let outcome: CaptureOutcome;
      try {
        outcome = await captureOnce(
          options,
          pipeline,
          (p) => readerProblems.push(...p),
          async () => {
            if (ingestId === null) await startIngest();
            log(`tcpdump is capturing on ${options.interface}${runs > 1 ? ` (run ${runs})` : ""}`);
          },
        );
      } catch (error) {
        // A first start that fails is fatal (no tcpdump, no store); later, keep trying.
        if (ingestId === null) throw error;
        outcome = { gotHeader: false, exit: firstLine(error) ?? "error", stderr: "" };
      }
      if (signal.aborted) break;
      if (!outcome.gotHeader && ingestId === null) {
        throw new EnvironmentError(
          `tcpdump could not capture on ${options.interface}: ${outcome.stderr.trim() || outcome.exit}`,
          "check the interface name (ip link), and run as root or give tcpdump CAP_NET_RAW and CAP_NET_ADMIN",
        );
      }
      // A run that lasted a while was healthy: start the back-off again from the beginning.
      if (Date.now() - started > 60_000) delay = options.restartDelays?.first ?? 1000;
      // tcpdump's last word, unless it is only its greeting ("listening on ...").
      const said = outcome.stderr.trim().split("\n").at(-1) ?? "";
      const why = said === "" || said.startsWith("tcpdump: listening on") ? "" : `: ${said}`;
      log(`tcpdump stopped (${outcome.exit}${why}); starting it again in ${Math.round(delay / 100) / 10} s`);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  } catch (error) {
    failure = error;
  } finally {
    clearInterval(timer);
  }
  // Whatever ended the capture, what was counted is written (nothing, if no ingest was started).
  await commit(true);
  if (failure !== null) throw failure;
  return { ingestId, counts: pipeline.counts, runs, commits };
}

interface CaptureOutcome {
  gotHeader: boolean;
  exit: string;
  stderr: string;
}

/** One tcpdump run, until it exits or the signal stops it; `onHeader` once it is capturing. */
async function captureOnce(
  options: LiveOptions,
  pipeline: IngestPipeline,
  onProblems: (problems: StoredProblem[]) => void,
  onHeader: () => Promise<void>,
): Promise<CaptureOutcome> {
  const cannotRun = (message: string) =>
    new EnvironmentError(
      `cannot run ${options.tcpdump}: ${message}`,
      "install tcpdump (apt-get install tcpdump), or give its path with --tcpdump",
    );
  let child: ChildProcess;
  try {
    child = spawn(options.tcpdump, tcpdumpArgs(options), { stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw cannotRun((error as Error).message);
  }
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<string>((resolve, reject) => {
    // 'error' without 'exit': the program could not be started at all (missing, not executable).
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? cannotRun("no such program (is tcpdump installed?)")
          : cannotRun(error.message),
      ),
    );
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
    await onHeader();
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
  onProblems: (problems: StoredProblem[]) => void,
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
