/** Shared by the observe tests: read a capture fully, and what tcpdump says about it. */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openCapture, readCaptureBuffer } from "../../src/observe/capture/open.js";
import type { CaptureReader, CaptureSummary } from "../../src/observe/capture/reader.js";
import type { CaptureRecord } from "../../src/observe/capture/record.js";

export const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

export interface Read {
  records: (Omit<CaptureRecord, "data"> & { data: Buffer })[];
  summary: CaptureSummary;
}

/** Copies each shared record (the reader reuses one object). */
export async function readAll(reader: CaptureReader): Promise<Read> {
  const records: Read["records"] = [];
  const summary = await reader.forEach((record) => {
    records.push({ ...record });
  });
  await reader.close();
  return { records, summary };
}

export const readFile = async (name: string): Promise<Read> => readAll(await openCapture(fixture(name)));
export const readBuffer = (buffer: Buffer, chunkBytes?: number): Promise<Read> =>
  readAll(readCaptureBuffer(buffer, "<test>", chunkBytes));

let tcpdumpChecked: boolean | undefined;
export function hasTcpdump(): boolean {
  if (tcpdumpChecked === undefined) {
    try {
      execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
      tcpdumpChecked = true;
    } catch {
      tcpdumpChecked = false;
    }
  }
  return tcpdumpChecked;
}

/** `tcpdump -nr FILE -tt` lines: one per packet, starting with seconds.micros. */
export function tcpdumpLines(path: string, extra: string[] = []): string[] {
  const out = execFileSync("tcpdump", ["-nr", path, "-tt", ...extra], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return out.split("\n").filter((line) => line.length > 0);
}

/** "1763900320.123456" -> microseconds, exactly. */
export function micros(stamp: string): number {
  const [seconds, fraction] = stamp.split(".") as [string, string];
  return Number(seconds) * 1e6 + Number(fraction.padEnd(6, "0").slice(0, 6));
}
