/** `moat observe`: flags -> ingest / live / report / alerts / ingests over one store. No decisions here. */
import { writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { loadCatalog } from "../catalog/load.js";
import { InputError } from "../errors.js";
import { BUCKET_SECONDS, type BucketSize } from "../observe/aggregate.js";
import { DEFAULT_BUCKET_SIZES, type IngestResult, ingestFile } from "../observe/ingest.js";
import { keepIngestMemorySmall } from "../observe/memory-budget.js";
import {
  buildReport,
  chartSeries,
  type ObserveReportData,
  type ReportQuery,
} from "../observe/report-data.js";
import type { TransportProtocol } from "../observe/types.js";
import { alertLine, ingestSummaryText, observeReportText, type ServiceName, utc } from "../report/observe.js";
import { colors, wantColor } from "../report/style.js";
import type { ObserveStore } from "../store/observe-store.js";

const BUCKET_SIZES = Object.keys(BUCKET_SECONDS) as BucketSize[];

const HELP = `
What it does:
  A scan telescope. Point it at traffic to addresses you do not use (a darknet): everything that
  arrives there is someone scanning, or the backscatter of a flood that forged your addresses.
  moat observe counts it per port and per time bucket, tells which tools sent it, and raises an
  alert when a port suddenly draws many more sources or packets than usual - the early warning
  JPCERT/CC's sensors gave days before the 2018 memcached attacks (a rise on 11211/udp).

Commands:
  ingest FILE...   read pcap/pcapng captures (plain or .gz) into the store
  live -i IF       capture on an interface with tcpdump, writing to the store as buckets close
  report           tables (and --chart FILE.svg|.png) of ports, sources, surges
  alerts           the surges, one line each (--json: one object per line)
  ingests          what the store holds, and the problems found in each capture

The store (--db PATH) is a DuckDB file. Every batch is one transaction: killing an ingest loses at
most the batch being written, and running it again resumes without counting anything twice. The
same file ingested twice is recognised and skipped.

Examples:
  moat observe ingest --db telescope.duckdb sensor-2018-02-2*.pcap.gz
  sudo moat observe live -i eth1 --db telescope.duckdb
  moat observe report --db telescope.duckdb --since 2018-02-20 --top 5 --chart surge.png
  moat observe report --db telescope.duckdb --port 11211/udp --bucket 1d
  moat observe alerts --db telescope.duckdb --json
`;

function parseBuckets(text: string): BucketSize[] {
  const sizes = text.split(",").map((s) => s.trim());
  for (const s of sizes)
    if (!BUCKET_SIZES.includes(s as BucketSize))
      throw new InputError(`--buckets: "${s}" is not a bucket size; use ${BUCKET_SIZES.join(", ")}`);
  return sizes as BucketSize[];
}

/** "2018-02-21", "2018-02-21 12:00", an ISO time with zone, or Unix seconds; no zone means UTC. */
export function parseTime(flag: string, text: string): number {
  if (/^\d{9,11}$/.test(text)) return Number(text);
  const iso = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$/.test(text)
    ? `${text.replace(" ", "T")}Z`
    : text;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(iso) ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms))
    throw new InputError(
      `${flag}: "${text}" is not a time; use 2018-02-21, "2018-02-21 12:00" (UTC) or Unix seconds`,
    );
  return Math.floor(ms / 1000);
}

export function parsePortFilter(text: string): { protocol: TransportProtocol; port: number | null } {
  const m = /^(?:(\d{1,5})\/(tcp|udp)|(icmp|icmpv6))$/.exec(text.trim());
  if (m === null || (m[1] !== undefined && Number(m[1]) > 65535))
    throw new InputError(`--port: "${text}" must look like 11211/udp, 23/tcp, icmp or icmpv6`);
  if (m[3] !== undefined) return { protocol: m[3] as TransportProtocol, port: null };
  return { protocol: m[2] as TransportProtocol, port: Number(m[1]) };
}

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new InputError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  return Number(text);
}

