/**
 * Filter -> a Terraform `sakuracloud_packet_filter` resource: the same expressions as the cloud API
 * target (cloud.ts: same expansion, same limit, same warnings), written as HCL `expression` blocks.
 * Empty fields are left out, which the provider reads as "any".
 */
import type { Filter } from "../types.js";
import { cloudExpressions } from "./cloud.js";
import type { CompileResult } from "./common.js";

/** An HCL quoted string: escapes, and `${` / `%{` doubled so nothing is read as a template. */
export function hclString(text: string): string {
  const escaped = text
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
    // A function replacement: in a replacement string "$$" would itself mean one "$".
    .replace(/\$\{/g, () => "$${")
    .replace(/%\{/g, () => "%%{");
  return `"${escaped}"`;
}

/** A resource name Terraform accepts: letters, digits, `_` and `-`, not starting with a digit. */
export function resourceName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, "_");
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `moat_${cleaned}`;
}

export function compileTerraform(filter: Filter): CompileResult {
  const { expressions, warnings } = cloudExpressions(filter);
  const lines = [
    `# Moat filter "${filter.name}" (${filter.mode}, default ${filter.default}); first matching expression wins.`,
    `resource "sakuracloud_packet_filter" ${hclString(resourceName(filter.name))} {`,
    `  name        = ${hclString(filter.name)}`,
  ];
  if (filter.description) lines.push(`  description = ${hclString(filter.description)}`);
  for (const e of expressions) {
    const fields: Array<[string, string]> = [["protocol", hclString(e.Protocol)]];
    if (e.SourceNetwork !== "") fields.push(["source_network", hclString(e.SourceNetwork)]);
    if (e.SourcePort !== "") fields.push(["source_port", hclString(e.SourcePort)]);
    if (e.DestinationPort !== "") fields.push(["destination_port", hclString(e.DestinationPort)]);
    fields.push(["allow", e.Action === "allow" ? "true" : "false"]);
    fields.push(["description", hclString(e.Description)]);
    const width = Math.max(...fields.map(([key]) => key.length));
    lines.push(
      "",
      "  expression {",
      ...fields.map(([key, value]) => `    ${key.padEnd(width)} = ${value}`),
      "  }",
    );
  }
  lines.push("}", "");
  return { output: lines.join("\n"), warnings };
}
