/**
 * Text parts (a report written piece by piece) to standard output. When stdout is a file (or
 * /dev/null), each part goes straight to the descriptor with writeSync, which is what
 * process.stdout does for files anyway, minus the Buffer it makes of every part first: for a
 * 7 MB JSON report, ~6 ms of encoding into new Buffers and the garbage collections they bring.
 * Pipes, sockets and terminals go through process.stdout, and the next part is made only once the
 * stream has taken the last one ("drain"): a reader slower than the report would otherwise leave
 * every part queued in memory at once, surviving collections until written.
 */
import { once } from "node:events";
import { fstatSync, writeSync } from "node:fs";
import { isatty } from "node:tty";

/** A regular file or a character device that is not a terminal: writes to it never have to wait. */
export function isPlainFile(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFile() || (st.isCharacterDevice() && !isatty(fd));
  } catch {
    return false; // closed or unknown: let the stream report it
  }
}

export async function writeParts(
  parts: Iterable<string>,
  stream: NodeJS.WriteStream = process.stdout,
): Promise<void> {
  const fd = (stream as { fd?: unknown }).fd;
  if (typeof fd === "number" && isPlainFile(fd)) {
    for (const part of parts) writeSync(fd, part);
    return;
  }
  for (const part of parts) if (!stream.write(part)) await once(stream, "drain");
}