async function withStore<T>(
  path: string,
  readOnly: boolean,
  use: (store: ObserveStore) => Promise<T>,
): Promise<T> {
  const { openDuckDbStore } = await import("../store/duckdb-store.js");
  const store = await openDuckDbStore(path, { readOnly });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

async function serviceNames(): Promise<ServiceName> {
  const catalog = await loadCatalog();
  return (protocol, port) =>
    port !== null && (protocol === "tcp" || protocol === "udp")
      ? catalog.identify(port, protocol)?.name
      : undefined;
}

interface IngestFlags {
  db: string;
  buckets: string;
  force?: boolean;
  json?: boolean;
  lateness: string;
  /** Hidden, for tests and tuning: port rows per committed batch. */
  batchRows?: string;
}

/** For MOAT_OBSERVE_TRACE: where the memory is (JS heap vs native, DuckDB's included). */
function memoryNote(): string {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round(n / 2 ** 20);
  return `; rss ${mib(m.rss)} MiB, js heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB`;
}

async function runIngest(files: string[], flags: IngestFlags): Promise<void> {
  keepIngestMemorySmall();
  const bucketSizes = parseBuckets(flags.buckets);
  const latenessSeconds = integer("--lateness", flags.lateness, 0, 86_400);
  const batchRows =
    flags.batchRows === undefined ? undefined : integer("--batch-rows", flags.batchRows, 1, 1e9);
  const tty = process.stderr.isTTY === true && !flags.json;
  // MOAT_OBSERVE_TRACE: one line per committed batch, also off a terminal (tests kill an ingest mid-way on it).
  const trace = Boolean(process.env.MOAT_OBSERVE_TRACE);
  const results: IngestResult[] = [];
  await withStore(flags.db, false, async (store) => {
    for (const file of files) {
      const started = Date.now();
      const result = await ingestFile(file, store, {
        bucketSizes,
        latenessSeconds,
        force: flags.force,
        batchRows,
        onBatch: (c) => {
          if (trace)
            process.stderr.write(`batch committed: ${file}: ${c.packets} packets read${memoryNote()}\n`);
          else if (tty) {
            const rate = Math.round(c.packets / Math.max((Date.now() - started) / 1000, 0.001));
            process.stderr.write(
              `\r${file}: ${c.packets.toLocaleString("en-US")} packets, ${rate.toLocaleString("en-US")}/s `,
            );
          }
        },
      });
      if (tty) process.stderr.write("\r\x1b[K");
      results.push(result);
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : ingestSummaryText(result));
    }
  });
}

interface QueryFlags {
  db: string;
  bucket: BucketSize;
  since?: string;
  until?: string;
  top: string;
  port?: string;
  json?: boolean;
  chart?: string[];
  color: boolean;
}

function reportQuery(flags: QueryFlags): ReportQuery {
  const since = flags.since === undefined ? undefined : parseTime("--since", flags.since);
  const until = flags.until === undefined ? undefined : parseTime("--until", flags.until);
  if (since !== undefined && until !== undefined && until <= since)
    throw new InputError(`--until (${utc(until)}) must be after --since (${utc(since)})`);
  return {
    bucketSize: flags.bucket,
    since,
    until,
    top: integer("--top", flags.top, 1, 1000),
    ...(flags.port === undefined ? {} : parsePortFilter(flags.port)),
  };
}

async function writeCharts(report: ObserveReportData, files: string[]): Promise<void> {
  const { renderChartPng, renderChartSvg } = await import("../observe/chart.js");
  const series = chartSeries(report);
  for (const file of files) {
    // runReport has checked that each name ends in .svg or .png.
    await writeFile(
      file,
      file.endsWith(".svg") ? await renderChartSvg(series) : await renderChartPng(series),
    );
    process.stderr.write(`chart written to ${file}\n`);
  }
}

async function runReport(flags: QueryFlags): Promise<void> {
  const query = reportQuery(flags);
  for (const file of flags.chart ?? [])
    if (!file.endsWith(".svg") && !file.endsWith(".png"))
      throw new InputError(`--chart: "${file}" must end in .svg or .png (that decides the format)`);
  const report = await withStore(flags.db, true, (store) => buildReport(store, query));
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else
    process.stdout.write(
      observeReportText(
        report,
        colors(flags.color && wantColor(process.stdout)),
        await serviceNames(),
        query.top ?? 5,
      ),
    );
  if (flags.chart && flags.chart.length > 0) await writeCharts(report, flags.chart);
}

