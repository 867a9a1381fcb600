/**
 * The chunked reader both formats share: buffer management (records spanning chunks, skipping
 * oversized blocks without buffering them), problem bookkeeping, and the loops callers use.
 * A subclass only implements `parse()`: take the next record out of `buf` at `pos`, or return null
 * when it needs more bytes.
 */
import {
  type CaptureFormat,
  type CaptureProblem,
  type CaptureRecord,
  MAX_PROBLEMS,
  newRecord,
} from "./record.js";
import type { ChunkSource } from "./source.js";

const EMPTY = Buffer.alloc(0);

export interface CaptureSummary {
  format: CaptureFormat;
  packets: number;
  problemCount: number;
  problems: CaptureProblem[];
}

export abstract class CaptureReader {
  abstract readonly format: CaptureFormat;
  /** The one record object handed out for every packet (see record.ts). */
  readonly record: CaptureRecord = newRecord();
  readonly problems: CaptureProblem[] = [];
  problemCount = 0;
  /** Index the next packet gets. */
  packets = 0;
  protected buf: Buffer;
  protected pos = 0;
  /** File offset of buf[0]. */
  protected base = 0;
  protected stopped = false;
  private skip = 0;

  constructor(
    private readonly source: ChunkSource,
    readonly file: string,
    first: Buffer = EMPTY,
  ) {
    this.buf = first;
  }

  /** The next record from buffered bytes; null when `fill()` must run (or the capture ended). */
  next(): CaptureRecord | null {
    if (this.stopped) return null;
    return this.parse();
  }

  /** Pull the next chunk; false at the end (a partial record left over is reported, not thrown). */
  async fill(): Promise<boolean> {
    if (this.stopped) return false;
    const leftover = this.buf.subarray(this.pos);
    const chunk = await this.source.more(leftover);
    if (chunk === null) {
      this.stopped = true;
      const error = (this.source as { error?: Error | null }).error;
      if (error) this.problem(`decompression failed: ${error.message}`);
      if (leftover.length > 0) {
        this.problem(`truncated at end of file: ${leftover.length} bytes of an incomplete record`);
      }
      return false;
    }
    this.base += this.pos;
    this.buf = chunk;
    this.pos = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.pos = n;
      this.skip -= n;
    }
    return true;
  }

  /** Every record through `visit` (the shared record object), then a summary. The hot loop. */
  async forEach(visit: (record: CaptureRecord) => void): Promise<CaptureSummary> {
    do {
      for (let record = this.next(); record !== null; record = this.next()) visit(record);
    } while (await this.fill());
    return this.summary();
  }

  /** Convenience iteration; each value is the shared record object, valid until the next one. */
  async *records(): AsyncGenerator<CaptureRecord> {
    do {
      for (let record = this.next(); record !== null; record = this.next()) yield record;
    } while (await this.fill());
  }

  summary(): CaptureSummary {
    return {
      format: this.format,
      packets: this.packets,
      problemCount: this.problemCount,
      problems: this.problems,
    };
  }

  close(): Promise<void> {
    this.stopped = true;
    return this.source.close();
  }

  protected abstract parse(): CaptureRecord | null;

  /** Record a problem at the current position. */
  protected problem(problem: string, offset = this.base + this.pos, index = this.packets): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ index, offset, problem });
  }

  /** A problem that breaks the framing: nothing after it can be trusted. */
  protected stop(problem: string): null {
    this.problem(problem);
    this.stopped = true;
    return null;
  }

  /** Drop `n` bytes from `pos`, even past the buffered chunk, without buffering them. */
  protected skipBytes(n: number): void {
    const here = this.buf.length - this.pos;
    if (n <= here) {
      this.pos += n;
      return;
    }
    this.pos = this.buf.length;
    this.skip = n - here;
  }
}
