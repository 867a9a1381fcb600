/**
 * What every capture reader hands out: one raw record per packet, and problems instead of throws.
 * A reader reuses one record object for every packet (no per-packet allocation beyond the `data`
 * view): copy the fields you keep past the next call. `data` itself stays valid: each chunk is a
 * fresh buffer, so a view keeps its chunk alive rather than being overwritten.
 */
export interface CaptureRecord {
  /** 0-based packet index in the capture. */
  index: number;
  /** Byte offset of the record (or block) in the (decompressed) file, for error reports. */
  offset: number;
  timeMicros: number;
  /** LINKTYPE_* value of the interface the packet came from. */
  linkType: number;
  /** The captured bytes: a view into the reader's chunk, never a copy. */
  data: Buffer;
  /** Length of the packet on the wire (>= data.length unless the file says otherwise). */
  wireLength: number;
}

/** Something wrong in the input, tied to the packet index it concerns and a byte offset. */
export interface CaptureProblem {
  index: number;
  offset: number;
  problem: string;
}

export type CaptureFormat = "pcap" | "pcapng";

/** Packets larger than this are not real captures (libpcap's own ceiling is 256 KiB). */
export const MAX_PACKET_BYTES = 256 * 1024;

/** Keep at most this many problem entries; `problemCount` still counts all of them. */
export const MAX_PROBLEMS = 1000;

export function newRecord(): CaptureRecord {
  return { index: 0, offset: 0, timeMicros: 0, linkType: 0, data: Buffer.alloc(0), wireLength: 0 };
}
