/**
 * The shape of a filter file, checked by zod. Values that need real parsing (sources, ports) are
 * taken as they come here and parsed in load.ts, which knows how to say exactly what is wrong.
 */
import { z } from "zod";
import { FILTER_PROTOCOLS } from "./types.js";

export const FAMILIES = ["ipv4", "ipv6"] as const;
export const ACTIONS = ["allow", "deny"] as const;
export const MODES = ["stateless", "stateful"] as const;

export const RuleShape = z.strictObject({
  action: z.enum(ACTIONS),
  protocol: z.enum(FILTER_PROTOCOLS),
  /** One CIDR or address, or a list; absent or empty (null) = any source. */
  source: z.unknown().optional(),
  sourcePort: z.unknown().optional(),
  destinationPort: z.unknown().optional(),
  description: z.string().nullable().optional(),
});

export const FilterShape = z.strictObject({
  name: z.string().min(1),
  description: z.string().nullable().optional(),
  mode: z.enum(MODES).default("stateless"),
  families: z
    .array(z.enum(FAMILIES))
    .min(1)
    .refine((list) => new Set(list).size === list.length, "lists a family twice")
    .default(["ipv4", "ipv6"]),
  default: z.enum(ACTIONS).default("deny"),
  rules: z.array(RuleShape),
});

export type RuleData = z.infer<typeof RuleShape>;
export type FilterData = z.infer<typeof FilterShape>;

/** Names people use for the fields, from iptables, nft, AWS and habit. */
const SYNONYMS: Record<string, string> = {
  port: "destinationPort",
  dport: "destinationPort",
  ports: "destinationPort",
  sport: "sourcePort",
  src: "source",
  sources: "source",
  from: "source",
  cidr: "source",
  network: "source",
  sourcenetwork: "source",
  proto: "protocol",
  policy: "default",
  family: "families",
  target: "action",
  comment: "description",
};

const KNOWN = [...Object.keys(FilterShape.shape), ...Object.keys(RuleShape.shape)];

/** The field an unknown key probably meant ("destination_port" -> destinationPort), if any. */
export function suggestField(key: string): string | undefined {
  const plain = key.toLowerCase().replace(/[^a-z]/g, "");
  return KNOWN.find((k) => k.toLowerCase() === plain) ?? SYNONYMS[plain];
}
