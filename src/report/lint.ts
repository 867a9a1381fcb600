/** Renderers for `moat filter check`: findings grouped by severity for people, a JSON array for tools. */
import type { LintFinding, LintSeverity } from "../filter/lint.js";
import type { Filter } from "../filter/types.js";
import type { Colors } from "./style.js";

const ORDER: readonly LintSeverity[] = ["error", "warning", "info"];
const HEADINGS: Record<LintSeverity, string> = { error: "Errors", warning: "Warnings", info: "Notes" };
const WIDTH = 100;

export interface LintTextOptions {
  /** The file the filter came from, for the summary line. */
  file: string;
  filter: Filter;
  colors: Colors;
}

/**
 *   nic.yaml: filter "web" (stateless, IPv4 and IPv6, default deny, 11 rules): 1 error, 1 warning
 *
 *   Errors
 *     ssh-lockout  rule 11 (line 24)
 *       The SSH session in use (...) would be denied by rule 11 ("deny all") ...
 *       fix: Add { action: allow, ... } before rule 11 ...
 */
export function renderLintText(findings: readonly LintFinding[], options: LintTextOptions): string {
  const { filter, colors: c } = options;
  const lines = [`${options.file}: ${describeFilter(filter)}: ${summary(findings)}`];
  for (const severity of ORDER) {
    const group = findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    lines.push("", paint(c, severity, HEADINGS[severity]));
    for (const finding of group) {
      const where = finding.rules.length === 0 ? "whole filter" : ruleRefs(finding.rules, filter);
      lines.push(`  ${paint(c, severity, finding.code)}  ${c.dim(where)}`);
      lines.push(...wrap(finding.message, "    "));
      lines.push(...wrap(`fix: ${finding.fix}`, "    ").map((line) => c.cyan(line)));
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The findings as one JSON array: `[{ code, severity, rules, message, fix }]`. */
export function renderLintJson(findings: readonly LintFinding[]): string {
  const data = findings.map(({ code, severity, rules, message, fix }) => ({
    code,
    severity,
    rules,
    message,
    fix,
  }));
  return `${JSON.stringify(data, null, 2)}\n`;
}

function describeFilter(filter: Filter): string {
  const families = filter.families.map((f) => (f === "ipv4" ? "IPv4" : "IPv6")).join(" and ");
  const count = filter.rules.length === 1 ? "1 rule" : `${filter.rules.length} rules`;
  return `filter "${filter.name}" (${filter.mode}, ${families}, default ${filter.default}, ${count})`;
}

function summary(findings: readonly LintFinding[]): string {
  if (findings.length === 0) return "no problems found.";
  const counts = ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s === "info" ? "note" : s}${n === 1 ? "" : "s"}`);
  return counts.join(", ");
}

/** "rule 3 (line 12)", "rules 3, 5 (lines 12, 14)": lines only when the filter came from a file. */
function ruleRefs(rules: readonly number[], filter: Filter): string {
  const word = rules.length === 1 ? "rule" : "rules";
  const lines = rules.map((n) => filter.rules[n - 1]?.line ?? null);
  const known = lines.every((line) => line !== null);
  const text = `${word} ${rules.join(", ")}`;
  if (!known) return text;
  return `${text} (${lines.length === 1 ? "line" : "lines"} ${lines.join(", ")})`;
}

function paint(c: Colors, severity: LintSeverity, text: string): string {
  if (severity === "error") return c.bold(c.red(text));
  if (severity === "warning") return c.yellow(text);
  return c.dim(text);
}

/** Word-wraps to WIDTH columns with `indent` on every line; a word longer than a line stays whole. */
export function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/)) {
    if (word === "") continue;
    if (line.length > indent.length && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent;
    }
    line += line.length > indent.length ? ` ${word}` : word;
  }
  if (line.length > indent.length) lines.push(line);
  return lines;
}
