/** `moat scan`: flags -> targets, scope, ports -> Scanner -> streamed report. No decisions here. */
import { type Command, Option } from "commander";
import { atLeast, SEVERITIES, type Severity } from "../audit/types.js";
import { loadCatalog } from "../catalog/load.js";
import { InputError } from "../errors.js";
import { bigToAddress } from "../net/address-range.js";
import {
  progressLine,
  type ScanSummary,
  scanCsvHeader,
  scanCsvRow,
  scanJsonLine,
  scanSummaryText,
  scanTableHeader,
  scanTableRow,
  shownInReport,
} from "../report/scan.js";
import { colors, wantColor } from "../report/style.js";
import { formatIpv4 } from "../scan/intervals.js";
import {
  type PortSet,
  PROFILE_HELP,
  PROFILES,
  type Profile,
  parsePorts,
  portCount,
  profilePorts,
} from "../scan/ports.js";
import { TCP_PROBES, UDP_PROBES } from "../scan/probes/index.js";
import { DEFAULT_RATE, parseRate, RateLimiter } from "../scan/rate.js";
import { ScanState } from "../scan/resume.js";
import { type PortState, Scanner } from "../scan/scan.js";
import {
  DEFAULT_EXCLUDE_FILE,
  defaultExclude,
  MAX_UNSCOPED,
  planTargets,
  readNetworkFile,
} from "../scan/scope.js";
import { parseTarget, readTargetsFile, resolveTargets } from "../scan/targets.js";
import { letYoungGenerationGrow } from "../young-generation.js";
import { BatchedOutput } from "./batched-output.js";

interface ScanFlags {
  targetsFile?: string;
  ports?: string;
  profile?: Profile;
  rate: string;
  retries: string;
  timeout: string;
  minTimeout: string;
  answerWindow: string;
  scope?: string;
  exclude: string[];
  allowSpecial?: boolean;
  json?: boolean;
  csv?: boolean;
  all?: boolean;
  resume?: string;
  failOn?: Severity;
  color: boolean;
  catalog?: string;
}

const HELP = `
What it does:
  Looks at your addresses from the outside, as an attacker's scan would: which TCP ports accept
  connections and which UDP services answer, with a probe per protocol that identifies the service
  (memcached, NTP monlist and version, DNS recursion and version.bind, CharGEN, QOTD, SNMP, SSDP, ...)
  and measures its amplification: reply bytes / request bytes. An open reflector is critical.

Targets:
  192.0.2.10  2001:db8::10  203.0.113.0/24  198.51.100.1-198.51.100.40  198.51.100.1-40
  host names (every address they resolve to), or --targets-file FILE with one target a line
  ("#" starts a comment).

Ports:
  --ports 11211/udp,123/udp,22/tcp,1-1024/tcp    every port names its protocol
  --profile reflectors    ${PROFILE_HELP.reflectors} (default)
  --profile exposure      ${PROFILE_HELP.exposure}
  --profile all-catalog   ${PROFILE_HELP["all-catalog"]}

Safety (moat scan is meant to be safe to hand to anyone):
  - Only what you name is scanned. More than ${MAX_UNSCOPED} addresses need --scope FILE, a list of the
    networks you are responsible for (one CIDR, range or address a line); every target must lie inside.
  - IANA special-purpose ranges (private, documentation, CGN, link-local, multicast, reserved, and
    their IPv6 counterparts) are refused unless you name a target inside one and add --allow-special;
    a wider target skips them. Loopback (127.0.0.0/8, ::1) is this host: allowed when named.
  - Opt-out lists are always honoured: every --exclude FILE, and ${DEFAULT_EXCLUDE_FILE} when it exists.
  - Rate-limited: --rate ${DEFAULT_RATE} packets (or connections) per second by default, short bursts only.
  - Probes are the smallest requests that identify a service, never the ones that maximise a reply.

States:
  open           a TCP connect succeeded, or the UDP service answered the probe (matched by its cookie)
  closed         TCP reset, or ICMP port unreachable (UDP without the native addon: only with
                 --retries 1 or more)
  filtered       no TCP answer, or ICMP host/admin unreachable
  open|filtered  UDP silence: a firewall or a service that ignores the probe; UDP cannot tell which

Timing (UDP):
  A probe is retried when no answer came within what the round trips measured so far suggest
  (smoothed round trip + 4 times its variation, as nmap and TCP do), kept between --min-timeout
  (20 ms) and --timeout (1000 ms; also the wait before anything was measured). A port is called silent
  only after its last retry timed out and at least --answer-window (100 ms; longer when the answers
  seen so far came slower) after its first probe: ICMP round trips measure the network, not how slowly
  a daemon answers (a script behind inetd takes tens of ms), and an answer to any attempt counts. On a
  slow or lossy path raise both; --min-timeout equal to --timeout is a fixed wait per attempt.

Output:
  a table of open ports (--all: every result), --json one object per line for every result:
  { ip, protocol, port, state, service, severity, requestBytes, responseBytes, amplification, fields, ... }
  --csv: Shadowserver scan-report columns (timestamp, ip, protocol, port, hostname, tag, version, ...,
  response_size, amplification). A progress line goes to stderr on a terminal.

Examples:
  moat scan 203.0.113.7                                      reflector ports of one server
  moat scan --ports 11211/udp,11211/tcp web1.example.org
  moat scan --scope ours.txt --profile exposure 198.51.100.0/24 --json > scan.jsonl
  moat scan --scope ours.txt --targets-file hosts.txt --resume scan.state --csv > report.csv
  moat scan 127.0.0.1 --ports 1-1024/tcp --rate max          this host, over loopback

Exit status: 0 done; 1 a result at or above --fail-on; 2 bad input or a refused target (the message
says why and which flag changes it); 3 an environment problem; 130 interrupted (continue with --resume).
`;

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new InputError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  return Number(text);
}

