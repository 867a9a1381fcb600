/** `moat observe live`: flags -> runLiveCapture, stopped by Ctrl-C or SIGTERM; alerts as buckets close. */
import { InputError } from "../errors.js";
import { BUCKET_SECONDS, type BucketSize } from "../observe/aggregate.js";
import { runLiveCapture } from "../observe/live.js";
import { keepIngestMemorySmall } from "../observe/memory-budget.js";
import { buildReport } from "../observe/report-data.js";
import { alertLine } from "../report/observe.js";

interface LiveFlags {
  interface: string;
  db: string;
  filter?: string;
  buckets: string;
  commitEvery: string;
  lateness: string;
  tcpdump: string;
  json?: boolean;
}

function seconds(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new InputError(`${flag}: "${text}" must be a whole number of seconds from ${min} to ${max}`);
  return Number(text);
}

export async function runLive(flags: LiveFlags): Promise<void> {
  keepIngestMemorySmall();
  const bucketSizes = flags.buckets.split(",").map((s) => s.trim()) as BucketSize[];
  for (const s of bucketSizes)
    if (!(s in BUCKET_SECONDS))
      throw new InputError(`--buckets: "${s}" is not a bucket size; use 1m, 1h, 1d`);
  const commitEverySeconds = seconds("--commit-every", flags.commitEvery, 1, 3600);
  const latenessSeconds = seconds("--lateness", flags.lateness, 0, 3600);
  const { openDuckDbStore } = await import("../store/duckdb-store.js");
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const log = (message: string) => process.stderr.write(`moat observe live: ${message}\n`);
  // Alerts on the finest bucket size kept: the earliest warning.
  const alertSize = [...bucketSizes].sort((a, b) => BUCKET_SECONDS[a] - BUCKET_SECONDS[b])[0]!;
  const summary = await runLiveCapture({
    interface: flags.interface,
    filter: flags.filter,
    tcpdump: flags.tcpdump,
    bucketSizes,
    commitEverySeconds,
    latenessSeconds,
    openStore: () => openDuckDbStore(flags.db),
    signal: controller.signal,
    log,
    onCommit: async (_counts, buckets) => {
      const closed = buckets.filter((b) => b.size === alertSize).map((b) => b.bucket);
      if (closed.length === 0) return;
      // The rows are written by now: a failure to look for alerts must not count as a failed commit.
      try {
        const store = await openDuckDbStore(flags.db, { readOnly: true });
        try {
          const report = await buildReport(store, { bucketSize: alertSize, since: Math.min(...closed) });
          for (const a of report.alerts.filter((x) => closed.includes(x.bucket))) {
            process.stdout.write(
              flags.json ? `${JSON.stringify(a)}\n` : `surge: ${alertLine(a, () => undefined)}\n`,
            );
          }
        } finally {
          await store.close();
        }
      } catch (error) {
        log(`could not look for surges: ${(error as Error).message.split("\n")[0]}`);
      }
    },
  }).finally(() => {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  });
  log(
    `stopped: ${summary.counts.packets.toLocaleString("en-US")} packets in ${summary.commits} commits, tcpdump started ${summary.runs} time(s); ${summary.ingestId === null ? "nothing recorded" : `ingest ${summary.ingestId}`}`,
  );
}
