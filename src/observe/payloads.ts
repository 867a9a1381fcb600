/**
 * UDP probe recognition: a table of byte signatures (data), read by one small matcher (code).
 * Adding a probe is adding one entry. Every check is bounds-checked: a short or junk payload simply
 * does not match. Entries are tried in order, so the more specific ones come first.
 * Where a few bytes would be ambiguous on their own, the entry also names the well-known port.
 */

export type Check =
  /** These bytes at this offset. */
  | { at: number; bytes: readonly number[] }
  /** ASCII text at this offset (optionally ignoring case). */
  | { at: number; text: string; caseless?: boolean }
  /** One byte under a mask. */
  | { at: number; mask: number; equals: number }
  /** One byte among these values. */
  | { at: number; oneOf: readonly number[] }
  /** A DNS-shaped query (QR 0, opcode 0, one question) whose first question type is one of these (any if empty). */
  | { dnsQuestion: readonly number[] }
  /** A BER SEQUENCE whose elements, after skipping these tags in order, continue with one of these tags. */
  | { berSkip: readonly number[]; tags: readonly number[] };

export interface Signature {
  probe: string;
  /** Only on these destination ports (omitted: any port). */
  ports?: readonly number[];
  minLength: number;
  all: readonly Check[];
}

const DNS_ANY = 255;
const NBSTAT = 0x21;
const BER_INTEGER = 0x02;
const BER_OCTETS = 0x04;

/** memcached's UDP frame: request id, sequence, datagram count, reserved 0; then the ASCII command. */
const MEMCACHED_FRAME: Check = { at: 6, bytes: [0, 0] };
/** ONC RPC call, version 2, to program 100000 (portmapper): the procedure follows at offset 20. */
const RPC_PORTMAP_CALL: readonly Check[] = [
  { at: 4, bytes: [0, 0, 0, 0] },
  { at: 8, bytes: [0, 0, 0, 2] },
  { at: 12, bytes: [0x00, 0x01, 0x86, 0xa0] },
];

export const SIGNATURES: readonly Signature[] = [
  {
    probe: "memcached-stats",
    minLength: 13,
    all: [MEMCACHED_FRAME, { at: 8, text: "stats", caseless: true }],
  },
  {
    probe: "memcached-get",
    minLength: 12,
    all: [MEMCACHED_FRAME, { at: 8, text: "get", caseless: true }, { at: 11, oneOf: [0x20, 0x73, 0x53] }],
  },
  // What nmap's -sU sends to 11211 (nmap-payloads): finds the server without a large reply.
  {
    probe: "memcached-version",
    minLength: 15,
    all: [MEMCACHED_FRAME, { at: 8, text: "version", caseless: true }],
  },
  // ntpd mode 7 (private) request, not a response: MON_GETLIST (20) or MON_GETLIST_1 (42).
  {
    probe: "ntp-monlist",
    ports: [123],
    minLength: 4,
    all: [
      { at: 0, mask: 0xc7, equals: 0x07 },
      { at: 3, oneOf: [20, 42] },
    ],
  },
  // Mode 6 (control) READVAR: what `ntpq -c rv` and version scanners send.
  {
    probe: "ntp-version",
    ports: [123],
    minLength: 12,
    all: [
      { at: 0, mask: 0xc7, equals: 0x06 },
      { at: 1, mask: 0x9f, equals: 0x02 },
    ],
  },
  // A plain mode 3 client request (zmap's ntp module, time-server surveys).
  { probe: "ntp-client", ports: [123], minLength: 48, all: [{ at: 0, mask: 0x07, equals: 0x03 }] },
  { probe: "ssdp-msearch", minLength: 9, all: [{ at: 0, text: "M-SEARCH ", caseless: true }] },
  { probe: "sip-options", minLength: 12, all: [{ at: 0, text: "OPTIONS sip:", caseless: true }] },
  { probe: "netbios-nbstat", ports: [137], minLength: 50, all: [{ dnsQuestion: [NBSTAT] }] },
  { probe: "mdns", ports: [5353], minLength: 17, all: [{ dnsQuestion: [] }] },
  { probe: "dns-any", ports: [53], minLength: 17, all: [{ dnsQuestion: [DNS_ANY] }] },
  { probe: "dns-query", ports: [53], minLength: 17, all: [{ dnsQuestion: [] }] },
  // SNMP v1/v2c: SEQUENCE { version INTEGER, community OCTET STRING, PDU }.
  {
    probe: "snmp-get",
    ports: [161],
    minLength: 10,
    all: [{ berSkip: [BER_INTEGER, BER_OCTETS], tags: [0xa0, 0xa1] }],
  },
  {
    probe: "snmp-getbulk",
    ports: [161],
    minLength: 10,
    all: [{ berSkip: [BER_INTEGER, BER_OCTETS], tags: [0xa5] }],
  },
  // SNMPv3: SEQUENCE { msgVersion INTEGER, msgGlobalData SEQUENCE, ... } — the engine-ID discovery
  // request nmap and version scanners send (RFC 3414 4.); v1/v2c have an OCTET STRING second.
  { probe: "snmp-v3", ports: [161], minLength: 10, all: [{ berSkip: [BER_INTEGER], tags: [0x30] }] },
  // LDAPMessage { messageID, SearchRequest [APPLICATION 3] }; the rootDSE query has an empty base object.
  { probe: "cldap-rootdse", ports: [389], minLength: 8, all: [{ berSkip: [BER_INTEGER], tags: [0x63] }] },
  { probe: "portmap-dump", minLength: 24, all: [...RPC_PORTMAP_CALL, { at: 20, bytes: [0, 0, 0, 4] }] },
  { probe: "portmap-call", minLength: 24, all: RPC_PORTMAP_CALL },
  // CoAP version 1, confirmable or not, code 0.01 GET.
  {
    probe: "coap",
    ports: [5683],
    minLength: 4,
    all: [
      { at: 0, mask: 0xe0, equals: 0x40 },
      { at: 1, bytes: [0x01] },
    ],
  },
  // WS-Discovery Probe, or the 4-byte "<:/>" that reflection attacks send.
  { probe: "ws-discovery", ports: [3702], minLength: 4, all: [{ at: 0, text: "<" }] },
  { probe: "tftp-rrq", ports: [69], minLength: 4, all: [{ at: 0, bytes: [0, 1] }] },
  {
    probe: "rip-request",
    ports: [520],
    minLength: 4,
    all: [
      { at: 0, bytes: [1] },
      { at: 1, oneOf: [1, 2] },
    ],
  },
  {
    probe: "stun-binding",
    minLength: 20,
    all: [
      { at: 0, bytes: [0, 1] },
      { at: 4, bytes: [0x21, 0x12, 0xa4, 0x42] },
    ],
  },
  { probe: "a2s-info", minLength: 5, all: [{ at: 0, bytes: [0xff, 0xff, 0xff, 0xff, 0x54] }] },
  { probe: "ubiquiti-discovery", ports: [10001], minLength: 4, all: [{ at: 0, bytes: [1, 0, 0, 0] }] },
  // chargen and qotd answer any datagram: the port is the whole signature.
  { probe: "chargen", ports: [19], minLength: 0, all: [] },
  { probe: "qotd", ports: [17], minLength: 0, all: [] },
];

