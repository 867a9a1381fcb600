/**
 * The embedded store: one DuckDB file (`--db PATH`). DuckDB's write-ahead log makes each committed
 * transaction durable and replays it on the next open, so a process killed mid-ingest leaves a file
 * that opens cleanly with every committed batch in it and nothing of the batch it was writing.
 *
 * Loaded with a dynamic import by the observe commands only: the native module is large, and no
 * other command needs it.
 */
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { EnvironmentError, InputError } from "../errors.js";
import { importExternal } from "../import-external.js";
import type { BucketRow, BucketSize, PortRow } from "../observe/aggregate.js";
import type { DistinctState } from "../observe/distinct.js";
import type { HeavyState } from "../observe/heavy.js";
import type { TransportProtocol } from "../observe/types.js";
import { decodeDistinct, encodeDistinct } from "./distinct-codec.js";
import { decodeHeavy, encodeHeavy } from "./heavy-codec.js";
import type {
  IngestBatch,
  IngestIdentity,
  IngestRecord,
  ObserveStore,
  RowQuery,
  StoredProblem,
} from "./observe-store.js";

/**
 * Bumped when the tables change shape or meaning; a moat refuses any other version instead of
 * misreading it. 2: IPv4 addresses in counter states and sketches as 32-bit keys, not text.
 */
export const SCHEMA_VERSION = 2;

/**
 * DuckDB's buffer pool ceiling (it spills to temporary files beyond it): bounded, where DuckDB's
 * default is 80% of RAM. Measured peak RSS of a 10M-packet ingest: 470 MB at 96 MB, 407 MB at 64 MB,
 * 396 MB at 48 MB; at 32 MB a checkpoint failed to pin a block (it needed ~30 MB): 64 MB leaves
 * twice that.
 */
const STORE_MEMORY_LIMIT = "64MB";

/**
 * How much write-ahead log DuckDB gathers before it checkpoints (its default is 16 MB). Each
 * checkpoint rewrites the table's last, still-growing row groups, so a bulk ingest paid for ~25 of
 * them: at 256 MB the 10M-packet ingest took ~30 instead of ~36 CPU seconds, at the same peak RSS
 * (uncheckpointed data beyond the buffer pool goes to DuckDB's temporary files). A crash leaves a
 * longer log to replay: a 156 MB one reopened in ~1 s. `close()` checkpoints anyway.
 */
const STORE_WAL_AUTOCHECKPOINT = "256MB";

/**
 * DuckDB allocates through its own jemalloc, which keeps freed pages for reuse: a commit and a
 * checkpoint allocate and free tens of MB, and ~50 MB stayed resident beyond what DuckDB reported
 * using (`duckdb_memory()`: 30-50 MB). Decay 0 returns them at once (10M-packet ingest peak RSS
 * −45 MB, system time ~2 → ~5 s). DuckDB reads this when its library loads, so it is set before the
 * first import; a value the user set is kept.
 */
export const DUCKDB_ALLOCATOR_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0";

export function returnFreedMemory(env: NodeJS.ProcessEnv = process.env): void {
  env.DUCKDB_JE_MALLOC_CONF ??= DUCKDB_ALLOCATOR_CONF;
}

