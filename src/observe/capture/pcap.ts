/**
 * Classic pcap (libpcap's file format): a 24-byte header, then 16-byte record headers each followed
 * by the captured bytes. Either byte order, microsecond (a1b2c3d4) or nanosecond (a1b23c4d) stamps.
 */
import { CaptureReader } from "./reader.js";
import { type CaptureRecord, MAX_PACKET_BYTES } from "./record.js";

export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;

export function isPcapMagic(head: Buffer): boolean {
  if (head.length < 4) return false;
  const be = head.readUInt32BE(0);
  const le = head.readUInt32LE(0);
  return (
    be === PCAP_MAGIC_MICRO || be === PCAP_MAGIC_NANO || le === PCAP_MAGIC_MICRO || le === PCAP_MAGIC_NANO
  );
}

export class PcapReader extends CaptureReader {
  readonly format = "pcap" as const;
  private headerDone = false;
  private le = true;
  private nano = false;
  linkType = -1;
  snapLength = 0;

  protected parse(): CaptureRecord | null {
    const buf = this.buf;
    if (!this.headerDone && !this.header()) return null;
    const at = this.pos;
    if (buf.length - at < 16) return null;
    const le = this.le;
    const seconds = le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
    const fraction = le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4);
    const captured = le ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
    const wire = le ? buf.readUInt32LE(at + 12) : buf.readUInt32BE(at + 12);
    // A length this large means the framing is lost: nothing after it can be found again.
    if (captured > MAX_PACKET_BYTES) return this.stop(`captured length ${captured} is larger than 256 KiB`);
    if (buf.length - at < 16 + captured) return null;
    if (wire < captured) this.problem(`wire length ${wire} is smaller than captured length ${captured}`);
    const record = this.record;
    record.index = this.packets++;
    record.offset = this.base + at;
    record.timeMicros = seconds * 1e6 + (this.nano ? Math.floor(fraction / 1000) : fraction);
    record.linkType = this.linkType;
    record.data = buf.subarray(at + 16, at + 16 + captured);
    record.wireLength = wire < captured ? captured : wire;
    this.pos = at + 16 + captured;
    return record;
  }

  /** Read the file header; false when it needs more bytes or the magic is wrong (then stopped). */
  private header(): boolean {
    const buf = this.buf;
    if (buf.length - this.pos < 24) return false;
    const magic = buf.readUInt32BE(this.pos);
    if (magic === PCAP_MAGIC_MICRO || magic === PCAP_MAGIC_NANO) this.le = false;
    else if (
      buf.readUInt32LE(this.pos) === PCAP_MAGIC_MICRO ||
      buf.readUInt32LE(this.pos) === PCAP_MAGIC_NANO
    )
      this.le = true;
    else {
      this.stop(`not a pcap file: magic ${buf.subarray(this.pos, this.pos + 4).toString("hex")}`);
      return false;
    }
    const read = this.le ? buf.readUInt32LE.bind(buf) : buf.readUInt32BE.bind(buf);
    this.nano = read(this.pos) === PCAP_MAGIC_NANO;
    this.snapLength = read(this.pos + 16);
    // The upper bits carry the FCS length flag; the link type is the low 16.
    this.linkType = read(this.pos + 20) & 0xffff;
    this.pos += 24;
    this.headerDone = true;
    return true;
  }
}
