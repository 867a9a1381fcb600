/**
 * Capture records in, committed bucket rows out: decode, classify, aggregate at the finest bucket
 * size, fold closed buckets into the coarser sizes, and hand closed buckets off in batches. Shared
 * by `observe ingest` (a file) and `observe live` (tcpdump's stream); the caller decides when a
 * batch is written (src/observe/ingest.ts, live.ts).
 *
 * A bucket is closed once the capture's clock has moved `lateness` past its end: captures are
 * nearly in time order, and the few packets that arrive later than that for a closed bucket are
 * counted as late and land in a second row of that bucket, which the store merges on the way out.
 */

import type { StoredProblem } from "../store/observe-store.js";
import {
  Aggregator,
  BUCKET_SECONDS,
  type BucketRow,
  type BucketSize,
  type BucketState,
} from "./aggregate.js";
import type { CaptureRecord } from "./capture/record.js";
import { classifyPacket } from "./classify.js";
import { type DecodeProblemKind, decodePacket, newDecodedPacket } from "./decode.js";

export const DEFAULT_LATENESS_SECONDS = 60;

export interface PipelineOptions {
  bucketSizes: readonly BucketSize[];
  latenessSeconds?: number;
  /** `${size}/${bucket}` rows to drop: buckets an interrupted ingest of the same file committed. */
  skip?: ReadonlySet<string>;
}

export interface PipelineCounts {
  /** Records read. */
  packets: number;
  /** Packets decoded and counted. */
  counted: number;
  /** Valid frames that are not IP (ARP, LLDP, ...): skipped, not problems. */
  notIp: number;
  /** Packets older than a bucket already handed off. */
  late: number;
  /** Decode problems by kind (truncated, malformed, unsupported). */
  decodeProblems: Partial<Record<DecodeProblemKind, number>>;
  firstMicros: number | null;
  lastMicros: number | null;
}

export class IngestPipeline {
  readonly counts: PipelineCounts = {
    packets: 0,
    counted: 0,
    notIp: 0,
    late: 0,
    decodeProblems: {},
    firstMicros: null,
    lastMicros: null,
  };
  private readonly aggregators: Aggregator[];
  private readonly latenessMicros: number;
  private readonly skip: ReadonlySet<string>;
  private readonly packet = newDecodedPacket();
  private readonly pendingProblems: StoredProblem[] = [];
  private pendingRows: BucketRow[] = [];
  private pendingPortRows = 0;
  /** Packets older than this (µs) fall in a bucket already handed off. */
  private watermark = Number.NEGATIVE_INFINITY;
  private clock = Number.NEGATIVE_INFINITY;

  constructor(options: PipelineOptions) {
    if (options.bucketSizes.length === 0) throw new RangeError("at least one bucket size is needed");
    // Finest first: its watermark is the one late packets are judged by.
    const sizes = [...new Set(options.bucketSizes)].sort((a, b) => BUCKET_SECONDS[a] - BUCKET_SECONDS[b]);
    this.aggregators = sizes.map((bucket) => new Aggregator({ bucket, sketches: true }));
    this.latenessMicros = (options.latenessSeconds ?? DEFAULT_LATENESS_SECONDS) * 1_000_000;
    this.skip = options.skip ?? new Set();
  }

  /** One capture record: the hot path. */
  add(record: CaptureRecord): void {
    const c = this.counts;
    c.packets++;
    const p = this.packet;
    const problem = decodePacket(record, p);
    if (problem !== null) {
      if (problem.kind === "not-ip") {
        c.notIp++;
        return;
      }
      c.decodeProblems[problem.kind] = (c.decodeProblems[problem.kind] ?? 0) + 1;
      this.pendingProblems.push({ index: problem.index, offset: problem.offset, problem: problem.problem });
      return;
    }
    const t = p.timeMicros;
    if (c.firstMicros === null || t < c.firstMicros) c.firstMicros = t;
    if (c.lastMicros === null || t > c.lastMicros) c.lastMicros = t;
    if (t > this.clock) this.clock = t;
    if (t < this.watermark) c.late++;
    c.counted++;
    this.aggregators[0]!.add(p, classifyPacket(p));
  }

  /** Problems the capture reader found (framing, truncation), to be stored with the decoder's. */
  addReaderProblems(problems: readonly StoredProblem[]): void {
    this.pendingProblems.push(...problems);
  }

  /**
   * Hand off the buckets the clock has moved `lateness` past. `now` (µs) replaces the capture clock
   * for a live capture, whose buckets must close even when no packet arrives.
   */
  closeBuckets(now: number = this.clock): void {
    if (!Number.isFinite(now)) return;
    const edge = now - this.latenessMicros;
    this.cascade((a) => a.bucketOf(edge));
    const finest = this.aggregators[0]!;
    this.watermark = Math.max(this.watermark, finest.bucketOf(edge) * 1_000_000);
  }

  /** Hand off everything: the end of the capture. */
  closeAll(): void {
    this.cascade(() => Number.POSITIVE_INFINITY);
  }

  /**
   * Packets go to the finest size only; each closed bucket is folded into the next size up before
   * that one closes its own (a coarse bucket closes only after all of its fine ones have).
   */
  private cascade(before: (a: Aggregator) => number): void {
    let closed: BucketState[] = [];
    for (const a of this.aggregators) {
      for (const b of closed) a.fold(b);
      closed = a.drainStates(before(a));
      this.keep(closed.map((b) => a.row(b)));
    }
  }

  /** Port rows waiting to be written (to decide when a batch is worth a commit). */
  get pendingSize(): number {
    return this.pendingPortRows + this.pendingRows.length;
  }

  /** The rows and problems handed off since the last call. */
  takeBatch(): { rows: BucketRow[]; problems: StoredProblem[] } {
    const rows = this.pendingRows;
    this.pendingRows = [];
    this.pendingPortRows = 0;
    return { rows, problems: this.pendingProblems.splice(0) };
  }

  private keep(rows: BucketRow[]): void {
    for (const row of rows) {
      if (this.skip.has(`${row.bucketSize}/${row.bucket}`)) continue;
      this.pendingRows.push(row);
      this.pendingPortRows += row.ports.length;
    }
  }
}
