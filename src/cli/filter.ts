/** `moat filter`: presets, new filters from presets, and explaining what a filter does to a packet. */
import type { Command } from "commander";
import { InputError } from "../errors.js";
import { compileFilter } from "../filter/evaluate.js";
import { loadFilter, renderFilterYaml } from "../filter/load.js";
import { formatPacket, parsePacket } from "../filter/packet.js";
import { readPacketFile } from "../filter/packet-file.js";
import { instantiatePreset, listPresets } from "../filter/presets.js";
import {
  renderPresetsJson,
  renderPresetTable,
  renderVerdictJson,
  renderVerdictLine,
} from "../report/filter.js";
import { colors, wantColor } from "../report/style.js";
import { registerFilterApply } from "./filter-apply.js";
import { registerFilterCheck } from "./filter-check.js";
import { registerFilterCompile } from "./filter-compile.js";
import { registerFilterSuggest } from "./filter-suggest.js";

const FILTER_HELP = `
A filter is an ordered list of rules in a YAML or JSON file; the first rule that matches a packet
decides it (like a cloud provider's per-NIC packet filter). Start from a preset:

Examples:
  $ moat filter presets
  $ moat filter new --preset linux-unneeded-ports --set admin=203.0.113.0/24 --set ntp=192.0.2.123 > nic.yaml
  $ moat filter test nic.yaml --packet 'udp 203.0.113.9:4444 > 198.51.100.10:11211'`;

const TEST_HELP = `
Packets are written PROTOCOL SOURCE[:PORT] > DESTINATION[:PORT] [frag]:
  udp 203.0.113.9:4444 > 198.51.100.10:11211
  tcp [2001:db8::1]:5555 > [2001:db8::2]:22
  icmp 192.0.2.1 > 192.0.2.2            (icmpv6 for IPv6)
  udp 192.0.2.1 > 192.0.2.2 frag        a second or later fragment: it carries no ports
  ip 192.0.2.1 > 192.0.2.2              any other protocol

Examples:
  $ moat filter test nic.yaml --packet 'tcp 198.51.100.7:40000 > 192.0.2.10:22'
  $ moat filter test nic.yaml --packets packets.txt --json
  $ tcpdump-to-text ... | moat filter test nic.yaml --packets -

In --packets, one packet per line; '#' starts a comment, blank lines are skipped.
--json prints one {"packet", "verdict", "rule", "reason"} object per line; "rule" is the 1-based
rule number, or null when the default action (or an uncovered address family) decided.
A stateful filter is judged on the packet as the first of a new inbound connection.`;

const NEW_HELP = `
Examples:
  $ moat filter new --preset web --set admin=203.0.113.0/24 > web.yaml
  $ moat filter new --preset linux-unneeded-ports --set admin=203.0.113.0/24,198.51.100.7 --set ntp=192.0.2.123
  $ moat filter new --preset block-reflectors > reflectors.yaml

A parameter takes an address or network, or several separated by commas. "moat filter presets"
lists every preset and its parameters.`;

interface TestFlags {
  packet?: string[];
  packets?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerFilter(program: Command): void {
  const filter = program
    .command("filter")
    .description("build per-NIC packet filters from presets and see which rule decides a packet")
    .addHelpText("after", FILTER_HELP);

  filter
    .command("presets")
    .description("list the filter presets and their parameters")
    .option("--json", "print the presets as a JSON array")
    .action((flags: { json?: boolean }) => {
      const presets = listPresets();
      process.stdout.write(
        flags.json
          ? renderPresetsJson(presets)
          : renderPresetTable(presets, colors(wantColor(process.stdout))),
      );
    });

  filter
    .command("new")
    .description("write a filter made from a preset, as YAML, to stdout")
    .requiredOption("--preset <name>", "the preset (see moat filter presets)")
    .option("--set <name=value>", "a preset parameter, e.g. admin=203.0.113.0/24 (repeatable)", collect)
    .addHelpText("after", NEW_HELP)
    .action(async (flags: { preset: string; set?: string[] }) => {
      const params = parseSets(flags.set ?? []);
      const made = await instantiatePreset(flags.preset, params);
      const command = [
        "moat filter new --preset",
        flags.preset,
        ...(flags.set ?? []).map((s) => `--set ${s}`),
      ];
      process.stdout.write(
        renderFilterYaml(
          made,
          `Made by: ${command.join(" ")}\nRules are checked top-down; the first match decides.`,
        ),
      );
    });

  filter
    .command("test")
    .description("show which rule of a filter decides each packet, and why")
    .argument("<file>", "the filter file (YAML or JSON)")
    .option(
      "--packet <text>",
      "one packet, e.g. 'udp 203.0.113.9:4444 > 198.51.100.10:11211' (repeatable)",
      collect,
    )
    .option("--packets <file>", 'packets one per line from FILE, or "-" for stdin')
    .option("--json", "one JSON object per packet and line")
    .addHelpText("after", TEST_HELP)
    .action(async (file: string, flags: TestFlags) => {
      if ((flags.packet === undefined) === (flags.packets === undefined))
        throw new InputError(
          "give the packets to test with either --packet TEXT (repeatable) or --packets FILE|-",
        );
      const compiled = compileFilter(loadFilter(file));
      const packets =
        flags.packets !== undefined
          ? await readPacketFile(flags.packets)
          : (flags.packet ?? []).map(parsePacket);
      const c = colors(wantColor(process.stdout));
      let out = "";
      for (const packet of packets) {
        const text = formatPacket(packet);
        const verdict = compiled.evaluate(packet);
        out += flags.json ? renderVerdictJson(text, verdict) : renderVerdictLine(text, verdict, c);
        // Write in pieces: a million packets would otherwise build one huge string.
        if (out.length > 1 << 16) {
          process.stdout.write(out);
          out = "";
        }
      }
      process.stdout.write(out);
    });

  registerFilterCheck(filter);
  registerFilterCompile(filter);
  registerFilterSuggest(filter);
  registerFilterApply(filter);
  for (const command of filter.commands) command.exitOverride();
}

/** ["admin=203.0.113.0/24"] -> { admin: "203.0.113.0/24" } */
function parseSets(sets: readonly string[]): Record<string, string> {
  // No prototype: "--set constructor=..." or "__proto__" must be an unknown parameter, not a lookup hit.
  const params: Record<string, string> = Object.create(null);
  for (const set of sets) {
    const eq = set.indexOf("=");
    if (eq <= 0)
      throw new InputError(`--set ${set}: write --set NAME=VALUE, e.g. --set admin=203.0.113.0/24`);
    const name = set.slice(0, eq);
    if (Object.hasOwn(params, name))
      throw new InputError(`--set ${name} is given twice; separate several values with commas`);
    params[name] = set.slice(eq + 1);
  }
  return params;
}
