/**
 * The audit join of DESIGN.md's "effective exposure": findings (what listens, what the filters let
 * through) joined with a scan of the host's own addresses from another vantage point (what answers).
 * Pure: the scan is run by vantage.ts; this only matches its results to findings.
 */
import { unmapAddress } from "../net/address.js";
import type { ScanResult } from "../scan/scan.js";
import type { Finding, OutsideState, OutsideView } from "./types.js";

/** The part of a `moat scan --json` line the join needs. */
export type OutsideResult = Pick<
  ScanResult,
  "ip" | "protocol" | "port" | "state" | "amplification" | "fields"
>;

export interface OutsideScan {
  /** The vantage point, e.g. "netns:probe". */
  from: string;
  results: readonly OutsideResult[];
}

/** Only sockets other hosts could reach are worth a look from outside; local ones are never scanned. */
export function wantsOutsideView(finding: Finding): boolean {
  return finding.exposure !== "local";
}

function canonical(address: string): string {
  return unmapAddress(address).toString();
}

function isIpv4(address: string): boolean {
  return unmapAddress(address).kind() === "ipv4";
}

/**
 * The host addresses at which a probe reaches each socket. A wildcard socket is reached at every
 * host address of its family; `::` also at the IPv4 ones (Linux dual stack) unless a 0.0.0.0 socket
 * on the same port takes those.
 */
export function reachedAt(
  findings: readonly Finding[],
  hostAddresses: readonly string[],
): Map<Finding, string[]> {
  const key = (f: Finding) => `${f.netns ?? ""}/${f.protocol}/${f.port}`;
  const ipv4Wildcards = new Set(findings.filter((f) => f.address === "0.0.0.0").map(key));
  const plan = new Map<Finding, string[]>();
  for (const f of findings) {
    if (!wantsOutsideView(f)) continue;
    let at: string[];
    if (f.address === "0.0.0.0") at = hostAddresses.filter(isIpv4);
    else if (f.address === "::") at = hostAddresses.filter((a) => !isIpv4(a) || !ipv4Wildcards.has(key(f)));
    else at = hostAddresses.filter((a) => canonical(a) === canonical(f.address));
    if (at.length > 0) plan.set(f, at);
  }
  return plan;
}

/** For a socket reached at several addresses, the verdict that says most: any answer wins. */
const RANK: Record<OutsideState, number> = { open: 0, "open|filtered": 1, filtered: 2, closed: 3 };

function better(a: OutsideResult, b: OutsideResult): boolean {
  return (
    RANK[a.state] < RANK[b.state] || (a.state === b.state && (a.amplification ?? 0) > (b.amplification ?? 0))
  );
}

const SILENCE: Record<Exclude<OutsideState, "open">, string> = {
  closed: "refused (TCP reset or ICMP port unreachable)",
  filtered: "no answer, a firewall drops it",
  "open|filtered": "no answer; over UDP a firewall drop and a service that ignores the probe look alike",
};

function reasonFor(finding: Finding, view: OutsideView): string {
  if (view.state !== "open")
    return `Not reachable from ${view.from}: ${view.state} at ${view.address} (${SILENCE[view.state]}).`;
  const factor = view.amplification === undefined ? "" : ` (amplification ${view.amplification}x)`;
  const contradiction =
    finding.exposure === "blocked"
      ? "; the firewall rules read back say it is blocked, so check the rules actually in force"
      : "";
  return `Confirmed from ${view.from}: it answered at ${view.address}${factor}${contradiction}.`;
}

function viewOf(result: OutsideResult, from: string): OutsideView {
  const view: OutsideView = { state: result.state, from, address: result.ip };
  if (result.state === "open") {
    if (result.amplification !== null) view.amplification = result.amplification;
    if (Object.keys(result.fields).length > 0) view.fields = result.fields;
  }
  return view;
}

/**
 * Findings with `outside` set and one reason added where the scan looked. Exposure and severity stay
 * as computed: a vantage point that gets no answer proves only that it gets none.
 */
export function confirmFromOutside(findings: readonly Finding[], scan: OutsideScan): Finding[] {
  const byKey = new Map<string, OutsideResult>();
  for (const r of scan.results) byKey.set(`${r.protocol} ${canonical(r.ip)} ${r.port}`, r);
  const hostAddresses = [...new Set(scan.results.map((r) => canonical(r.ip)))];
  const plan = reachedAt(findings, hostAddresses);
  return findings.map((finding) => {
    let best: OutsideResult | undefined;
    for (const ip of plan.get(finding) ?? []) {
      const r = byKey.get(`${finding.protocol} ${ip} ${finding.port}`);
      if (r !== undefined && (best === undefined || better(r, best))) best = r;
    }
    if (best === undefined) return finding;
    const outside = viewOf(best, scan.from);
    return { ...finding, reasons: [...finding.reasons, reasonFor(finding, outside)], outside };
  });
}
