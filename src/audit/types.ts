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

/** What a scan from another vantage point saw at this socket (`moat audit --scan-from`). */
export type OutsideState = "open" | "closed" | "filtered" | "open|filtered";

/**
 * The outside view of a finding: the scan's verdict for the address it was reached at. `open` means
 * it answered, so the exposure is confirmed from outside; anything else means that vantage did not
 * get an answer (the exposure computed from the bind address and the filters is kept as it is).
 */
export interface OutsideView {
  state: OutsideState;
  /** The vantage point, e.g. "netns:probe". */
  from: string;
  /** The host address the verdict is for (a wildcard socket is scanned at each host address). */
  address: string;
  /** Reply bytes / request bytes, when a UDP service answered. */
  amplification?: number;
  /** What the probe read from the reply (version, ...), when it answered. */
  fields?: Record<string, string | number | boolean | null | string[]>;
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
  /** Only with `--scan-from`, and only for sockets other hosts could reach (exposure other than local). */
  outside?: OutsideView;
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

/** Looked up, not searched: the report sort ranks every finding many times. */
const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i])) as Record<Severity, number>;

export function severityRank(severity: Severity): number {
  return RANK[severity];
}

/** True when `severity` is at least as bad as `threshold`. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) <= severityRank(threshold);
}
