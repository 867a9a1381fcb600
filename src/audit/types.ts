import type { RiskKind } from "../catalog/schema.js";
import type { Family, Protocol } from "../host/types.js";
import type { BindScope } from "../net/address.js";

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** How far outside traffic gets. `restricted` and `blocked` come with packet filters (issue 3). */
export type Exposure = "exposed" | "restricted" | "blocked" | "local";

export interface FindingRisk {
  kind: RiskKind;
  summary: string;
  amplification?: number;
}

/** One listening socket judged: the record of the output contract (DESIGN.md). */
export interface Finding {
  protocol: Protocol;
  family: Family;
  address: string;
  port: number;
  scope: BindScope;
  netns: string | null;
  process: { name: string; pid: number; unit: string | null } | null;
  service: { id: string; name: string } | null;
  exposure: Exposure;
  severity: Severity;
  risks: FindingRisk[];
  /** Plain-English sentences, each one thing a person can act on. */
  reasons: string[];
  /** Steps in order: config changes first, then the commands that apply them. */
  fix: string[];
}

export type Summary = Record<Severity, number>;

export interface AuditReport {
  host: string;
  generatedAt: string;
  source: string;
  summary: Summary;
  findings: Finding[];
  warnings: string[];
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** True when `severity` is at least as bad as `threshold`. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) <= severityRank(threshold);
}
