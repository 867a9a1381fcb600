/** Writes a Filter back as a filter file that parseFilter reads into the same Filter. */
import { Document, isMap, isSeq, visit } from "yaml";
import { formatCidr } from "../net/cidr.js";
import { formatPortSpec } from "../net/ports.js";
import type { Filter, FilterRule } from "./types.js";

export function renderFilterYaml(filter: Filter, header?: string): string {
  const data: Record<string, unknown> = { name: filter.name };
  if (filter.description !== null) data.description = filter.description;
  data.mode = filter.mode;
  data.families = filter.families;
  data.default = filter.default;
  data.rules = filter.rules.map(ruleData);
  const doc = new Document(data);
  // Short lists (families, sources, ports) read best on one line: `destinationPort: [25, 465]`.
  visit(doc, {
    Seq(_, node) {
      if (!node.items.some((item) => isMap(item) || isSeq(item))) node.flow = true;
    },
  });
  if (header !== undefined) doc.commentBefore = header.replace(/^/gm, " ");
  // lineWidth 0: never fold a long description onto a second line.
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

function ruleData(rule: FilterRule): Record<string, unknown> {
  const out: Record<string, unknown> = { action: rule.action, protocol: rule.protocol };
  if (rule.sources !== null) {
    const sources = rule.sources.map(formatCidr);
    out.source = sources.length === 1 ? sources[0] : sources;
  }
  if (rule.sourcePorts !== null) out.sourcePort = formatPortSpec(rule.sourcePorts);
  if (rule.destinationPorts !== null) out.destinationPort = formatPortSpec(rule.destinationPorts);
  if (rule.description !== null) out.description = rule.description;
  return out;
}