async function choosePorts(flags: ScanFlags): Promise<PortSet> {
  if (flags.ports !== undefined && flags.profile !== undefined)
    throw new InputError("give --ports or --profile, not both");
  if (flags.ports !== undefined) return parsePorts(flags.ports);
  return profilePorts(await loadCatalog(flags.catalog), flags.profile ?? "reflectors");
}

async function runScan(targets: string[], flags: ScanFlags): Promise<void> {
  letYoungGenerationGrow(); // a large scan allocates per probe for seconds
  const retries = integer("--retries", flags.retries, 0, 10);
  const timeoutMs = integer("--timeout", flags.timeout, 10, 60_000);
  const minTimeoutMs = integer("--min-timeout", flags.minTimeout, 1, 60_000);
  const answerWindowMs = integer("--answer-window", flags.answerWindow, 0, 60_000);
  const rate = parseRate(flags.rate);
  if (flags.json && flags.csv) throw new InputError("give --json or --csv, not both");

  const specs = targets.map((t) => parseTarget(t));
  if (flags.targetsFile !== undefined) specs.push(...readTargetsFile(flags.targetsFile));
  const resolved = await resolveTargets(specs);
  const exclude = [...defaultExclude(), ...flags.exclude.flatMap((f) => readNetworkFile(f))];
  const scope =
    flags.scope === undefined ? undefined : { file: flags.scope, networks: readNetworkFile(flags.scope) };
  const plan = planTargets(resolved, { allowSpecial: flags.allowSpecial === true, exclude, scope });
  const [ports, catalog] = await Promise.all([choosePorts(flags), loadCatalog(flags.catalog)]);
  if (portCount(ports) === 0) throw new InputError("no ports to scan");
  const hostnames = new Map<string, string>();
  for (const spec of resolved)
    if (spec.hostname !== undefined)
      for (const i of spec.intervals)
        hostnames.set(
          i.family === "ipv4" ? formatIpv4(Number(i.first)) : bigToAddress("ipv6", i.first),
          spec.hostname,
        );

  for (const note of plan.notes) process.stderr.write(`moat: note: ${note}\n`);
  const state = flags.resume === undefined ? undefined : ScanState.open(flags.resume);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const scanner = new Scanner({
    plan,
    ports,
    catalog,
    udpProbes: UDP_PROBES,
    tcpProbes: TCP_PROBES,
    rate: new RateLimiter({ rate }),
    retries,
    timeoutMs,
    udp: { minTimeoutMs, answerWindowMs },
    hostnames,
    signal: stop.signal,
    ...(state ? { state } : {}),
  });
  const c = colors(flags.color && wantColor(process.stdout));
  const format = flags.json ? "json" : flags.csv ? "csv" : "table";
  const all = flags.all === true;
  const layout = { ipWidth: plan.intervals.some((i) => i.family === "ipv6") ? 39 : 15 };
  const started = performance.now();
  const showProgress = process.stderr.isTTY === true;
  let lastProgress = 0;
  const clearProgress = () => {
    if (showProgress && lastProgress > 0) process.stderr.write("\r\x1b[K");
  };
  const counts: Record<PortState, number> = { open: 0, closed: 0, filtered: 0, "open|filtered": 0 };
  const severities = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  let failed = false;

  // --resume records a result as done once it is taken: a batch not yet written would then be lost.
  const out = new BatchedOutput(process.stdout, state === undefined);
  try {
    if (format === "table") out.write(scanTableHeader(layout, c));
    if (format === "csv") out.write(scanCsvHeader());
    for await (const batch of scanner.batches())
      for (const r of batch) {
        counts[r.state]++;
        if (r.state === "open") severities[r.severity]++;
        if (flags.failOn !== undefined && r.state === "open" && atLeast(r.severity, flags.failOn))
          failed = true;
        let line: string | undefined;
        if (format === "json") line = scanJsonLine(r);
        else if (shownInReport(r, all))
          line = format === "csv" ? scanCsvRow(r, new Date()) : scanTableRow(r, layout, c);
        if (line !== undefined) {
          clearProgress();
          const wait = out.write(line);
          if (wait !== null) await wait;
        }
        const now = performance.now();
        if (showProgress && now - lastProgress > 200) {
          lastProgress = now;
          process.stderr.write(
            `\r${progressLine(scanner.done + scanner.skipped, scanner.total, now - started)}\x1b[K`,
          );
        }
      }
  } finally {
    clearProgress();
    out.flush();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    state?.close();
  }

  const warnings: string[] = [];
  const { udp, tcp } = scanner;
  for (const [code, n] of Object.entries({ ...udp.stats.sendErrors, ...tcp.stats.errors }))
    warnings.push(`${n} sends failed with ${code}; those ports may show as silent`);
  if (udp.stats.probeErrors + tcp.stats.probeErrors > 0)
    warnings.push(`${udp.stats.probeErrors + tcp.stats.probeErrors} probe errors (a bug in a probe module)`);
  if (udp.stats.stray > 0)
    warnings.push(`${udp.stats.stray} datagrams matched no request (late, stray or forged) and were ignored`);
  const summary: ScanSummary = {
    counts,
    severities,
    elapsedMs: performance.now() - started,
    sent: udp.stats.sent + tcp.stats.connects,
    skipped: scanner.skipped,
    warnings,
  };
  if (format === "table") out.write(scanSummaryText(summary, c));
  else for (const w of warnings) process.stderr.write(`moat: warning: ${w}\n`);
  await out.end();

  if (stop.signal.aborted) {
    process.stderr.write(
      flags.resume === undefined
        ? "moat: interrupted; add --resume FILE next time to be able to continue a scan\n"
        : `moat: interrupted; run the same command again to continue from ${flags.resume}\n`,
    );
    process.exitCode = 130;
    return;
  }
  process.exitCode = failed ? 1 : 0;
}

