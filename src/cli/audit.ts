/** `moat audit`: flags -> socket source -> classify -> render. No decisions here. */
import { type Command, Option } from "commander";
import { collectGates } from "../audit/collect-gates.js";
import { SEVERITIES, type Severity } from "../audit/types.js";
import { readSockets } from "../host/sockets.js";
import { addSourceOptions, type SourceFlags, sourceFrom } from "./source-options.js";

export const FORMATS = ["table", "json", "csv", "markdown"] as const;
export type Format = (typeof FORMATS)[number];

export interface AuditFlags extends SourceFlags {
  json?: boolean;
  format: Format;
  failOn?: Severity;
  all?: boolean;
  color: boolean;
  catalog?: string;
  filter?: string;
  firewall: boolean;
  scanFrom?: string;
}

const HELP = `
What it does:
  Lists every TCP listener and every unconnected UDP socket (the ones "ss -tul state listening"
  misses, memcached's 11211/udp among them), names the process and systemd unit that owns it,
  matches it to a service in Moat's catalog, says how far it can be reached and what it risks,
  and prints the exact fix: the config file and key to change and the systemctl commands.

Where the sockets come from (pick at most one; default: this host's /proc):
  --proc-root DIR   a copy of /proc from another host (scripts/copy-proc.sh makes one)
  --ss FILE|-       text of "ss -tuln", "ss -tulpn" or "ss -tulp" from another host ("-" = stdin)
  --netns NAME      one network namespace made by "ip netns add NAME"
  --all-netns       every network namespace on the host, containers included

Exposure (is it reachable from other hosts?):
  exposed     bound to all or a public address, and no firewall rule stops outside traffic
  restricted  the host firewall or the --filter lets only some sources in (they are named)
  blocked     bound to all addresses, but the firewall drops outside traffic to it
  local       bound to loopback, a private or a link-local address
  The host firewall (nftables and iptables) is read when auditing this host or a --netns.

Confirmed from outside (--scan-from NETNS):
  Scans this host's (or the --netns namespace's) own addresses from another network namespace, on
  the ports of the findings other hosts could reach only, with moat scan and its safety rules. A
  finding that answers is marked "confirmed" (JSON: outside.state "open", with the amplification a
  UDP service gave); one that does not answer says so in its reasons. Needs root.

Severity:
  critical  reachable from other networks and abusable right now (an open UDP reflector)
  high      a data store or admin interface reachable from other networks
  medium    an unknown program or a cleartext protocol listening on all addresses
  low       reachable, but meant to be (a public service that needs a second look)
  info      only this host can reach it: nothing to do

Examples:
  sudo moat audit
  sudo moat audit --netns web1 --json
  ssh host ss -tulpn | moat audit --ss -
  moat audit --fail-on high --format markdown > audit.md
  sudo moat audit --filter web.yaml        exposure behind the cloud filter web.yaml as well
  sudo moat audit --netns web1 --scan-from probe   and what answers when scanned from netns probe
`;

async function runAudit(flags: AuditFlags): Promise<void> {
  const source = sourceFrom(flags);
  // The socket table first: its /proc walk runs on other threads (natively) while the rest of the
  // audit's code loads (audit-report.ts: catalog, classify, renderers), not after it.
  const reading = Promise.all([
    readSockets(source),
    collectGates(source, { filterFile: flags.filter, firewall: flags.firewall }),
  ]);
  reading.catch(() => {}); // awaited in finishAudit
  const { finishAudit } = await import("./audit-report.js");
  await finishAudit(flags, source, reading);
}

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("what listens on this host, who owns it, what it risks, and the exact fix")
    .option("--json", "print the report as JSON (same as --format json)")
    .addOption(new Option("--format <format>", "report format").choices(FORMATS).default("table"))
    .addOption(
      new Option("--fail-on <level>", "exit 1 when a finding is at least this severe").choices(SEVERITIES),
    )
    .option("--all", "also list local-only sockets in the table (JSON and CSV always have them)")
    .option("--no-color", "no colour even on a terminal");
  addSourceOptions(audit)
    .option(
      "--filter <file>",
      "a packet filter in front of the NIC (cloud filter file): judge exposure through it",
    )
    .option("--no-firewall", "do not read this host's nftables/iptables rules (judge by bind address alone)")
    .option("--catalog <file>", "use this service catalog instead of the built-in one")
    .option(
      "--scan-from <netns>",
      "scan the audited addresses from this network namespace: confirm from outside",
    )
    .addHelpText("after", HELP)
    .action(runAudit);
}
