/**
 * pcapng: a sequence of blocks (type, total length, body, total length again). Section header blocks
 * set the byte order and reset the interface list; interface description blocks give each interface
 * its link type and timestamp resolution; enhanced, simple and obsolete packet blocks carry packets.
 * Any other block is skipped by its length, so newer writers' blocks do no harm.
 */
import { CaptureReader } from "./reader.js";
import { type CaptureRecord, MAX_PACKET_BYTES } from "./record.js";

export const PCAPNG_SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IDB = 1;
const OPB = 2;
const SPB = 3;
const EPB = 6;
/** Non-packet blocks above this are skipped unread rather than buffered. */
const MAX_META_BLOCK = 1 << 20;
const TWO_32 = 4294967296;

export function isPcapngMagic(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === PCAPNG_SHB;
}

interface Interface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per microsecond when an exact integer divide works (ns: 1000), else 0. */
  divisor: number;
  /** Otherwise microseconds per unit. */
  scale: number;
  offsetMicros: number;
}

export class PcapngReader extends CaptureReader {
  readonly format = "pcapng" as const;
  private le = true;
  private inSection = false;
  readonly interfaces: Interface[] = [];

  protected parse(): CaptureRecord | null {
    for (;;) {
      const buf = this.buf;
      const at = this.pos;
      if (buf.length - at < 12) return null;
      let type = this.u32(at);
      if (type === PCAPNG_SHB) {
        const order = buf.readUInt32LE(at + 8);
        if (order === BYTE_ORDER_MAGIC) this.le = true;
        else if (buf.readUInt32BE(at + 8) === BYTE_ORDER_MAGIC) this.le = false;
        else return this.stop(`section header with a bad byte-order magic ${order.toString(16)}`);
        type = PCAPNG_SHB;
      } else if (!this.inSection) {
        return this.stop(`not a pcapng section header: ${buf.subarray(at, at + 4).toString("hex")}`);
      }
      const length = this.u32(at + 4);
      if (length < 12 || length % 4 !== 0)
        return this.stop(`block length ${length} is not a multiple of 4 >= 12`);
      if (length > MAX_META_BLOCK || (length > MAX_PACKET_BYTES + 64 && isPacketBlock(type))) {
        if (type === PCAPNG_SHB || type === IDB)
          return this.stop(`block of ${length} bytes is implausibly large`);
        if (isPacketBlock(type)) this.problem(`packet block of ${length} bytes is larger than 256 KiB`);
        if (isPacketBlock(type)) this.packets++;
        this.skipBytes(length);
        if (this.pos >= this.buf.length) return null;
        continue;
      }
      if (buf.length - at < length) return null;
      if (this.u32(at + length - 4) !== length) {
        return this.stop(
          `block length ${length} does not match its trailing copy ${this.u32(at + length - 4)}`,
        );
      }
      this.pos = at + length;
      switch (type) {
        case PCAPNG_SHB:
          this.inSection = true;
          this.interfaces.length = 0;
          break;
        case IDB:
          this.interfaces.push(this.describeInterface(at, length));
          break;
        case EPB:
        case OPB: {
          const record = this.packet(at, length, type);
          if (record !== null) return record;
          break;
        }
        case SPB: {
          const record = this.simplePacket(at, length);
          if (record !== null) return record;
          break;
        }
        default:
          break;
      }
    }
  }

  private u32(at: number): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  private u16(at: number): number {
    return this.le ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }

