/**
 * Text parts (a report written piece by piece) to standard output. When stdout is a file (or
 * /dev/null), each part goes straight to the descriptor with writeSync, which is what
 * process.stdout does for files anyway, minus the Buffer it makes of every part first: for a
 * 7 MB JSON report, ~6 ms of encoding into new Buffers and the garbage collections they bring.
 * Pipes, sockets and terminals go through process.stdout, which waits for a slow reader.
 */
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

export function writeParts(parts: Iterable<string>, stream: NodeJS.WriteStream = process.stdout): void {
  const fd = (stream as { fd?: unknown }).fd;
  if (typeof fd === "number" && isPlainFile(fd)) {
    for (const part of parts) writeSync(fd, part);
  } else {
    for (const part of parts) stream.write(part);
  }
}
