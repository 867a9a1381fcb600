/**
 * Open a capture file of any supported kind: detect pcap or pcapng by magic, gzip by 1f 8b (then
 * decompressed as a stream: memory stays at one decompressed chunk plus one record, whatever the
 * file size). Unknown or empty input is an InputError naming the file; everything after the magic
 * is the reader's business and becomes problems, not throws.
 */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InputError } from "../../errors.js";
import { isPcapMagic, PcapReader } from "./pcap.js";
import { isPcapngMagic, PcapngReader } from "./pcapng.js";
import type { CaptureReader } from "./reader.js";
import { bufferSource, type ChunkSource, fileSource, streamSource } from "./source.js";

const GZIP_CHUNK = 1 << 18;

export async function openCapture(path: string): Promise<CaptureReader> {
  const file = await fileSource(path).catch((error: NodeJS.ErrnoException) => {
    throw new InputError(`cannot open capture: ${error.code ?? error.message}`, { file: path });
  });
  const first = await file.more(Buffer.alloc(0));
  if (first === null) {
    await file.close();
    throw new InputError("empty capture file", { file: path, offset: 0 });
  }
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
    await file.close();
    const stream = createReadStream(path, { highWaterMark: GZIP_CHUNK }).pipe(
      createGunzip({ chunkSize: GZIP_CHUNK }),
    );
    const source = streamSource(stream);
    const head = await source.more(Buffer.alloc(0));
    if (head === null) {
      await source.close();
      const why = source.error ? `: ${source.error.message}` : "";
      throw new InputError(`empty gzip capture${why}`, { file: path, offset: 0 });
    }
    return readerFor(head, source, path, " (after gunzip)");
  }
  return readerFor(first, file, path, "");
}

/**
 * A capture arriving on a stream (`tcpdump -w -`); null when the stream ends before the magic
 * number (the producer died before writing anything).
 */
export async function openCaptureStream(stream: Readable, name: string): Promise<CaptureReader | null> {
  const source = streamSource(stream);
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 4) {
    const more = await source.more(head);
    if (more === null) {
      await source.close();
      return null;
    }
    head = more;
  }
  return readerFor(head, source, name, "");
}

/** A reader over an in-memory capture (tests, already-loaded data); no gzip. */
export function readCaptureBuffer(buffer: Buffer, name = "<buffer>", chunkBytes?: number): CaptureReader {
  if (buffer.length === 0) throw new InputError("empty capture", { file: name, offset: 0 });
  return readerFor(Buffer.alloc(0), bufferSource(buffer, chunkBytes), name, "", buffer);
}

function readerFor(
  first: Buffer,
  source: ChunkSource,
  path: string,
  note: string,
  head: Buffer = first,
): CaptureReader {
  if (isPcapngMagic(head)) return new PcapngReader(source, path, first);
  if (isPcapMagic(head)) return new PcapReader(source, path, first);
  void source.close();
  const bytes = head
    .subarray(0, 8)
    .toString("hex")
    .replace(/(..)(?!$)/g, "$1 ");
  throw new InputError(`not a pcap or pcapng file${note}: first bytes ${bytes}`, { file: path, offset: 0 });
}
