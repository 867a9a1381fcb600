/**
 * Per time bucket and per (protocol, destination port): packets, bytes, unique sources and
 * destinations, first/last seen, what the classifier said; per bucket the top ports (TSUBAME's top 5),
 * top sources and backscatter victims. Pure: packets in, plain serialisable rows out; the store persists them.
 *
 * Memory is bounded under floods of unique sources: distinct counters turn into fixed-size sketches
 * past `distinctBound` values, and top sources/victims are Misra–Gries summaries of fixed capacity.
 * What remains is one entry per active (protocol, port) per open bucket; `drain` hands closed buckets off.
 */
import { type Classification, PACKET_KINDS, type PacketKind, victimOf } from "./classify.js";
import { Distinct, type DistinctOptions, type DistinctState } from "./distinct.js";
import { HeavyHitters, type HeavyState } from "./heavy.js";
import type { DecodedPacket, TransportProtocol } from "./types.js";

export type BucketSize = "1m" | "1h" | "1d";

/** Heavy-hitter capacity for top sources and victims: up to 512 counters per bucket. */
export const DEFAULT_HEAVY_CAPACITY = 256;

export const BUCKET_SECONDS: Record<BucketSize, number> = { "1m": 60, "1h": 3600, "1d": 86400 };

export interface AggregatorOptions {
  bucket: BucketSize;
  /** Exact distinct values kept per counter before it becomes a HyperLogLog sketch. */
  distinctBound?: number;
  /** HyperLogLog precision of those sketches. */
  precision?: number;
  /** Heavy-hitter capacity for top sources and for victims, per bucket (twice this many counters at most). */
  heavyCapacity?: number;
  /** Ports reported in `topPorts` (TSUBAME shows 5). */
  topPorts?: number;
  /** Sources and victims reported per bucket. */
  topSources?: number;
  /** Put each distinct counter's state in the rows, so the store can merge buckets across ingests. */
  sketches?: boolean;
}

export interface PortRow {
  /** Bucket start, Unix seconds (floor(time / size) * size). */
  bucket: number;
  bucketSize: BucketSize;
  protocol: TransportProtocol;
  /** Destination port; null for ICMP and other protocols without ports. */
  port: number | null;
  packets: number;
  /** Bytes on the wire (IP packet length). */
  bytes: number;
  sources: number;
  destinations: number;
  /** Microseconds since the epoch. */
  firstSeen: number;
  lastSeen: number;
  kinds: Partial<Record<PacketKind, number>>;
  probes: Record<string, number>;
  tags: Record<string, number>;
  sourcesState?: DistinctState;
  destinationsState?: DistinctState;
}

export interface RankedAddress {
  address: string;
  packets: number;
  /** The bound on overcounting: `packets - error` is a guaranteed lower bound. */
  error: number;
}

export interface BucketRow {
  bucket: number;
  bucketSize: BucketSize;
  packets: number;
  bytes: number;
  sources: number;
  destinations: number;
  firstSeen: number;
  lastSeen: number;
  topPorts: { protocol: TransportProtocol; port: number | null; packets: number; sources: number }[];
  topSources: RankedAddress[];
  backscatterPackets: number;
  victims: number;
  topVictims: RankedAddress[];
  ports: PortRow[];
  sourcesState?: DistinctState;
  destinationsState?: DistinctState;
  victimsState?: DistinctState;
  /** The whole top-sources and top-victims summaries, not only the lists: merged rows stay exact. */
  topSourcesState?: HeavyState;
  topVictimsState?: HeavyState;
}

/** What a bucket and a port within it both count. */
interface Counts {
  packets: number;
  bytes: number;
  firstSeen: number;
  lastSeen: number;
  sources: Distinct;
  destinations: Distinct;
}

interface PortState extends Counts {
  protocol: TransportProtocol;
  port: number | null;
  /** Packets per kind, by PACKET_KINDS index. */
  kinds: number[];
  probes: Record<string, number>;
  tags: Record<string, number>;
}

/** An open bucket: what `add` and `fold` accumulate, `row` turns into a BucketRow. */
export interface BucketState extends Counts {
  bucket: number;
  topSources: HeavyHitters;
  backscatterPackets: number;
  victims: Distinct;
  topVictims: HeavyHitters;
  ports: Map<number, PortState>;
}

const PORTLESS = new Set<TransportProtocol>(["icmp", "icmpv6", "other"]);
const PROTOCOL_INDEX: Record<TransportProtocol, number> = { tcp: 0, udp: 1, icmp: 2, icmpv6: 3, other: 4 };

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function countPacket(into: Counts, p: DecodedPacket): void {
  const t = p.timeMicros;
  into.packets++;
  into.bytes += p.wireLength;
  if (t < into.firstSeen) into.firstSeen = t;
  if (t > into.lastSeen) into.lastSeen = t;
  into.sources.add(p.source);
  into.destinations.add(p.destination);
}

