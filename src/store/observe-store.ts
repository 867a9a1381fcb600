/**
 * What `moat observe` keeps: the aggregator's bucket rows, per ingest. One interface, so the embedded
 * DuckDB store and a scale-out backend are interchangeable; the rows are the aggregator's own
 * (src/observe/aggregate.ts), merged on the way out by src/observe/merge-rows.ts.
 *
 * The contract every backend keeps:
 * - append-only: rows are inserted, never updated; an ingest's progress is a new row too;
 * - a commit is atomic: its rows and its progress land together or not at all, so a killed ingest
 *   loses at most the batch it was writing;
 * - an ingest of a file is known by its fingerprint: the same file again is recognised, and an
 *   interrupted one is resumed by skipping the buckets it already committed.
 */
import type { BucketRow, BucketSize, PortRow } from "../observe/aggregate.js";
import type { TransportProtocol } from "../observe/types.js";

export type IngestKind = "file" | "live";

export interface IngestIdentity {
  /** The file path or the live interface, for people. */
  source: string;
  /** Content fingerprint of a file (see src/observe/fingerprint.ts); null for live captures. */
  fingerprint: string | null;
  kind: IngestKind;
  bucketSizes: readonly BucketSize[];
}

export interface IngestRecord extends IngestIdentity {
  id: number;
  startedAt: Date;
  /** Packets read and problems counted, as of the last commit. */
  packets: number;
  problems: number;
  complete: boolean;
  /** Bucket rows committed (all sizes). */
  buckets: number;
}

/** A problem in the input, kept with the ingest (the first few hundred per ingest). */
export interface StoredProblem {
  index: number;
  offset: number;
  problem: string;
}

export interface IngestBatch {
  rows: readonly BucketRow[];
  /** Totals so far for the whole ingest (not just this batch). */
  packets: number;
  problems: number;
  newProblems: readonly StoredProblem[];
  complete: boolean;
}

export interface RowQuery {
  bucketSize: BucketSize;
  /** Bucket start bounds, Unix seconds: since inclusive, until exclusive. */
  since?: number;
  until?: number;
  protocol?: TransportProtocol;
  /** null = the port-less protocols (ICMP); undefined = every port. */
  port?: number | null;
}

export interface ObserveStore {
  /** The newest ingest with this fingerprint, if any. */
  findIngest(fingerprint: string): Promise<IngestRecord | null>;
  startIngest(identity: IngestIdentity): Promise<number>;
  /** `${bucketSize}/${bucket}` of every bucket row an ingest has committed (to resume it). */
  committedBuckets(ingestId: number): Promise<Set<string>>;
  commit(ingestId: number, batch: IngestBatch): Promise<void>;
  /** Raw rows, one per ingest that saw the bucket (merge with src/observe/merge-rows.ts). */
  portRows(query: RowQuery): Promise<PortRow[]>;
  bucketRows(query: RowQuery): Promise<BucketRow[]>;
  ingests(): Promise<IngestRecord[]>;
  problems(ingestId: number): Promise<StoredProblem[]>;
  close(): Promise<void>;
}
