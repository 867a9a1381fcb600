/** `moat filter suggest`: audit this host's sockets, then write the filter that keeps only what should be open. */
import { type Command, Option } from "commander";
import { classify } from "../audit/classify.js";
import { loadCatalog } from "../catalog/load.js";
import { InputError } from "../errors.js";
import { renderFilterYaml } from "../filter/load.js";
import { suggestFilter } from "../filter/suggest.js";
import type { Cidr } from "../filter/types.js";
import { readSockets } from "../host/sockets.js";
import { parseCidrResult } from "../net/cidr.js";
import { addSourceOptions, type SourceFlags, sourceFrom } from "./source-options.js";

const HELP = `
What it writes:
  Public services that listen here (web, mail, DNS, ...) stay open to everyone; admin services
  (SSH, RDP, VNC, Webmin, ...) are open only to --admin; ICMP is allowed; everything else,
  data stores and unknown programs included, falls to the default deny. The filter's description
  lists what it denies. Review it, check it, then apply it.

Examples:
  sudo moat filter suggest --admin 203.0.113.0/24 > host.yaml
  moat filter check host.yaml && sudo moat filter apply host.yaml
  moat filter suggest --ss ss.txt --admin 198.51.100.7 --mode stateless   for a cloud filter
`;

interface SuggestFlags extends SourceFlags {
  admin: string[];
  mode: "stateful" | "stateless";
  name: string;
}

function parseAdmin(values: string[]): Cidr[] {
  return values
    .flatMap((v) => v.split(","))
    .map((text) => {
      const result = parseCidrResult(text);
      if (!result.ok) throw new InputError(`--admin ${text}: ${result.message}`);
      return result.value;
    });
}

export function registerFilterSuggest(filter: Command): void {
  const suggest = filter
    .command("suggest")
    .description(
      "write a filter from this host's audit: public services open, admin from --admin, rest denied",
    )
    .option(
      "--admin <network...>",
      "networks or addresses allowed to reach admin services (SSH, RDP, ...)",
      [],
    )
    .addOption(
      new Option("--mode <mode>", "stateful (a host firewall) or stateless (a cloud filter)")
        .choices(["stateful", "stateless"])
        .default("stateful"),
    )
    .option("--name <name>", "the filter's name", "suggested");
  addSourceOptions(suggest)
    .addHelpText("after", HELP)
    .action(async (flags: SuggestFlags) => {
      const admin = parseAdmin(flags.admin);
      const [table, catalog] = await Promise.all([readSockets(sourceFrom(flags)), loadCatalog()]);
      const report = classify(table, catalog, new Date());
      const result = suggestFilter(report.findings, catalog, { admin, mode: flags.mode, name: flags.name });
      process.stdout.write(
        renderFilterYaml(result, `Suggested by moat for ${report.host} (${report.source}).`),
      );
    });
}
