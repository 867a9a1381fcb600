/** `moat`: the program, its commands, and the mapping of errors to exit codes (main.ts starts it). */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { reportError } from "./errors.js";

/**
 * Every command, loaded only when it runs: the filter and scan commands bring the YAML parser and
 * the schema library, which `moat audit` must not pay for (see scripts/build.mjs). To add a command,
 * add one entry. Help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<(program: Command) => void>> = {
  audit: async () => (await import("./audit.js")).registerAudit,
  catalog: async () => (await import("./catalog.js")).registerCatalog,
  filter: async () => (await import("./filter.js")).registerFilter,
  observe: async () => (await import("./observe.js")).registerObserve,
  scan: async () => (await import("./scan.js")).registerScan,
};

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const MAIN_HELP = `
Examples:
  sudo moat audit                          audit this host (root sees every owning process)
  moat audit --ss ss-output.txt            audit another host from its "ss -tulpn" output
  sudo moat audit --all-netns --json       every network namespace, containers included, as JSON
  moat audit --fail-on high                exit 1 when anything high or critical is found (for CI)
  moat catalog 11211/udp                   what is memcached's UDP port, and why it matters
  moat observe ingest --db t.duckdb x.pcap count scans hitting unused addresses, alert on surges

Exit status:
  0  no finding at or above --fail-on (or no --fail-on given)
  1  a finding at or above --fail-on
  2  bad usage or bad input (the message names the file and line, or the namespace that does not exist)
  3  something missing on this machine (privilege, tool); the message says how to fix it

Environment:
  NO_COLOR   set to anything to turn colour off (colour is only used on a terminal anyway)

Background: in February 2018 memcached servers left open on 11211/udp reflected DDoS attacks at up
to 51,000x. Moat finds such accidental exposure, explains it, and tells you the exact fix.
`;

/** The command named on the command line, or every command when none is (help, typos). */
function commandsFor(argv: string[]): string[] {
  const name = argv.slice(2).find((arg) => !arg.startsWith("-"));
  return name !== undefined && name in COMMANDS ? [name] : Object.keys(COMMANDS);
}

export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command("moat")
    .description("Find what this server exposes to the internet by accident, and how to close it.")
    .version(pkg.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help for moat or for a command")
    .showSuggestionAfterError()
    .exitOverride()
    .addHelpText("after", MAIN_HELP);
  for (const name of commandsFor(argv)) (await COMMANDS[name]!())(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return reportError(error, (text) => process.stderr.write(text));
  }
}

/** Runs the command line and sets the exit code. */
export async function run(argv: string[]): Promise<void> {
  // `moat ... | head` closes the pipe early; that is the reader's choice, not an error to report.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  // A promise nobody awaited yet that fails still gets the same message and exit code, never a stack trace.
  process.on("unhandledRejection", (error) => {
    process.exit(reportError(error, (text) => process.stderr.write(text)));
  });
  process.exitCode = await main(argv);
}