  /** Enhanced (6) or obsolete (2) packet block; null (with a problem) when it cannot be used. */
  private packet(at: number, length: number, type: number): CaptureRecord | null {
    const index = this.packets++;
    if (length < 32) return this.skipPacket(at, `packet block of ${length} bytes is too short`);
    const interfaceId = type === EPB ? this.u32(at + 8) : this.u16(at + 8);
    const iface = this.interfaces[interfaceId];
    if (iface === undefined) return this.skipPacket(at, `packet on undeclared interface ${interfaceId}`);
    const captured = this.u32(at + 20);
    if (captured > length - 32) {
      return this.skipPacket(at, `captured length ${captured} is larger than its block (${length} bytes)`);
    }
    const wire = this.u32(at + 24);
    const record = this.record;
    record.index = index;
    record.offset = this.base + at;
    record.timeMicros = toMicros(iface, this.u32(at + 12), this.u32(at + 16));
    record.linkType = iface.linkType;
    record.data = this.buf.subarray(at + 28, at + 28 + captured);
    record.wireLength = wire < captured ? captured : wire;
    return record;
  }

  /** Simple packet block: no timestamp, interface 0, captured length implied by snaplen and block. */
  private simplePacket(at: number, length: number): CaptureRecord | null {
    const index = this.packets++;
    const iface = this.interfaces[0];
    if (iface === undefined) return this.skipPacket(at, "simple packet block before any interface");
    const wire = this.u32(at + 8);
    let captured = Math.min(wire, length - 16);
    if (iface.snapLength > 0 && captured > iface.snapLength) captured = iface.snapLength;
    const record = this.record;
    record.index = index;
    record.offset = this.base + at;
    record.timeMicros = 0;
    record.linkType = iface.linkType;
    record.data = this.buf.subarray(at + 12, at + 12 + captured);
    record.wireLength = wire;
    return record;
  }

  private skipPacket(at: number, problem: string): null {
    this.problem(problem, this.base + at, this.packets - 1);
    return null;
  }

  private describeInterface(at: number, length: number): Interface {
    const iface: Interface = {
      linkType: length >= 20 ? this.u16(at + 8) : -1,
      snapLength: length >= 20 ? this.u32(at + 12) : 0,
      divisor: 1,
      scale: 1,
      offsetMicros: 0,
    };
    const end = at + length - 4;
    let option = at + 16;
    while (option + 4 <= end) {
      const code = this.u16(option);
      const size = this.u16(option + 2);
      if (code === 0 || option + 4 + size > end) break;
      if (code === 9 && size >= 1) setResolution(iface, this.buf[option + 4]!);
      if (code === 14 && size >= 8) {
        // if_tsoffset: seconds to add to every timestamp (signed 64-bit).
        const high = this.le ? this.buf.readInt32LE(option + 8) : this.buf.readInt32BE(option + 4);
        const low = this.le ? this.buf.readUInt32LE(option + 4) : this.buf.readUInt32BE(option + 8);
        iface.offsetMicros = (high * TWO_32 + low) * 1e6;
      }
      option += 4 + size + ((4 - (size % 4)) % 4);
    }
    return iface;
  }
}

function isPacketBlock(type: number): boolean {
  return type === EPB || type === SPB || type === OPB;
}

/** if_tsresol: high bit clear = 10^-n seconds, set = 2^-n seconds. */
function setResolution(iface: Interface, value: number): void {
  const perSecond = value & 0x80 ? 2 ** (value & 0x7f) : 10 ** value;
  const perMicro = perSecond / 1e6;
  // Integer divisors up to 2^21 keep the split division below exact in doubles.
  if (Number.isInteger(perMicro) && perMicro >= 1 && perMicro < 2 ** 21) {
    iface.divisor = perMicro;
    iface.scale = 1;
  } else {
    iface.divisor = 0;
    iface.scale = 1e6 / perSecond;
  }
}

/** A 64-bit timestamp in interface units to microseconds, exactly for the usual µs and ns. */
function toMicros(iface: Interface, high: number, low: number): number {
  const divisor = iface.divisor;
  if (divisor === 1) return high * TWO_32 + low + iface.offsetMicros;
  if (divisor > 1) {
    const highQuotient = Math.floor(high / divisor);
    const rest = (high - highQuotient * divisor) * TWO_32 + low;
    return highQuotient * TWO_32 + Math.floor(rest / divisor) + iface.offsetMicros;
  }
  return Math.floor((high * TWO_32 + low) * iface.scale) + iface.offsetMicros;
}
