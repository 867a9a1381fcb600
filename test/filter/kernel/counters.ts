/**
 * Reads `nft -j list table inet moat` into packet counts per filter rule. A filter rule may compile
 * to several nft rules (one per family, one in the fragment chain); they share a comment and add up.
 */

/** "rule 3", "default", "unfiltered", or the comment of any other counted nft rule. */
export type CounterLabel = string;

interface NftRule {
  comment?: string;
  expr?: Array<Record<string, unknown>>;
}

export function labelOf(comment: string): CounterLabel {
  const rule = /^moat rule (\d+)\b/.exec(comment);
  if (rule) return `rule ${rule[1]}`;
  if (comment.startsWith("moat default")) return "default";
  if (comment.startsWith("moat unfiltered")) return "unfiltered";
  return comment;
}

export function parseCounters(json: string): Map<CounterLabel, number> {
  const parsed = JSON.parse(json) as { nftables?: Array<{ rule?: NftRule }> };
  const counts = new Map<CounterLabel, number>();
  for (const item of parsed.nftables ?? []) {
    const rule = item.rule;
    if (rule === undefined) continue;
    const counter = rule.expr?.find((e) => "counter" in e)?.counter as { packets?: number } | undefined;
    if (counter === undefined) continue;
    const label = labelOf(rule.comment ?? "(no comment)");
    counts.set(label, (counts.get(label) ?? 0) + (counter.packets ?? 0));
  }
  return counts;
}

/** Labels whose count grew, with how much. */
export function delta(
  before: Map<CounterLabel, number>,
  after: Map<CounterLabel, number>,
): Map<CounterLabel, number> {
  const moved = new Map<CounterLabel, number>();
  for (const [label, count] of after) {
    const grown = count - (before.get(label) ?? 0);
    if (grown !== 0) moved.set(label, grown);
  }
  return moved;
}

/**
 * `iptables-save -c` lines, "[packets:bytes] -A MOAT-RULES ... --comment "moat rule 3: x" -j DROP":
 * the commented rules of Moat's chains, added up per label like the nft counters.
 */
export function parseIptablesCounters(text: string): Map<CounterLabel, number> {
  const counts = new Map<CounterLabel, number>();
  for (const line of text.split("\n")) {
    const m = /^\[(\d+):\d+\] -A MOAT-[A-Z]+ .*--comment "?([^"]*?)"? -j /.exec(line);
    if (!m) continue;
    const label = labelOf(m[2]!);
    counts.set(label, (counts.get(label) ?? 0) + Number(m[1]));
  }
  return counts;
}
