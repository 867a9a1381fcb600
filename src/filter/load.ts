/**
 * Reads a filter file (YAML or JSON) into a Filter. Every problem is an InputError naming the file,
 * the line and the path of the bad value (`rules[3].destinationPort`), because a filter someone
 * cannot fix quickly is a filter they will not apply.
 */
import { readFileSync, statSync } from "node:fs";
import { InputError } from "../errors.js";
import {
  failAt,
  kindOf,
  type PathKey,
  readYamlSource,
  schemaError,
  type YamlSource,
} from "../input/yaml-source.js";
import { parseCidrResult } from "../net/cidr.js";
import { parsePortSpecResult } from "../net/ports.js";
import { FilterShape, type RuleData, suggestField } from "./schema.js";
import type { Cidr, Filter, FilterRule, PortRange } from "./types.js";

export { renderFilterYaml } from "./render-yaml.js";

/** A filter has at most a few hundred rules; anything this large is not a filter file. */
const MAX_FILTER_BYTES = 4 * 1024 * 1024;

export function loadFilter(path: string): Filter {
  let text: string;
  try {
    if (statSync(path).size > MAX_FILTER_BYTES)
      throw new InputError(`larger than ${MAX_FILTER_BYTES / 1024 / 1024} MiB; is this a filter file?`, {
        file: path,
      });
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read the filter file (${code ?? String(error)})`, { file: path });
  }
  return parseFilter(text, path);
}

/** Parses filter text; `file` only names the source in messages. */
export function parseFilter(text: string, file: string): Filter {
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const line = text.slice(0, nul).split("\n").length;
    throw new InputError("binary data (NUL byte); a filter file is YAML or JSON text", { file, line });
  }
  const source = readYamlSource(text, file, "filter file");
  return buildFilter(source.data, source, [], true);
}

/**
 * Validates `data` (found at `base` inside `source`) and builds the Filter. Presets call this with
 * their substituted data so that mistakes in a preset file point at the preset's own lines.
 */
export function buildFilter(data: unknown, source: YamlSource, base: PathKey[], keepLines: boolean): Filter {
  if (data === null || typeof data !== "object" || Array.isArray(data))
    failAt(
      source,
      base,
      `a filter is a mapping with name, rules and optional mode, families, default; found ${kindOf(data)}`,
    );
  const parsed = FilterShape.safeParse(data);
  if (!parsed.success) throw schemaError(source, parsed.error.issues, base, suggestField);
  const shape = parsed.data;
  const rules = shape.rules.map((rule, i) => {
    const path = [...base, "rules", i];
    return buildRule(rule, source, path, keepLines ? source.placeOf(path).line : null);
  });
  return {
    name: shape.name,
    description: shape.description ?? null,
    mode: shape.mode,
    families: shape.families,
    default: shape.default,
    rules,
  };
}

function buildRule(rule: RuleData, source: YamlSource, path: PathKey[], line: number | null): FilterRule {
  const hasPorts = rule.protocol === "tcp" || rule.protocol === "udp";
  for (const field of ["sourcePort", "destinationPort"] as const) {
    if (!hasPorts && rule[field] !== undefined && rule[field] !== null)
      failAt(
        source,
        [...path, field],
        `${rule.protocol === "icmp" || rule.protocol === "icmpv6" || rule.protocol === "ip" ? "an" : "a"} ${rule.protocol} rule has no ports (ports exist only for tcp and udp); remove ${field} or change the protocol`,
      );
  }
  const sources = buildSources(rule.source, source, [...path, "source"]);
  checkIcmpFamily(rule.protocol, sources, source, [...path, "source"]);
  return {
    action: rule.action,
    protocol: rule.protocol,
    sources,
    sourcePorts: buildPorts(rule.sourcePort, source, [...path, "sourcePort"]),
    destinationPorts: buildPorts(rule.destinationPort, source, [...path, "destinationPort"]),
    description: rule.description ?? null,
    line,
  };
}

function buildSources(value: unknown, source: YamlSource, path: PathKey[]): Cidr[] | null {
  if (value === undefined || value === null) return null;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) failAt(source, path, "an empty source list; leave source out to mean any source");
  return list.map((item, i) => {
    const itemPath = Array.isArray(value) ? [...path, i] : path;
    if (typeof item !== "string")
      failAt(
        source,
        itemPath,
        `expected an address or network such as "203.0.113.0/24", found ${kindOf(item)}`,
      );
    const cidr = parseCidrResult(item);
    if (!cidr.ok) failAt(source, itemPath, cidr.message);
    return cidr.value;
  });
}

function buildPorts(value: unknown, source: YamlSource, path: PathKey[]): PortRange[] | null {
  if (value === undefined || value === null) return null;
  const ports = parsePortSpecResult(value);
  if (!ports.ok) failAt(source, ports.index === undefined ? path : [...path, ports.index], ports.message);
  return ports.value;
}

/** An `icmp` rule with only IPv6 sources could never match; say so instead of keeping a dead rule. */
function checkIcmpFamily(
  protocol: string,
  sources: Cidr[] | null,
  source: YamlSource,
  path: PathKey[],
): void {
  if (sources === null) return;
  const wrong = protocol === "icmp" ? "ipv6" : protocol === "icmpv6" ? "ipv4" : undefined;
  const index = sources.findIndex((cidr) => cidr.family === wrong);
  if (index < 0) return;
  const hint =
    protocol === "icmp"
      ? "icmp is IPv4's ICMP; use icmpv6 for IPv6"
      : "icmpv6 is IPv6 only; use icmp for IPv4";
  const cidr = sources[index]!;
  failAt(
    source,
    sources.length > 1 ? [...path, index] : path,
    `${cidr.address}/${cidr.prefix} cannot send ${protocol}: ${hint}`,
  );
}