export function registerScan(program: Command): void {
  program
    .command("scan")
    .description("scan your own addresses from outside: open ports, UDP reflectors and their amplification")
    .argument("[targets...]", "addresses, networks (CIDR), ranges, host names")
    .option("--targets-file <file>", "more targets, one a line (# comments)")
    .option("--ports <list>", "ports with protocols: 11211/udp,22/tcp,1-1024/tcp")
    .addOption(
      new Option("--profile <name>", "a port set from the catalog (default reflectors)").choices(PROFILES),
    )
    .option("--rate <pps>", 'packets or connections per second, or "max"', String(DEFAULT_RATE))
    .option("--retries <n>", "extra attempts for a port that did not answer", "1")
    .option(
      "--timeout <ms>",
      "longest wait for an answer; UDP waits this long until a round trip was measured, then adapts",
      "1000",
    )
    .option("--min-timeout <ms>", "UDP: shortest adaptive wait before a retry", "20")
    .option("--answer-window <ms>", "UDP: a port is silent no sooner than this after its first probe", "100")
    .option("--scope <file>", "networks you are responsible for; needed above 256 addresses")
    .option(
      "--exclude <file>",
      "networks never to scan (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--allow-special", "allow targets named inside IANA special-purpose ranges (labs, own networks)")
    .option("--json", "one JSON object per line for every result")
    .option("--csv", "CSV with Shadowserver scan-report columns")
    .option("--all", "table and CSV: every result, not only open ports")
    .option("--resume <file>", "record finished work here and skip what an earlier run finished")
    .addOption(
      new Option("--fail-on <level>", "exit 1 when an open port is at least this severe").choices(SEVERITIES),
    )
    .option("--no-color", "no colour even on a terminal")
    .option("--catalog <file>", "use this service catalog instead of the built-in one")
    .addHelpText("after", HELP)
    .action(runScan);
}
