/**
 * NetBIOS name service node status (RFC 1002, 4.2.17 and 4.2.18): an NBSTAT query for the wildcard
 * name "*" makes the node list its registered names and its MAC address. The header is DNS-shaped and
 * the transaction id carries the cookie. A 50-byte query draws a few hundred bytes (~3.8x).
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const HEADER = 12;
const NBSTAT = 0x0021;
const CLASS_IN = 0x0001;
/** Each name entry: 15 name bytes, a suffix byte, 2 flag bytes. */
const NAME_ENTRY = 18;
const MAC_BYTES = 6;

/** First-level encoding (RFC 1001, 14.1) of a 16-byte NetBIOS name: each nibble becomes 'A' + nibble. */
function encodeNetbiosName(name: Buffer): Buffer {
  const out = Buffer.alloc(1 + 32 + 1);
  out[0] = 32;
  for (let i = 0; i < 16; i++) {
    const b = name[i] ?? 0;
    out[1 + 2 * i] = 0x41 + (b >> 4);
    out[2 + 2 * i] = 0x41 + (b & 0x0f);
  }
  return out; // last byte 0: the root label (no scope id)
}

/** "*" padded with NULs: the wildcard that any node answers for a node status request. */
const WILDCARD = Buffer.concat([Buffer.from("*", "ascii"), Buffer.alloc(15)]);

/** Skip an encoded name (labels or a compression pointer); the offset after it, or -1. */
function skipName(buf: Buffer, offset: number): number {
  let pos = offset;
  // Each label moves forward by at least one byte, so the buffer length bounds the loop.
  while (pos < buf.length) {
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    pos += 1 + len;
  }
  return -1;
}

function isOurHeader(buf: Buffer, id: number): boolean {
  if (buf.length < HEADER) return false;
  const flags = buf.readUInt16BE(2);
  // A response (R bit), opcode 0 (query), to our transaction id.
  return buf.readUInt16BE(0) === (id & 0xffff) && (flags & 0x8000) !== 0 && ((flags >> 11) & 0xf) === 0;
}

function printable(b: Buffer): string {
  return b.toString("latin1").replace(/[^\x20-\x7e]/g, "?");
}

interface NodeStatus {
  names: string[];
  mac: string | null;
}

/** The NODE STATUS RESPONSE resource record; null when it is not one or runs past the datagram. */
function readNodeStatus(buf: Buffer): NodeStatus | null {
  const anCount = buf.readUInt16BE(6);
  if (anCount < 1) return null;
  // Servers normally send no question section, but skip one if present.
  let pos = HEADER;
  const qdCount = buf.readUInt16BE(4);
  if (qdCount > 4) return null; // a reply echoing many questions is not an NBSTAT answer
  for (let q = 0; q < qdCount; q++) {
    pos = skipName(buf, pos);
    if (pos < 0 || pos + 4 > buf.length) return null;
    pos += 4;
  }
  pos = skipName(buf, pos);
  if (pos < 0 || pos + 10 > buf.length) return null;
  if (buf.readUInt16BE(pos) !== NBSTAT || buf.readUInt16BE(pos + 2) !== CLASS_IN) return null;
  const rdLength = buf.readUInt16BE(pos + 8);
  const rdStart = pos + 10;
  // Some stacks send a slightly short statistics block: read what is there, within the datagram.
  const rdEnd = Math.min(buf.length, rdStart + rdLength);
  if (rdStart >= rdEnd) return null;
  const count = buf[rdStart]!;
  const names: string[] = [];
  let p = rdStart + 1;
  for (let i = 0; i < count; i++, p += NAME_ENTRY) {
    if (p + NAME_ENTRY > rdEnd) return null;
    const name = printable(buf.subarray(p, p + 15)).trimEnd();
    const suffix = buf[p + 15]!.toString(16).padStart(2, "0").toUpperCase();
    const group = (buf.readUInt16BE(p + 16) & 0x8000) !== 0;
    names.push(`${name}<${suffix}>${group ? " group" : ""}`);
  }
  const mac =
    p + MAC_BYTES <= rdEnd
      ? [...buf.subarray(p, p + MAC_BYTES)].map((b) => b.toString(16).padStart(2, "0")).join(":")
      : null;
  return { names, mac };
}

export const netbiosProbe: UdpProbe = {
  id: "netbios",
  service: "netbios",
  transport: "udp",
  ports: [137],
  request(cookie: Cookie): Buffer {
    const header = Buffer.alloc(HEADER);
    header.writeUInt16BE(cookie.id & 0xffff, 0);
    header.writeUInt16BE(0x0000, 2); // query, unicast, no recursion: NBSTAT must not be broadcast
    header.writeUInt16BE(1, 4); // QDCOUNT
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(NBSTAT, 0);
    tail.writeUInt16BE(CLASS_IN, 2);
    return Buffer.concat([header, encodeNetbiosName(WILDCARD), tail]);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    return isOurHeader(reply, cookie.id) && reply.readUInt16BE(6) >= 1;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    for (const reply of replies) {
      if (reply.length < HEADER) continue;
      const status = readNodeStatus(reply);
      if (status === null) continue;
      const host = status.names.find((n) => /<00>$/.test(n))?.replace(/<00>$/, "") ?? null;
      return {
        fields: { names: status.names, mac: status.mac, name_count: status.names.length, hostname: host },
        abusable: true,
        note: "NetBIOS answers node status queries from anywhere: it leaks host names and a reflector (~3.8x).",
      };
    }
    return null;
  },
};
