/** `moat filter compile FILE --to nft|iptables|cloud-json|terraform`: flags -> compile -> stdout. */
import { type Command, Option } from "commander";
import { COMPILE_TARGETS, type CompileTarget, compile } from "../filter/compile/index.js";
import { loadFilter } from "../filter/load.js";

const HELP = `
Targets:
  nft         an "nft -f" script that replaces only Moat's own table (inet moat), in one transaction
  iptables    iptables-restore and ip6tables-restore input, in Moat's own MOAT-INPUT chain
  cloud-json  the cloud packet filter API's expressions (IPv4 only, at most 30 rules)
  terraform   a packet filter resource with one expression block per rule

Every target keeps the filter's meaning: first match wins, the default action last. What a target
cannot express (IPv6 or ICMPv6 on the cloud filter, too many rules) is printed to stderr as a
warning naming the rule, never dropped silently.

Examples:
  moat filter compile web.yaml --to nft > web.nft && nft -c -f web.nft
  moat filter compile web.yaml --to nft --interface eth0      judge only packets arriving on eth0
  moat filter compile web.yaml --to cloud-json > expressions.json
`;

interface CompileFlags {
  to: CompileTarget;
  interface?: string;
  counters?: boolean;
}

export function registerFilterCompile(filter: Command): void {
  filter
    .command("compile")
    .description("turn a filter file into nftables, iptables, cloud API JSON or Terraform")
    .argument("<file>", "the filter file (YAML or JSON)")
    .addOption(new Option("--to <target>", "what to write").choices(COMPILE_TARGETS).makeOptionMandatory())
    .option("--interface <name>", "judge only packets arriving on this NIC (nft, iptables)")
    .option("--counters", "a counter on every nft rule, to see which rule packets hit")
    .addHelpText("after", HELP)
    .action((file: string, flags: CompileFlags) => {
      const result = compile(loadFilter(file), flags.to, {
        ...(flags.interface === undefined ? {} : { interface: flags.interface }),
        counters: flags.counters === true,
      });
      for (const warning of result.warnings) process.stderr.write(`moat: warning: ${warning}\n`);
      process.stdout.write(result.output.endsWith("\n") ? result.output : `${result.output}\n`);
    });
}