/** Problems kept per ingest: enough to find the bad packets, bounded for a file full of junk. */
const MAX_STORED_PROBLEMS = 500;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS moat_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE SEQUENCE IF NOT EXISTS ingest_ids START 1;
CREATE TABLE IF NOT EXISTS ingests (
  id BIGINT PRIMARY KEY, source VARCHAR NOT NULL, fingerprint VARCHAR, kind VARCHAR NOT NULL,
  bucket_sizes VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_progress (
  ingest_id BIGINT NOT NULL, packets BIGINT NOT NULL, problems BIGINT NOT NULL,
  complete BOOLEAN NOT NULL, recorded_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_problems (
  ingest_id BIGINT NOT NULL, packet_index BIGINT NOT NULL, byte_offset BIGINT NOT NULL, problem VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS port_buckets (
  ingest_id BIGINT NOT NULL, bucket_size VARCHAR NOT NULL, bucket BIGINT NOT NULL,
  protocol VARCHAR NOT NULL, port INTEGER, packets BIGINT NOT NULL, bytes BIGINT NOT NULL,
  sources BIGINT NOT NULL, destinations BIGINT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  kinds VARCHAR NOT NULL, probes VARCHAR NOT NULL, tags VARCHAR NOT NULL,
  sources_state BLOB, destinations_state BLOB);
CREATE TABLE IF NOT EXISTS buckets (
  ingest_id BIGINT NOT NULL, bucket_size VARCHAR NOT NULL, bucket BIGINT NOT NULL,
  packets BIGINT NOT NULL, bytes BIGINT NOT NULL, sources BIGINT NOT NULL, destinations BIGINT NOT NULL,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, backscatter_packets BIGINT NOT NULL,
  victims BIGINT NOT NULL, top_ports VARCHAR NOT NULL, top_sources VARCHAR NOT NULL, top_victims VARCHAR NOT NULL,
  sources_state BLOB, destinations_state BLOB, victims_state BLOB,
  top_sources_state BLOB, top_victims_state BLOB);
`;

type Row = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : (v as number));

/** A BLOB's bytes: DuckDB hands BLOBs back as DuckDBBlobValue ({ bytes }). */
function blobBytes(v: unknown): Uint8Array | undefined {
  const bytes = v instanceof Uint8Array ? v : (v as { bytes?: unknown } | null)?.bytes;
  return bytes instanceof Uint8Array ? bytes : undefined;
}

/** A stored counter state. */
function state(v: unknown): DistinctState | undefined {
  const bytes = blobBytes(v);
  return bytes === undefined ? undefined : (decodeDistinct(bytes) ?? undefined);
}

/** A stored heavy-hitter summary. */
function heavy(v: unknown): HeavyState | undefined {
  const bytes = blobBytes(v);
  return bytes === undefined ? undefined : (decodeHeavy(bytes) ?? undefined);
}

function blob(s: DistinctState | undefined): Uint8Array | null {
  return s === undefined ? null : encodeDistinct(s);
}

/** DuckDB's message for a file another process holds open for writing. */
function isLockConflict(message: string): boolean {
  return /Could not set lock|Conflicting lock/i.test(message);
}

export async function openDuckDbStore(
  path: string,
  options: { readOnly?: boolean } = {},
): Promise<DuckDbStore> {
  returnFreedMemory();
  const { DuckDBInstance } = await importExternal<typeof import("@duckdb/node-api")>("@duckdb/node-api");
  let instance: DuckDBInstance;
  try {
    const config: Record<string, string> = {
      memory_limit: STORE_MEMORY_LIMIT,
      wal_autocheckpoint: STORE_WAL_AUTOCHECKPOINT,
    };
    if (options.readOnly) config.access_mode = "READ_ONLY";
    instance = await DuckDBInstance.create(path, config);
  } catch (error) {
    const message = (error as Error).message;
    if (isLockConflict(message)) {
      throw new EnvironmentError(
        `the store ${path} is open in another moat process (${message.split("\n")[0]})`,
        "wait for that ingest to finish, or stop `moat observe live`, which releases the file between batches",
      );
    }
    if (/No such file|does not exist|Cannot open/i.test(message) && options.readOnly) {
      throw new InputError("no such store; create it with `moat observe ingest --db PATH FILE`", {
        file: path,
      });
    }
    throw new InputError(`not a moat observe store (DuckDB could not open it: ${message.split("\n")[0]})`, {
      file: path,
    });
  }
  const connection = await instance.connect();
  const store = new DuckDbStore(path, instance, connection);
  try {
    await store.prepare(options.readOnly ?? false);
  } catch (error) {
    // Refused (another version, another database): release the file before saying so.
    connection.closeSync();
    instance.closeSync();
    throw error;
  }
  return store;
}

export class DuckDbStore implements ObserveStore {
  constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
  ) {}

  /** Create the tables on a new file; check the schema version on an old one. */
  async prepare(readOnly: boolean): Promise<void> {
    if (!readOnly) {
      // A DuckDB file of something else given as --db by mistake: refuse rather than add tables to it.
      const tables = await this.rows("SELECT table_name FROM information_schema.tables");
      const names = tables.map((t) => t.table_name as string);
      if (names.length > 0 && !names.includes("moat_meta"))
        throw new InputError(
          `not a moat observe store (a DuckDB database with other tables: ${names.slice(0, 5).join(", ")}); give --db a new file`,
          { file: this.path },
        );
      await this.db.run(SCHEMA);
    }
    let version: number | null = null;
    try {
      const rows = await this.rows("SELECT value FROM moat_meta WHERE key = 'schema'");
      version = rows.length > 0 ? Number(rows[0]!.value) : null;
    } catch {
      throw new InputError("not a moat observe store (no moat_meta table)", { file: this.path });
    }
    if (version === null && !readOnly) {
      await this.db.run("INSERT INTO moat_meta VALUES ('schema', $1)", [String(SCHEMA_VERSION)]);
      version = SCHEMA_VERSION;
    }
    if (version !== SCHEMA_VERSION) {
      throw new InputError(
        `store schema version ${version ?? "missing"}, this moat reads version ${SCHEMA_VERSION}; use the moat that wrote it, or ingest again into a new --db`,
        { file: this.path },
      );
    }
  }

  async findIngest(fingerprint: string): Promise<IngestRecord | null> {
    const all = await this.ingestRecords("WHERE i.fingerprint = $1", [fingerprint]);
    return all.at(-1) ?? null;
  }

  async startIngest(identity: IngestIdentity): Promise<number> {
    const rows = await this.rows("SELECT nextval('ingest_ids') AS id");
    const id = num(rows[0]!.id);
    await this.db.run("INSERT INTO ingests VALUES ($1, $2, $3, $4, $5, now()::TIMESTAMP)", [
      id,
      identity.source,
      identity.fingerprint,
      identity.kind,
      identity.bucketSizes.join(","),
    ]);
    return id;
  }

  async committedBuckets(ingestId: number): Promise<Set<string>> {
    const rows = await this.rows("SELECT DISTINCT bucket_size, bucket FROM buckets WHERE ingest_id = $1", [
      ingestId,
    ]);
    return new Set(rows.map((r) => `${r.bucket_size as string}/${num(r.bucket)}`));
  }

  async commit(ingestId: number, batch: IngestBatch): Promise<void> {
    await this.db.run("BEGIN TRANSACTION");
    try {
      await this.appendRows(ingestId, batch.rows);
      const stored = await this.rows("SELECT count(*) AS n FROM ingest_problems WHERE ingest_id = $1", [
        ingestId,
      ]);
      const room = MAX_STORED_PROBLEMS - num(stored[0]!.n);
      if (room > 0 && batch.newProblems.length > 0) {
        const appender = await this.db.createAppender("ingest_problems");
        for (const p of batch.newProblems.slice(0, room)) {
          appender.appendBigInt(BigInt(ingestId));
          appender.appendBigInt(BigInt(p.index));
          appender.appendBigInt(BigInt(p.offset));
          appender.appendVarchar(p.problem);
          appender.endRow();
        }
        appender.closeSync();
      }
      await this.db.run("INSERT INTO ingest_progress VALUES ($1, $2, $3, $4, now()::TIMESTAMP)", [
        ingestId,
        batch.packets,
        batch.problems,
        batch.complete,
      ]);
      await this.db.run("COMMIT");
    } catch (error) {
      await this.db.run("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  async portRows(query: RowQuery): Promise<PortRow[]> {
    const { where, values } = this.where(query, true);
    const rows = await this.rows(
      `SELECT * FROM port_buckets ${where} ORDER BY bucket, protocol, port NULLS FIRST, ingest_id`,
      values,
    );
    return rows.map((r) => ({
      bucket: num(r.bucket),
      bucketSize: r.bucket_size as BucketSize,
      protocol: r.protocol as TransportProtocol,
      port: r.port === null ? null : num(r.port),
      packets: num(r.packets),
      bytes: num(r.bytes),
      sources: num(r.sources),
      destinations: num(r.destinations),
      firstSeen: num(r.first_seen),
      lastSeen: num(r.last_seen),
      kinds: JSON.parse(r.kinds as string),
      probes: JSON.parse(r.probes as string),
      tags: JSON.parse(r.tags as string),
      sourcesState: state(r.sources_state),
      destinationsState: state(r.destinations_state),
    }));
  }

  async bucketRows(query: RowQuery): Promise<BucketRow[]> {
    const { where, values } = this.where(query, false);
    const rows = await this.rows(`SELECT * FROM buckets ${where} ORDER BY bucket, ingest_id`, values);
    return rows.map((r) => ({
      bucket: num(r.bucket),
      bucketSize: r.bucket_size as BucketSize,
      packets: num(r.packets),
      bytes: num(r.bytes),
      sources: num(r.sources),
      destinations: num(r.destinations),
      firstSeen: num(r.first_seen),
      lastSeen: num(r.last_seen),
      topPorts: JSON.parse(r.top_ports as string),
      topSources: JSON.parse(r.top_sources as string),
      backscatterPackets: num(r.backscatter_packets),
      victims: num(r.victims),
      topVictims: JSON.parse(r.top_victims as string),
      ports: [],
      sourcesState: state(r.sources_state),
      destinationsState: state(r.destinations_state),
      victimsState: state(r.victims_state),
      topSourcesState: heavy(r.top_sources_state),
      topVictimsState: heavy(r.top_victims_state),
    }));
  }

  ingests(): Promise<IngestRecord[]> {
    return this.ingestRecords("", []);
  }

  async problems(ingestId: number): Promise<StoredProblem[]> {
    const rows = await this.rows(
      "SELECT packet_index, byte_offset, problem FROM ingest_problems WHERE ingest_id = $1 ORDER BY packet_index",
      [ingestId],
    );
    return rows.map((r) => ({
      index: num(r.packet_index),
      offset: num(r.byte_offset),
      problem: r.problem as string,
    }));
  }

  async close(): Promise<void> {
    // A checkpoint folds the write-ahead log into the file, so the next open has nothing to replay.
    await this.db.run("CHECKPOINT").catch(() => undefined);
    this.db.closeSync();
    this.instance.closeSync();
  }

  private async appendRows(ingestId: number, rows: readonly BucketRow[]): Promise<void> {
    if (rows.length === 0) return;
    const id = BigInt(ingestId);
    const ports = await this.db.createAppender("port_buckets");
    const buckets = await this.db.createAppender("buckets");
    for (const b of rows) {
      for (const p of b.ports) {
        ports.appendBigInt(id);
        ports.appendVarchar(p.bucketSize);
        ports.appendBigInt(BigInt(p.bucket));
        ports.appendVarchar(p.protocol);
        if (p.port === null) ports.appendNull();
        else ports.appendInteger(p.port);
        appendCounts(ports, [p.packets, p.bytes, p.sources, p.destinations, p.firstSeen, p.lastSeen]);
        appendJson(ports, [p.kinds, p.probes, p.tags]);
        appendBlobs(ports, [blob(p.sourcesState), blob(p.destinationsState)]);
        ports.endRow();
      }
      buckets.appendBigInt(id);
      buckets.appendVarchar(b.bucketSize);
      buckets.appendBigInt(BigInt(b.bucket));
      appendCounts(buckets, [
        b.packets,
        b.bytes,
        b.sources,
        b.destinations,
        b.firstSeen,
        b.lastSeen,
        b.backscatterPackets,
        b.victims,
      ]);
      appendJson(buckets, [b.topPorts, b.topSources, b.topVictims]);
      appendBlobs(buckets, [
        blob(b.sourcesState),
        blob(b.destinationsState),
        blob(b.victimsState),
        b.topSourcesState === undefined ? null : encodeHeavy(b.topSourcesState),
        b.topVictimsState === undefined ? null : encodeHeavy(b.topVictimsState),
      ]);
      buckets.endRow();
    }
    ports.closeSync();
    buckets.closeSync();
  }

  private where(query: RowQuery, withPorts: boolean): { where: string; values: (string | number)[] } {
    const clauses = ["bucket_size = $1"];
    const values: (string | number)[] = [query.bucketSize];
    const add = (clause: string, value: string | number) => {
      values.push(value);
      clauses.push(clause.replace("?", `$${values.length}`));
    };
    if (query.since !== undefined) add("bucket >= ?", query.since);
    if (query.until !== undefined) add("bucket < ?", query.until);
    if (withPorts && query.protocol !== undefined) add("protocol = ?", query.protocol);
    if (withPorts && query.port !== undefined) {
      if (query.port === null) clauses.push("port IS NULL");
      else add("port = ?", query.port);
    }
    return { where: `WHERE ${clauses.join(" AND ")}`, values };
  }

  private async ingestRecords(where: string, values: (string | number)[]): Promise<IngestRecord[]> {
    const rows = await this.rows(
      `SELECT i.*, p.packets, p.problems, p.complete,
         (SELECT count(*) FROM buckets b WHERE b.ingest_id = i.id) AS bucket_rows
       FROM ingests i
       LEFT JOIN (SELECT ingest_id, max(packets) AS packets, max(problems) AS problems, bool_or(complete) AS complete
                  FROM ingest_progress GROUP BY ingest_id) p ON p.ingest_id = i.id
       ${where} ORDER BY i.id`,
      values,
    );
    return rows.map((r) => ({
      id: num(r.id),
      source: r.source as string,
      fingerprint: (r.fingerprint as string | null) ?? null,
      kind: r.kind as IngestRecord["kind"],
      bucketSizes: (r.bucket_sizes as string).split(",") as BucketSize[],
      startedAt: new Date(`${String(r.started_at)}Z`),
      packets: r.packets === null ? 0 : num(r.packets),
      problems: r.problems === null ? 0 : num(r.problems),
      complete: r.complete === true,
      buckets: num(r.bucket_rows),
    }));
  }

  private async rows(sql: string, values?: (string | number)[]): Promise<Row[]> {
    const reader = await this.db.runAndReadAll(sql, values);
    return reader.getRowObjects() as Row[];
  }
}

type Appender = {
  appendBigInt(v: bigint): void;
  appendVarchar(v: string): void;
  appendBlob(v: Uint8Array): void;
  appendNull(): void;
};

/** Count columns in table order (BIGINT). */
function appendCounts(appender: Appender, values: readonly number[]): void {
  for (const v of values) appender.appendBigInt(BigInt(v));
}

/** JSON text columns in table order. */
function appendJson(appender: Appender, values: readonly unknown[]): void {
  for (const v of values) appender.appendVarchar(JSON.stringify(v));
}

/** BLOB columns in table order; null where a row has no state. */
function appendBlobs(appender: Appender, values: readonly (Uint8Array | null)[]): void {
  for (const v of values) {
    if (v === null) appender.appendNull();
    else appender.appendBlob(v);
  }
}
