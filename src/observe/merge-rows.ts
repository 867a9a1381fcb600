/**
 * Several rows for one bucket (two captures of the same hour, a live capture restarted mid-bucket)
 * become one: counts add, first/last seen widen, and distinct counts come from the union of the
 * stored counter states, so a source seen by both is counted once. A row without a state (written
 * without sketches) can only be added, which may overcount; the merged row says so in `approximate`.
 * Pure; the store hands rows in bucket order.
 */
import {
  type BucketRow,
  DEFAULT_HEAVY_CAPACITY,
  type PortRow,
  type RankedAddress,
  ranked,
} from "./aggregate.js";
import { Distinct, type DistinctState } from "./distinct.js";
import { HeavyHitters, type HeavyState } from "./heavy.js";

export interface MergedPortRow extends PortRow {
  /** Rows merged into this one. */
  rows: number;
  /** True when a distinct count had to be summed rather than unioned. */
  approximate: boolean;
}

export interface MergedBucketRow extends BucketRow {
  rows: number;
  approximate: boolean;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** The union count of several counters' states; the sum when one lacks a state. */
function unionCount(
  states: (DistinctState | undefined)[],
  counts: number[],
): { count: number; exact: boolean } {
  if (states.length === 1) return { count: counts[0]!, exact: true };
  if (states.some((s) => s === undefined)) return { count: counts.reduce((a, b) => a + b, 0), exact: false };
  const union = Distinct.fromState(states[0]!);
  for (const s of states.slice(1)) union.merge(Distinct.fromState(s!));
  return { count: union.count(), exact: true };
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [row]);
    else group.push(row);
  }
  return [...groups.values()];
}

export function mergePortRows(rows: readonly PortRow[]): MergedPortRow[] {
  return groupBy(rows, (r) => `${r.bucket}/${r.protocol}/${r.port ?? ""}`).map((group) => {
    const first = group[0]!;
    const sources = unionCount(
      group.map((r) => r.sourcesState),
      group.map((r) => r.sources),
    );
    const destinations = unionCount(
      group.map((r) => r.destinationsState),
      group.map((r) => r.destinations),
    );
    const merged: MergedPortRow = {
      bucket: first.bucket,
      bucketSize: first.bucketSize,
      protocol: first.protocol,
      port: first.port,
      packets: 0,
      bytes: 0,
      sources: sources.count,
      destinations: destinations.count,
      firstSeen: Number.POSITIVE_INFINITY,
      lastSeen: Number.NEGATIVE_INFINITY,
      kinds: {},
      probes: {},
      tags: {},
      rows: group.length,
      approximate: !sources.exact || !destinations.exact,
    };
    for (const r of group) {
      merged.packets += r.packets;
      merged.bytes += r.bytes;
      merged.firstSeen = Math.min(merged.firstSeen, r.firstSeen);
      merged.lastSeen = Math.max(merged.lastSeen, r.lastSeen);
      addCounts(merged.kinds as Record<string, number>, r.kinds as Record<string, number>);
      addCounts(merged.probes, r.probes);
      addCounts(merged.tags, r.tags);
    }
    return merged;
  });
}

/**
 * Top addresses of several rows of one bucket: from their whole summaries when every row has one
 * (exact as one ingest of all the packets would be, within the summary's bound), else from the
 * stored lists, whose counts and error bounds add per address (a source cut from one list is then
 * undercounted).
 */
function mergeTop(lists: RankedAddress[][], states: (HeavyState | undefined)[], n: number): RankedAddress[] {
  if (states.every((s) => s !== undefined)) {
    const merged = HeavyHitters.fromState(states[0]!, DEFAULT_HEAVY_CAPACITY);
    for (const s of states.slice(1)) merged.merge(HeavyHitters.fromState(s!, DEFAULT_HEAVY_CAPACITY));
    return ranked(merged, n);
  }
  return mergeRanked(lists, n);
}

/** Heavy-hitter lists of several rows: counts and error bounds add per address. */
function mergeRanked(lists: RankedAddress[][], n: number): RankedAddress[] {
  const all = new Map<string, RankedAddress>();
  for (const list of lists) {
    for (const a of list) {
      const have = all.get(a.address);
      if (have === undefined) all.set(a.address, { ...a });
      else {
        have.packets += a.packets;
        have.error += a.error;
      }
    }
  }
  return [...all.values()]
    .sort((a, b) => b.packets - a.packets || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .slice(0, n);
}

export function mergeBucketRows(rows: readonly BucketRow[], topN = 10): MergedBucketRow[] {
  return groupBy(rows, (r) => String(r.bucket)).map((group) => {
    const first = group[0]!;
    if (group.length === 1) return { ...first, rows: 1, approximate: false };
    const count = (pick: (r: BucketRow) => DistinctState | undefined, value: (r: BucketRow) => number) =>
      unionCount(group.map(pick), group.map(value));
    const sources = count(
      (r) => r.sourcesState,
      (r) => r.sources,
    );
    const destinations = count(
      (r) => r.destinationsState,
      (r) => r.destinations,
    );
    const victims = count(
      (r) => r.victimsState,
      (r) => r.victims,
    );
    return {
      bucket: first.bucket,
      bucketSize: first.bucketSize,
      packets: group.reduce((a, r) => a + r.packets, 0),
      bytes: group.reduce((a, r) => a + r.bytes, 0),
      sources: sources.count,
      destinations: destinations.count,
      firstSeen: Math.min(...group.map((r) => r.firstSeen)),
      lastSeen: Math.max(...group.map((r) => r.lastSeen)),
      // Top ports are recomputed from the merged port rows by the report; keep the first row's here.
      topPorts: first.topPorts,
      topSources: mergeTop(
        group.map((r) => r.topSources),
        group.map((r) => r.topSourcesState),
        topN,
      ),
      backscatterPackets: group.reduce((a, r) => a + r.backscatterPackets, 0),
      victims: victims.count,
      topVictims: mergeTop(
        group.map((r) => r.topVictims),
        group.map((r) => r.topVictimsState),
        topN,
      ),
      ports: [],
      rows: group.length,
      approximate: !sources.exact || !destinations.exact || !victims.exact,
    };
  });
}
