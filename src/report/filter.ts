/** Renderers for `moat filter`: verdict lines for `test`, the preset table for `presets`. */
import type { PresetInfo } from "../filter/presets.js";
import type { Verdict } from "../filter/types.js";
import { type Colors, padColumns } from "./style.js";

/**
 * Two lines per packet, so a long reason never pushes the packet off the screen:
 *   deny   rule 11   udp 203.0.113.9:4444 > 198.51.100.10:11211
 *          rule 11 ("deny all") denies it: any protocol from any source.
 */
export function renderVerdictLine(packet: string, verdict: Verdict, c: Colors): string {
  const word = verdict.verdict === "allow" ? c.green("allow ") : c.red("deny  ");
  const rule = (verdict.rule === null ? "no rule" : `rule ${verdict.rule}`).padEnd(9);
  return `${word} ${c.dim(rule)} ${packet}\n       ${verdict.reason}\n`;
}

// Verdicts are shared objects (one per rule and source), so the JSON after the packet is built once.
const jsonTails = new WeakMap<Verdict, string>();

/** One JSON object per line: `{ packet, verdict, rule, reason }`. */
export function renderVerdictJson(packet: string, verdict: Verdict): string {
  let tail = jsonTails.get(verdict);
  if (tail === undefined) {
    tail = JSON.stringify({ verdict: verdict.verdict, rule: verdict.rule, reason: verdict.reason }).slice(1);
    jsonTails.set(verdict, tail);
  }
  return `{"packet":${JSON.stringify(packet)},${tail}\n`;
}

/** NAME, PARAMETERS ([optional] in brackets), DESCRIPTION; then a ready-to-run example for each. */
export function renderPresetTable(presets: readonly PresetInfo[], c: Colors): string {
  const rows = [
    ["NAME", "PARAMETERS", "DESCRIPTION"],
    ...presets.map((p) => [
      p.name,
      p.parameters.length === 0
        ? "-"
        : p.parameters.map((q) => (q.required ? q.name : `[${q.name}]`)).join(", "),
      p.description,
    ]),
  ];
  const padded = padColumns(rows);
  const lines = padded.map((row, i) => (i === 0 ? c.bold(row.join("")) : row.join("")));
  lines.push(
    "",
    "Parameters in [brackets] are optional: rules that use one are left out when it is not set.",
  );
  lines.push("Examples:");
  for (const p of presets) {
    const sets = p.parameters.filter((q) => q.required).map((q) => ` --set ${q.name}=${q.example}`);
    lines.push(`  moat filter new --preset ${p.name}${sets.join("")} > ${p.name}.yaml`);
  }
  const params = presets.flatMap((p) => p.parameters.map((q) => [`  ${p.name}: ${q.name}`, q.description]));
  if (params.length > 0) lines.push("Parameters:", ...padColumns(params).map((row) => row.join("")));
  return `${lines.join("\n")}\n`;
}

export function renderPresetsJson(presets: readonly PresetInfo[]): string {
  const data = presets.map((p) => ({
    name: p.name,
    description: p.description,
    parameters: p.parameters.map((q) => ({
      name: q.name,
      description: q.description,
      required: q.required,
      example: q.example,
    })),
  }));
  return `${JSON.stringify(data, null, 2)}\n`;
}
