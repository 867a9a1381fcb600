/**
 * DNS messages (RFC 1035 section 4) for the DNS and mDNS probes: a query encoder and a defensive
 * decoder. Names may use compression pointers; a pointer must point strictly backwards, so a loop is
 * impossible, and names are capped at 255 octets as the RFC requires. Record counts are hostile input:
 * each record takes at least 11 octets, so the buffer bounds them, and a hard cap stops the rest.
 */

export const DNS_TYPE = { A: 1, NS: 2, CNAME: 5, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
export const DNS_CLASS = { IN: 1, CH: 3 } as const;
export const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"] as const;

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  /** Raw class field (mDNS puts its unicast-response bit in the top bit). */
  class: number;
}

export interface DnsRecord extends DnsQuestion {
  ttl: number;
  /** Offset of the RDATA in the message, so callers can decode names in it with readName. */
  rdataOffset: number;
  rdata: Buffer;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export const HEADER_LENGTH = 12;
const MAX_NAME = 255;
/** More records than any probe reply needs; a reply claiming more is not worth reading. */
const MAX_RECORDS = 512;

export interface QueryOptions {
  id: number;
  name: string;
  type: number;
  class?: number;
  /** Recursion desired. */
  rd?: boolean;
}

/** Encode a single-question query; throws on a name that cannot be encoded (a bug, not input). */
export function encodeQuery(q: QueryOptions): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(q.id & 0xffff, 0);
  header.writeUInt16BE(q.rd ? 0x0100 : 0, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(q.type, 0);
  tail.writeUInt16BE(q.class ?? DNS_CLASS.IN, 2);
  return Buffer.concat([header, encodeName(q.name), tail]);
}

/**
 * `encodeQuery` for one question with any id: encoded once, then copied with the id written in
 * (a probe sends thousands; encoding each anew cost ~14 µs in a fresh process).
 */
export function queryTemplate(q: Omit<QueryOptions, "id">): (id: number) => Buffer {
  const template = encodeQuery({ ...q, id: 0 });
  return (id) => {
    const out = Buffer.from(template);
    out.writeUInt16BE(id & 0xffff, 0);
    return out;
  };
}

export function encodeName(name: string): Buffer {
  const labels = name
    .replace(/\.$/, "")
    .split(".")
    .filter((l) => l !== "");
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, "ascii");
    if (bytes.length > 63) throw new RangeError(`DNS label too long: ${label}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME) throw new RangeError(`DNS name too long: ${name}`);
  return out;
}

export function decodeHeader(msg: Buffer): DnsHeader | null {
  if (msg.length < HEADER_LENGTH) return null;
  const flags = msg.readUInt16BE(2);
  return {
    id: msg.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount: msg.readUInt16BE(4),
    ancount: msg.readUInt16BE(6),
    nscount: msg.readUInt16BE(8),
    arcount: msg.readUInt16BE(10),
  };
}

/**
 * The name at `offset` and the offset just after it in the original stream (after the first pointer,
 * if any). Null on truncation, reserved label types, forward or self pointers, or an overlong name.
 */
export function readName(msg: Buffer, offset: number): { name: string; next: number } | null {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let length = 1; // the root label's octet
  // Every pointer jumps strictly backwards, so this loop ends; the bound is a second guard.
  for (let steps = 0; steps < MAX_NAME; steps++) {
    if (pos < 0 || pos >= msg.length) return null;
    const len = msg[pos]!;
    if (len === 0) {
      return { name: labels.join("."), next: next === -1 ? pos + 1 : next };
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return null;
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (target >= pos) return null;
      if (next === -1) next = pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0) return null; // 0x40 and 0x80 label types are reserved/obsolete
    length += len + 1;
    if (length > MAX_NAME || pos + 1 + len > msg.length) return null;
    labels.push(escapeLabel(msg.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return null;
}

/** Printable label text; dots and odd bytes escaped as in zone files so a name cannot be forged. */
function escapeLabel(bytes: Buffer): string {
  let s = "";
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString().padStart(3, "0")}`;
  }
  return s;
}

/** Decode header, questions and the three record sections; null when any part is malformed. */
export function decodeMessage(msg: Buffer): DnsMessage | null {
  const header = decodeHeader(msg);
  if (header === null) return null;
  let pos = HEADER_LENGTH;
  const questions: DnsQuestion[] = [];
  // A question takes at least 5 octets, a record 11: counts beyond what fits are lies.
  if (header.qdcount * 5 + (header.ancount + header.nscount + header.arcount) * 11 > msg.length) return null;
  if (header.qdcount + header.ancount + header.nscount + header.arcount > MAX_RECORDS) return null;
  for (let i = 0; i < header.qdcount; i++) {
    const name = readName(msg, pos);
    if (name === null || name.next + 4 > msg.length) return null;
    questions.push({
      name: name.name,
      type: msg.readUInt16BE(name.next),
      class: msg.readUInt16BE(name.next + 2),
    });
    pos = name.next + 4;
  }
  const sections: DnsRecord[][] = [];
  for (const count of [header.ancount, header.nscount, header.arcount]) {
    const records: DnsRecord[] = [];
    for (let i = 0; i < count; i++) {
      const rr = readRecord(msg, pos);
      if (rr === null) return null;
      records.push(rr.record);
      pos = rr.next;
    }
    sections.push(records);
  }
  return {
    header,
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
  };
}

function readRecord(msg: Buffer, offset: number): { record: DnsRecord; next: number } | null {
  const name = readName(msg, offset);
  if (name === null) return null;
  const p = name.next;
  if (p + 10 > msg.length) return null;
  const rdlength = msg.readUInt16BE(p + 8);
  const rdataOffset = p + 10;
  if (rdataOffset + rdlength > msg.length) return null;
  return {
    record: {
      name: name.name,
      type: msg.readUInt16BE(p),
      class: msg.readUInt16BE(p + 2),
      ttl: msg.readUInt32BE(p + 4),
      rdataOffset,
      rdata: msg.subarray(rdataOffset, rdataOffset + rdlength),
    },
    next: rdataOffset + rdlength,
  };
}

/** TXT RDATA: a run of length-prefixed character-strings; null when a length overruns. */
export function readTxt(rdata: Buffer): string[] | null {
  const out: string[] = [];
  let pos = 0;
  while (pos < rdata.length) {
    const len = rdata[pos]!;
    if (pos + 1 + len > rdata.length) return null;
    out.push(rdata.subarray(pos + 1, pos + 1 + len).toString("latin1"));
    pos += 1 + len;
  }
  return out;
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** Same name in DNS terms: ASCII case-insensitive, trailing dot ignored. */
export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();
}

/** True for a DNS response to our query id whose question (when echoed) is ours. */
export function isReplyTo(reply: Buffer, id: number, name: string, type: number, qclass: number): boolean {
  const h = decodeHeader(reply);
  if (h === null || !h.qr || h.opcode !== 0 || h.id !== (id & 0xffff)) return false;
  // Some servers drop the question from REFUSED/FORMERR replies; when it is there it must be ours.
  if (h.qdcount === 0) return true;
  if (h.qdcount !== 1) return false;
  const q = readName(reply, HEADER_LENGTH);
  if (q === null || q.next + 4 > reply.length) return false;
  return (
    sameName(q.name, name) && reply.readUInt16BE(q.next) === type && reply.readUInt16BE(q.next + 2) === qclass
  );
}
