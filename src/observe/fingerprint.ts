/**
 * A capture file's identity for "already ingested?": SHA-256 over its size and its first and last
 * MiB. Hashing a multi-gigabyte file whole would cost seconds on every ingest; two different captures
 * of the same size that also share their first and last MiB (headers, timestamps, addresses) do
 * not happen in practice. A renamed or copied file is still the same capture.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

const SPAN = 1 << 20;

export async function captureFingerprint(path: string): Promise<string> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const hash = createHash("sha256").update(`moat-capture-v1 ${size}\n`);
    const head = Buffer.alloc(Math.min(SPAN, size));
    await file.read(head, 0, head.length, 0);
    hash.update(head);
    if (size > SPAN) {
      const tail = Buffer.alloc(Math.min(SPAN, size - SPAN));
      await file.read(tail, 0, tail.length, size - tail.length);
      hash.update(tail);
    }
    return hash.digest("hex");
  } finally {
    await file.close();
  }
}