async function runAlerts(flags: QueryFlags): Promise<void> {
  // The flags first: a bad --since is the message, whatever the store.
  const query = reportQuery(flags);
  const report = await withStore(flags.db, true, (store) => buildReport(store, query));
  if (flags.json) {
    for (const a of report.alerts) process.stdout.write(`${JSON.stringify(a)}\n`);
    return;
  }
  const service = await serviceNames();
  if (report.alerts.length === 0) process.stdout.write("No surges in this range.\n");
  for (const a of report.alerts) process.stdout.write(`${alertLine(a, service)}\n`);
}

async function runIngests(flags: { db: string; json?: boolean; problems?: boolean }): Promise<void> {
  await withStore(flags.db, true, async (store) => {
    const ingests = await store.ingests();
    for (const i of ingests) {
      const problems = flags.problems ? await store.problems(i.id) : [];
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(flags.problems ? { ...i, problemList: problems } : i)}\n`);
        continue;
      }
      const state = i.complete ? "complete" : "interrupted (ingest the same file again to finish it)";
      process.stdout.write(
        `${i.id}  ${i.kind} ${i.source}  ${i.packets.toLocaleString("en-US")} packets, ${i.problems} problems, ${i.buckets} bucket rows, ${state}\n`,
      );
      for (const p of problems)
        process.stdout.write(`    packet ${p.index} (byte ${p.offset}): ${p.problem}\n`);
    }
    if (ingests.length === 0 && !flags.json) process.stdout.write("The store is empty.\n");
  });
}

export function registerObserve(program: Command): void {
  const observe = program
    .command("observe")
    .description("scan telescope: per-port trends, top ports and surge alerts from captured traffic")
    .addHelpText("after", HELP);

  const dbOption = () => new Option("--db <path>", "the store (a DuckDB file)").makeOptionMandatory();
  const queryOptions = (command: Command) =>
    command
      .addOption(dbOption())
      .addOption(new Option("--bucket <size>", "bucket size").choices(BUCKET_SIZES).default("1h"))
      .option("--since <time>", 'first bucket (2018-02-21, "2018-02-21 12:00" UTC, or Unix seconds)')
      .option("--until <time>", "end of the range (exclusive)")
      .option("--top <n>", "ports, sources and victims shown", "5")
      .option("--port <port>", "one port only: 11211/udp, 23/tcp, icmp")
      .option("--json", "JSON instead of tables")
      .option("--no-color", "no colour even on a terminal");

  observe
    .command("ingest")
    .description("read pcap/pcapng files (plain or gzip) into the store")
    .argument("<files...>", "capture files")
    .addOption(dbOption())
    .option("--buckets <sizes>", "bucket sizes to keep", DEFAULT_BUCKET_SIZES.join(","))
    .option(
      "--lateness <seconds>",
      "how long out-of-order packets are waited for before a bucket is written",
      "60",
    )
    .option("--force", "ingest a file again even if the store has it (it then counts twice)")
    .option("--json", "one JSON summary per file")
    .addOption(new Option("--batch-rows <n>", "port rows per committed batch").hideHelp())
    .action((files: string[], flags: IngestFlags) => runIngest(files, flags));

  observe
    .command("live")
    .description("capture with tcpdump on an interface and write to the store as buckets close")
    .requiredOption("-i, --interface <name>", "interface to capture on")
    .addOption(dbOption())
    .option("--filter <expression>", "tcpdump filter expression (default: everything)")
    .option("--buckets <sizes>", "bucket sizes to keep", DEFAULT_BUCKET_SIZES.join(","))
    .option("--commit-every <seconds>", "write closed buckets at least this often", "10")
    .option("--lateness <seconds>", "how long after its end a bucket is written", "5")
    .option("--tcpdump <path>", "tcpdump binary", "tcpdump")
    .option("--json", "alerts as JSON lines on stdout")
    .action(async (flags) => (await import("./observe-live.js")).runLive(flags));

  queryOptions(
    observe
      .command("report")
      .description("tables of top ports, sources, victims and surges; --chart writes SVG or PNG")
      .option("--chart <file...>", "write a chart: FILE.svg or FILE.png"),
  ).action((flags: QueryFlags) => runReport(flags));

  queryOptions(
    observe.command("alerts").description("surges: a port drawing many more sources or packets than usual"),
  ).action((flags: QueryFlags) => runAlerts(flags));

  observe
    .command("ingests")
    .description("what the store holds: one line per ingest")
    .addOption(dbOption())
    .option("--problems", "list the problems found in each capture (packet index and byte offset)")
    .option("--json", "one JSON object per ingest")
    .action((flags) => runIngests(flags));
}