function foldCounts(into: Counts, from: Counts): void {
  into.packets += from.packets;
  into.bytes += from.bytes;
  if (from.firstSeen < into.firstSeen) into.firstSeen = from.firstSeen;
  if (from.lastSeen > into.lastSeen) into.lastSeen = from.lastSeen;
  into.sources.merge(from.sources);
  into.destinations.merge(from.destinations);
}

function kindCounts(byIndex: readonly number[]): Partial<Record<PacketKind, number>> {
  const kinds: Partial<Record<PacketKind, number>> = {};
  for (let i = 0; i < byIndex.length; i++) if (byIndex[i]! > 0) kinds[PACKET_KINDS[i]!] = byIndex[i]!;
  return kinds;
}

/** The top `n` of a summary as stored rows list them. */
export function ranked(summary: HeavyHitters, n: number): RankedAddress[] {
  return summary.top(n).map((h) => ({ address: h.key, packets: h.count, error: h.error }));
}

export class Aggregator {
  readonly bucketSize: BucketSize;
  private readonly sizeMicros: number;
  private readonly distinct: DistinctOptions;
  private readonly heavyCapacity: number;
  private readonly topPortsN: number;
  private readonly topSourcesN: number;
  private readonly sketches: boolean;
  private readonly open = new Map<number, BucketState>();
  /** The bucket the last packet went to: the next one nearly always goes there too. */
  private last: BucketState | null = null;

  constructor(options: AggregatorOptions) {
    this.bucketSize = options.bucket;
    const seconds = BUCKET_SECONDS[options.bucket];
    if (seconds === undefined) throw new RangeError(`unknown bucket size ${String(options.bucket)}`);
    this.sizeMicros = seconds * 1_000_000;
    this.distinct = { bound: options.distinctBound ?? 1024, precision: options.precision ?? 14 };
    this.heavyCapacity = options.heavyCapacity ?? DEFAULT_HEAVY_CAPACITY;
    this.topPortsN = options.topPorts ?? 5;
    this.topSourcesN = options.topSources ?? 10;
    this.sketches = options.sketches ?? false;
  }

  /** Bucket start (Unix seconds) of a capture time in microseconds. */
  bucketOf(timeMicros: number): number {
    return (Math.floor(timeMicros / this.sizeMicros) * this.sizeMicros) / 1_000_000;
  }

  add(p: DecodedPacket, c: Classification): void {
    const t = p.timeMicros;
    const bucket = this.bucketOf(t);
    const b = this.last !== null && this.last.bucket === bucket ? this.last : this.bucketState(bucket, t);
    this.last = b;
    countPacket(b, p);
    b.topSources.add(p.source);
    const victim = victimOf(p, c);
    if (victim !== null) {
      b.backscatterPackets++;
      b.victims.add(victim);
      b.topVictims.add(victim);
    }

    const port = PORTLESS.has(p.protocol) ? null : p.destinationPort;
    const s = this.portState(b, p.protocol, port, t);
    countPacket(s, p);
    s.kinds[c.kindIndex]!++;
    if (c.probe !== null) bump(s.probes, c.probe);
    for (const tag of c.tags) bump(s.tags, tag);
  }

  /**
   * A closed bucket of a finer aggregator, added in whole: its counts summed, its distinct counters
   * and heavy hitters merged. Coarser buckets are built this way rather than from every packet again:
   * the per-packet work is done once, at the finest size.
   */
  fold(finer: BucketState): void {
    const b = this.bucketState(this.bucketOf(finer.bucket * 1_000_000), finer.firstSeen);
    foldCounts(b, finer);
    b.topSources.merge(finer.topSources);
    b.backscatterPackets += finer.backscatterPackets;
    b.victims.merge(finer.victims);
    b.topVictims.merge(finer.topVictims);
    for (const f of finer.ports.values()) {
      const s = this.portState(b, f.protocol, f.port, f.firstSeen);
      foldCounts(s, f);
      for (let i = 0; i < s.kinds.length; i++) s.kinds[i]! += f.kinds[i]!;
      for (const [probe, n] of Object.entries(f.probes)) s.probes[probe] = (s.probes[probe] ?? 0) + n;
      for (const [tag, n] of Object.entries(f.tags)) s.tags[tag] = (s.tags[tag] ?? 0) + n;
    }
  }

  private bucketState(bucket: number, firstSeen: number): BucketState {
    let b = this.open.get(bucket);
    if (b === undefined) {
      b = {
        bucket,
        packets: 0,
        bytes: 0,
        firstSeen,
        lastSeen: firstSeen,
        sources: new Distinct(this.distinct),
        destinations: new Distinct(this.distinct),
        topSources: new HeavyHitters(this.heavyCapacity),
        backscatterPackets: 0,
        victims: new Distinct(this.distinct),
        topVictims: new HeavyHitters(this.heavyCapacity),
        ports: new Map(),
      };
      this.open.set(bucket, b);
    }
    return b;
  }

