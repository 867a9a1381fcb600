/** `moat filter check FILE`: lint a filter before it is applied. Parses flags, calls the linter, renders. */
import { type Command, Option } from "commander";
import { loadCatalog } from "../catalog/load.js";
import { type LintTarget, lintFilter } from "../filter/lint.js";
import { loadFilter } from "../filter/load.js";
import { renderLintJson, renderLintText } from "../report/lint.js";
import { colors, wantColor } from "../report/style.js";
import { EXIT } from "./errors.js";

const CHECK_HELP = `
Finds, each with the rule numbers and a fix:
  unreachable             a rule every packet of which an earlier rule already decides
  after-catch-all         rules after one that matches every packet ("ip" from anywhere)
  missing-return-traffic  a stateless filter that drops replies to the server's own connections
                          (DNS lookups, package downloads, NTP break)
  ssh-lockout             the SSH session you are using (SSH_CONNECTION) would be denied
  too-many-rules          more rules than the cloud filter takes (30, lists expanded) [--target cloud]
  ipv6-open               IPv6 passes unfiltered (IPv4-only filter, or the IPv4-only cloud filter)
  exposed-reflector       a UDP reflector port (memcached, NTP, SSDP, ...) open to everyone
  exposed-lan-service     a LAN-only or host-only service (databases, Docker API, ...) open to everyone
  default-allow           default allow and no deny-all where a deny was clearly meant
Which packets reach which rule is computed exactly over protocol, address and port sets.

Examples:
  $ moat filter check nic.yaml
  $ moat filter check nic.yaml --target cloud        also the cloud filter's limits
  $ moat filter check nic.yaml --json | jq '.[] | select(.severity == "error")'

Exit status: 0 no error-level finding (warnings and notes may be printed), 1 at least one error,
2 the file cannot be read or is not a valid filter.
Environment: SSH_CONNECTION (set by sshd) is checked against the filter so you do not lock yourself out.`;

interface CheckFlags {
  target: LintTarget;
  json?: boolean;
}

export function registerFilterCheck(filter: Command): void {
  filter
    .command("check")
    .description(
      "find mistakes in a filter before applying it: shadowed rules, lockouts, missing return traffic",
    )
    .argument("<file>", "the filter file (YAML or JSON)")
    .addOption(
      new Option("--target <target>", "where the filter will run: the host's nftables, or the cloud filter")
        .choices(["nft", "cloud"])
        .default("nft"),
    )
    .option("--json", "print the findings as a JSON array of {code, severity, rules, message, fix}")
    .addHelpText("after", CHECK_HELP)
    .exitOverride()
    .action(async (file: string, flags: CheckFlags) => {
      const parsed = loadFilter(file);
      const catalog = await loadCatalog();
      const sshConnection = process.env.SSH_CONNECTION;
      const findings = lintFilter(parsed, {
        target: flags.target,
        catalog,
        ...(sshConnection === undefined ? {} : { sshConnection }),
      });
      process.stdout.write(
        flags.json
          ? renderLintJson(findings)
          : renderLintText(findings, { file, filter: parsed, colors: colors(wantColor(process.stdout)) }),
      );
      process.exitCode = findings.some((f) => f.severity === "error") ? EXIT.findings : EXIT.ok;
    });
}
