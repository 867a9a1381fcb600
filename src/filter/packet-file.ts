/** Reads `--packets FILE|-`: the text of a file or of stdin, then one packet per line. */
import { readFileSync, statSync } from "node:fs";
import { InputError } from "../errors.js";
import { parsePacketLines } from "./packet.js";
import type { Packet } from "./types.js";

/** 256 MiB is several million packets; more is surely not a packet list. */
const MAX_PACKET_BYTES = 256 * 1024 * 1024;

export async function readPacketFile(
  path: string,
  stdin: AsyncIterable<Buffer | string> = process.stdin,
): Promise<Packet[]> {
  if (path === "-") return parsePacketLines(await readAll(stdin), "stdin");
  let text: string;
  try {
    const info = statSync(path);
    if (info.isDirectory()) throw new InputError("is a directory, not a list of packets", { file: path });
    if (info.size > MAX_PACKET_BYTES) throw tooBig(path);
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(
      `cannot read the packets (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      {
        file: path,
      },
    );
  }
  return parsePacketLines(text, path);
}

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > MAX_PACKET_BYTES) throw tooBig("stdin");
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

function tooBig(file: string): InputError {
  return new InputError(`more than ${MAX_PACKET_BYTES / 1024 / 1024} MiB of packets; split the list`, {
    file,
  });
}
