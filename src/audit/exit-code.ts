import { atLeast, type Finding, type Severity } from "./types.js";

/** 1 when any finding is at least as bad as `failOn` (for CI gates), else 0. */
export function exitCodeFor(findings: Finding[], failOn: Severity | undefined): 0 | 1 {
  if (failOn === undefined) return 0;
  return findings.some((f) => atLeast(f.severity, failOn)) ? 1 : 0;
}
