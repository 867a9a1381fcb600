/**
 * Byte sources the readers pull chunks from. `more(leftover)` returns a fresh buffer that starts
 * with `leftover` (the unparsed tail of the previous chunk, so records may span chunks) followed by
 * new bytes, or null at the end. Memory stays bounded by the chunk size plus one record.
 */
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";

export interface ChunkSource {
  more(leftover: Buffer): Promise<Buffer | null>;
  close(): Promise<void>;
}

export const CHUNK_BYTES = 1 << 20;

/** A plain file: read straight into the new chunk behind the leftover, so nothing is copied twice. */
export async function fileSource(path: string, chunkBytes = CHUNK_BYTES): Promise<ChunkSource> {
  const handle = await open(path, "r");
  let done = false;
  return {
    async more(leftover) {
      if (done) return null;
      const chunk = Buffer.allocUnsafe(leftover.length + chunkBytes);
      leftover.copy(chunk, 0);
      const { bytesRead } = await handle.read(chunk, leftover.length, chunkBytes, null);
      if (bytesRead === 0) {
        done = true;
        return null;
      }
      return chunk.subarray(0, leftover.length + bytesRead);
    },
    close: () => handle.close(),
  };
}

/**
 * A stream (gunzip): its chunks are appended to the leftover. Stream errors (corrupt or cut gzip)
 * end the source and are kept in `error` so the reader reports them as a problem, not a throw.
 */
export function streamSource(stream: Readable, first?: Buffer): ChunkSource & { error: Error | null } {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending = first;
  let done = false;
  const source = {
    error: null as Error | null,
    async more(leftover: Buffer): Promise<Buffer | null> {
      if (pending !== undefined) {
        const chunk = pending;
        pending = undefined;
        return leftover.length === 0 ? chunk : Buffer.concat([leftover, chunk]);
      }
      if (done) return null;
      try {
        const step = await iterator.next();
        if (step.done === true) {
          done = true;
          return null;
        }
        return leftover.length === 0 ? step.value : Buffer.concat([leftover, step.value]);
      } catch (error) {
        done = true;
        source.error = error instanceof Error ? error : new Error(String(error));
        return null;
      }
    },
    async close() {
      done = true;
      stream.destroy();
    },
  };
  return source;
}

/** A buffer already in memory (tests, small inputs), handed out in chunks of `chunkBytes`. */
export function bufferSource(buffer: Buffer, chunkBytes = CHUNK_BYTES): ChunkSource {
  let at = 0;
  return {
    async more(leftover) {
      if (at >= buffer.length) return null;
      const end = Math.min(buffer.length, at + chunkBytes);
      const piece = buffer.subarray(at, end);
      at = end;
      return leftover.length === 0 ? piece : Buffer.concat([leftover, piece]);
    },
    async close() {},
  };
}