/** Type of the first question of a DNS query, or -1 if the message is not a well-formed query. */
export function dnsQuestionType(buf: Buffer): number {
  if (buf.length < 17) return -1;
  const flags = buf[2]!;
  if ((flags & 0xf8) !== 0) return -1; // QR = 0, opcode QUERY
  if (buf[4] !== 0 || buf[5] === 0) return -1; // 1..255 questions
  let at = 12;
  for (let labels = 0; labels < 128; labels++) {
    const len = buf[at];
    if (len === undefined) return -1;
    if (len === 0) {
      at++;
      // type and class must both be there
      return at + 4 <= buf.length ? (buf[at]! << 8) | buf[at + 1]! : -1;
    }
    if (len > 63) return -1; // no compression pointers in a question we send first
    at += 1 + len;
  }
  return -1;
}

/** Offset just past a BER header (tag + length) at `at`, and the content length; null if malformed. */
function berHeader(buf: Buffer, at: number): { content: number; length: number } | null {
  const first = buf[at + 1];
  if (first === undefined) return null;
  if (first < 0x80) return { content: at + 2, length: first };
  const n = first & 0x7f;
  if (n === 0 || n > 3 || at + 2 + n > buf.length) return null;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + buf[at + 2 + i]!;
  return { content: at + 2 + n, length };
}

function berMatches(buf: Buffer, skip: readonly number[], tags: readonly number[]): boolean {
  if (buf[0] !== 0x30) return false;
  const seq = berHeader(buf, 0);
  if (seq === null) return false;
  let at = seq.content;
  for (const tag of skip) {
    if (buf[at] !== tag) return false;
    const h = berHeader(buf, at);
    if (h === null) return false;
    at = h.content + h.length;
  }
  const tag = buf[at];
  return tag !== undefined && tags.includes(tag);
}

function textAt(buf: Buffer, at: number, text: string, caseless: boolean): boolean {
  if (at + text.length > buf.length) return false;
  for (let i = 0; i < text.length; i++) {
    let b = buf[at + i]!;
    let c = text.charCodeAt(i);
    if (caseless) {
      if (b >= 0x61 && b <= 0x7a) b -= 0x20;
      if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    }
    if (b !== c) return false;
  }
  return true;
}

function checkMatches(buf: Buffer, check: Check): boolean {
  if ("dnsQuestion" in check) {
    const type = dnsQuestionType(buf);
    return type >= 0 && (check.dnsQuestion.length === 0 || check.dnsQuestion.includes(type));
  }
  if ("berSkip" in check) return berMatches(buf, check.berSkip, check.tags);
  if ("bytes" in check) {
    if (check.at + check.bytes.length > buf.length) return false;
    for (let i = 0; i < check.bytes.length; i++) if (buf[check.at + i] !== check.bytes[i]) return false;
    return true;
  }
  if ("text" in check) return textAt(buf, check.at, check.text, check.caseless === true);
  const b = buf[check.at];
  if (b === undefined) return false;
  if ("mask" in check) return (b & check.mask) === check.equals;
  return check.oneOf.includes(b);
}

/** The first signature the payload matches on this destination port, or null. */
export function probeOf(
  payload: Buffer,
  port: number,
  table: readonly Signature[] = SIGNATURES,
): string | null {
  for (const sig of table) {
    if (payload.length < sig.minLength) continue;
    if (sig.ports !== undefined && !sig.ports.includes(port)) continue;
    if (allMatch(payload, sig.all)) return sig.probe;
  }
  return null;
}

// A loop, not `every` with a closure: this runs for every UDP and TCP payload of a capture.
function allMatch(payload: Buffer, checks: readonly Check[]): boolean {
  for (let i = 0; i < checks.length; i++) if (!checkMatches(payload, checks[i]!)) return false;
  return true;
}
