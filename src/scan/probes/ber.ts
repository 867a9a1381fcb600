/**
 * A minimal BER (X.690) encoder and a defensive reader, shared by the SNMP and CLDAP probes.
 * The reader takes definite lengths only (what SNMP and LDAP send), checks every length against the
 * buffer, caps tag and length sizes, and never recurses: callers walk the tree one level at a time.
 */

/** Universal tags the probes use (class bits included, as on the wire). */
export const BER = {
  boolean: 0x01,
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  sequence: 0x30,
  set: 0x31,
} as const;

export interface Tlv {
  /** 0 universal, 1 application, 2 context, 3 private. */
  tagClass: number;
  constructed: boolean;
  tagNumber: number;
  /** The first identifier octet, handy when comparing against BER.* or 0xa2-style constants. */
  tagByte: number;
  /** Offsets into the buffer: header at `start`, value from `valueStart` to `end` (exclusive). */
  start: number;
  valueStart: number;
  end: number;
}

/** Longest length field (in octets after the 0x8X byte) and tag number (in octets) accepted. */
const MAX_LENGTH_OCTETS = 4;
const MAX_TAG_OCTETS = 4;

/** One TLV at `offset`, or null when it is malformed, indefinite, or runs past `limit`. */
export function readTlv(buf: Buffer, offset: number, limit: number = buf.length): Tlv | null {
  const end = Math.min(limit, buf.length);
  if (!Number.isInteger(offset) || offset < 0 || offset >= end) return null;
  let pos = offset;
  const first = buf[pos++]!;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    // High-tag-number form: base-128 octets, bounded so a run of 0xff cannot go on forever.
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (i >= MAX_TAG_OCTETS || pos >= end) return null;
      const b = buf[pos++]!;
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (pos >= end) return null;
  const lenByte = buf[pos++]!;
  let length: number;
  if (lenByte < 0x80) {
    length = lenByte;
  } else {
    const n = lenByte & 0x7f;
    if (n === 0 || n > MAX_LENGTH_OCTETS || pos + n > end) return null; // 0x80 = indefinite
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos++]!;
  }
  if (pos + length > end) return null;
  return {
    tagClass: first >> 6,
    constructed: (first & 0x20) !== 0,
    tagNumber,
    tagByte: first,
    start: offset,
    valueStart: pos,
    end: pos + length,
  };
}

/** The direct children of a constructed TLV; null if any is malformed or there are more than `max`. */
export function readChildren(buf: Buffer, parent: Tlv, max = 256): Tlv[] | null {
  if (!parent.constructed) return null;
  const out: Tlv[] = [];
  let pos = parent.valueStart;
  while (pos < parent.end) {
    if (out.length >= max) return null;
    const child = readTlv(buf, pos, parent.end);
    if (child === null) return null;
    out.push(child);
    pos = child.end;
  }
  return out;
}

/**
 * Follow a path of child indexes from `root`, at most `maxDepth` levels, checking each step's tag byte
 * when `tags` gives one. Null when the tree does not have that shape.
 */
export function descend(
  buf: Buffer,
  root: Tlv,
  path: readonly { index: number; tag?: number }[],
  maxDepth = 16,
): Tlv | null {
  if (path.length > maxDepth) return null;
  let node = root;
  for (const step of path) {
    const kids = readChildren(buf, node);
    const next = kids?.[step.index];
    if (next === undefined) return null;
    if (step.tag !== undefined && next.tagByte !== step.tag) return null;
    node = next;
  }
  return node;
}

export function value(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.valueStart, tlv.end);
}

/** A signed INTEGER that fits in 48 bits (request ids, versions, error codes); null otherwise. */
export function readInteger(buf: Buffer, tlv: Tlv): number | null {
  const len = tlv.end - tlv.valueStart;
  if (tlv.constructed || len < 1 || len > 6) return null;
  return buf.readIntBE(tlv.valueStart, len);
}

/** An OBJECT IDENTIFIER as dotted text; null when malformed or absurdly long. */
export function readOid(buf: Buffer, tlv: Tlv): string | null {
  const len = tlv.end - tlv.valueStart;
  if (tlv.constructed || len < 1 || len > 128) return null;
  const arcs: number[] = [];
  let acc = 0;
  let octets = 0;
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    const b = buf[i]!;
    acc = acc * 128 + (b & 0x7f);
    if (++octets > 5) return null; // keeps arcs within 35 bits, exact as a JS number
    if ((b & 0x80) === 0) {
      arcs.push(acc);
      acc = 0;
      octets = 0;
    }
  }
  if (octets !== 0 || arcs.length === 0) return null; // last octet had the continuation bit
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

// --- encoder ---

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV with a single-octet tag (all the probes need) and a definite length. */
export function tlv(tag: number, content: Buffer | readonly Buffer[]): Buffer {
  const body = Buffer.isBuffer(content) ? content : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

/**
 * `encode` for 16-bit ids, where the id is an INTEGER followed by `afterId` bytes that do not depend
 * on it: encoded once per length of the id (1-3 content octets), then copied with the id's octets
 * written in. Probes send thousands of requests; encoding each field by field cost ~70 µs in a
 * fresh process.
 */
export function idTemplate(encode: (id: number) => Buffer, afterId: number): (id: number) => Buffer {
  const templates: Buffer[] = [];
  return (raw) => {
    const id = raw & 0xffff;
    const octets = id < 0x80 ? 1 : id < 0x8000 ? 2 : 3;
    templates[octets] ??= encode(id);
    const template = templates[octets];
    const out = Buffer.from(template);
    out.writeUIntBE(id, template.length - afterId - octets, octets);
    return out;
  };
}

/** Minimal two's-complement INTEGER (so 0x8000 takes three octets). */
export function encodeInteger(n: number, tag: number = BER.integer): Buffer {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer: ${n}`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(((v % 256) + 256) % 256);
    v = Math.floor(v / 256);
  } while (v !== 0 && v !== -1);
  // Add a sign octet when the top bit disagrees with the sign.
  const top = bytes[0]!;
  if (n >= 0 && top & 0x80) bytes.unshift(0);
  if (n < 0 && !(top & 0x80)) bytes.unshift(0xff);
  return tlv(tag, Buffer.from(bytes));
}

export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new RangeError(`bad OID: ${dotted}`);
  }
  const out: number[] = [];
  const rest = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(BER.oid, Buffer.from(out));
}

export function encodeOctetString(s: string | Buffer, tag: number = BER.octetString): Buffer {
  return tlv(tag, typeof s === "string" ? Buffer.from(s, "utf8") : s);
}

export function encodeNull(): Buffer {
  return Buffer.from([BER.null, 0]);
}