  private portState(
    b: BucketState,
    protocol: TransportProtocol,
    port: number | null,
    firstSeen: number,
  ): PortState {
    // A number, not "udp/11211": no string built and hashed per packet.
    const key = PROTOCOL_INDEX[protocol] * 65537 + (port ?? 65536);
    let s = b.ports.get(key);
    if (s === undefined) {
      s = {
        protocol,
        port,
        packets: 0,
        bytes: 0,
        sources: new Distinct(this.distinct),
        destinations: new Distinct(this.distinct),
        firstSeen,
        lastSeen: firstSeen,
        kinds: PACKET_KINDS.map(() => 0),
        probes: {},
        tags: {},
      };
      b.ports.set(key, s);
    }
    return s;
  }

  /** All buckets so far, oldest first, as plain rows. */
  buckets(): BucketRow[] {
    return [...this.open.values()].sort((a, b) => a.bucket - b.bucket).map((b) => this.row(b));
  }

  /** Rows of the buckets that start before `bucket` (Unix seconds), removed from memory. */
  drain(before: number = Number.POSITIVE_INFINITY): BucketRow[] {
    return this.drainStates(before).map((b) => this.row(b));
  }

  /** The buckets that start before `bucket`, removed, as they are: for a coarser aggregator's `fold`, then `row`. */
  drainStates(before: number = Number.POSITIVE_INFINITY): BucketState[] {
    const closed = [...this.open.values()]
      .filter((b) => b.bucket < before)
      .sort((a, b) => a.bucket - b.bucket);
    for (const b of closed) this.open.delete(b.bucket);
    if (this.last !== null && !this.open.has(this.last.bucket)) this.last = null;
    return closed;
  }

  /** How many values the aggregator holds in memory: exact set entries, heavy-hitter entries, port keys. */
  storedEntries(): {
    buckets: number;
    portKeys: number;
    exactValues: number;
    sketches: number;
    heavyEntries: number;
  } {
    let portKeys = 0;
    let exactValues = 0;
    let sketches = 0;
    let heavyEntries = 0;
    const count = (d: Distinct) => {
      exactValues += d.storedValues();
      if (!d.isExact()) sketches++;
    };
    for (const b of this.open.values()) {
      count(b.sources);
      count(b.destinations);
      count(b.victims);
      heavyEntries += b.topSources.size + b.topVictims.size;
      for (const s of b.ports.values()) {
        portKeys++;
        count(s.sources);
        count(s.destinations);
      }
    }
    return { buckets: this.open.size, portKeys, exactValues, sketches, heavyEntries };
  }

  /** A bucket as a plain row. */
  row(b: BucketState): BucketRow {
    const ports: PortRow[] = [...b.ports.values()]
      .map((s) => this.portRow(b.bucket, s))
      .sort(
        (x, y) =>
          y.packets - x.packets ||
          (x.protocol < y.protocol ? -1 : x.protocol > y.protocol ? 1 : 0) ||
          (x.port ?? -1) - (y.port ?? -1),
      );
    const row: BucketRow = {
      bucket: b.bucket,
      bucketSize: this.bucketSize,
      packets: b.packets,
      bytes: b.bytes,
      sources: b.sources.count(),
      destinations: b.destinations.count(),
      firstSeen: b.firstSeen,
      lastSeen: b.lastSeen,
      topPorts: ports.slice(0, this.topPortsN).map((r) => ({
        protocol: r.protocol,
        port: r.port,
        packets: r.packets,
        sources: r.sources,
      })),
      topSources: ranked(b.topSources, this.topSourcesN),
      backscatterPackets: b.backscatterPackets,
      victims: b.victims.count(),
      topVictims: ranked(b.topVictims, this.topSourcesN),
      ports,
    };
    if (this.sketches) {
      row.sourcesState = b.sources.toState();
      row.destinationsState = b.destinations.toState();
      row.victimsState = b.victims.toState();
      row.topSourcesState = b.topSources.toState();
      row.topVictimsState = b.topVictims.toState();
    }
    return row;
  }

  private portRow(bucket: number, s: PortState): PortRow {
    const row: PortRow = {
      bucket,
      bucketSize: this.bucketSize,
      protocol: s.protocol,
      port: s.port,
      packets: s.packets,
      bytes: s.bytes,
      sources: s.sources.count(),
      destinations: s.destinations.count(),
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      kinds: kindCounts(s.kinds),
      probes: { ...s.probes },
      tags: { ...s.tags },
    };
    if (this.sketches) {
      row.sourcesState = s.sources.toState();
      row.destinationsState = s.destinations.toState();
    }
    return row;
  }
}
