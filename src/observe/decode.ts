/**
 * Packet decoder, the hot path: fills one shared DecodedPacket in place from a raw capture record.
 * Link layer (Ethernet with stacked VLAN tags, Linux cooked SLL/SLL2, raw IP, BSD loopback), then
 * IPv4/IPv6 (extension headers, fragments), then TCP/UDP/ICMP headers. A packet cut by the snap
 * length decodes as far as its bytes go; only a missing IP header or junk in it is a problem. It
 * never throws: every read is bounds-checked first. Allocation per packet: the payload view and,
 * for IPv6 only, address strings (IPv4 addresses are numbers: address.ts).
 */

import { formatIpv6Bytes } from "../net/ipv6-text.js";
import { ipv4Key } from "./address.js";
import type { CaptureRecord } from "./capture/record.js";
import type { DecodedPacket } from "./types.js";

export type DecodeProblemKind =
  /** A valid frame that is not IP (ARP, LLDP, ...): nothing to count, nothing wrong. */
  | "not-ip"
  /** A link type or encapsulation this decoder does not know. */
  | "unsupported"
  /** The IP header itself is cut short. */
  | "truncated"
  /** The IP header is inconsistent (version, header length, total length). */
  | "malformed";

export interface DecodeProblem {
  index: number;
  offset: number;
  kind: DecodeProblemKind;
  problem: string;
}

const EMPTY = Buffer.alloc(0);

export const LINKTYPE = {
  null: 0,
  ethernet: 1,
  raw: 101,
  loop: 108,
  sll: 113,
  ipv4: 228,
  ipv6: 229,
  sll2: 276,
} as const;

/** A fresh packet object to reuse across decodePacket calls. */
export function newDecodedPacket(): DecodedPacket {
  return {
    index: 0,
    timeMicros: 0,
    family: "ipv4",
    source: 0,
    destination: 0,
    ipProtocol: 0,
    protocol: "other",
    ipId: null,
    ttl: 0,
    fragment: false,
    sourcePort: null,
    destinationPort: null,
    tcpFlags: null,
    tcpSequence: null,
    icmpType: null,
    icmpCode: null,
    capturedLength: 0,
    wireLength: 0,
    payload: EMPTY,
  };
}

export function decodePacket(record: CaptureRecord, into: DecodedPacket): DecodeProblem | null {
  const data = record.data;
  into.index = record.index;
  into.timeMicros = record.timeMicros;
  into.sourcePort = null;
  into.destinationPort = null;
  into.tcpFlags = null;
  into.tcpSequence = null;
  into.icmpType = null;
  into.icmpCode = null;
  into.fragment = false;
  into.payload = EMPTY;
  let at: number;
  let etherType: number;
  switch (record.linkType) {
    case LINKTYPE.ethernet:
      if (data.length < 14) return problem(record, "truncated", "Ethernet header cut short");
      at = 12;
      etherType = data.readUInt16BE(12);
      break;
    case LINKTYPE.sll:
      if (data.length < 16) return problem(record, "truncated", "Linux cooked header cut short");
      at = 14;
      etherType = data.readUInt16BE(14);
      break;
    case LINKTYPE.sll2:
      if (data.length < 20) return problem(record, "truncated", "Linux cooked v2 header cut short");
      return network(record, into, data.readUInt16BE(0), 20);
    case LINKTYPE.raw:
      if (data.length < 1) return problem(record, "truncated", "empty raw IP packet");
      return ipByVersion(record, into, 0);
    case LINKTYPE.ipv4:
      return ipv4(record, into, 0);
    case LINKTYPE.ipv6:
      return ipv6(record, into, 0);
    case LINKTYPE.null:
    case LINKTYPE.loop:
      return loopback(record, into);
    default:
      return problem(record, "unsupported", `link type ${record.linkType} is not supported`);
  }
  // Ethernet and SLL: skip 802.1Q / 802.1ad / old QinQ tags, however many are stacked.
  while (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) {
    at += 4;
    if (data.length < at + 2) return problem(record, "truncated", "VLAN tag cut short");
    etherType = data.readUInt16BE(at);
  }
  return network(record, into, etherType, at + 2);
}

function network(
  record: CaptureRecord,
  into: DecodedPacket,
  etherType: number,
  at: number,
): DecodeProblem | null {
  if (etherType === 0x0800) return ipv4(record, into, at);
  if (etherType === 0x86dd) return ipv6(record, into, at);
  return problem(record, "not-ip", `ethertype 0x${etherType.toString(16).padStart(4, "0")} is not IP`);
}

function ipByVersion(record: CaptureRecord, into: DecodedPacket, at: number): DecodeProblem | null {
  const version = record.data[at]! >> 4;
  if (version === 4) return ipv4(record, into, at);
  if (version === 6) return ipv6(record, into, at);
  return problem(record, "malformed", `IP version ${version}`);
}

/** DLT_NULL / DLT_LOOP: a 4-byte address family in host (NULL) or network (LOOP) order. */
function loopback(record: CaptureRecord, into: DecodedPacket): DecodeProblem | null {
  const data = record.data;
  if (data.length < 5) return problem(record, "truncated", "loopback header cut short");
  return ipByVersion(record, into, 4);
}

function ipv4(record: CaptureRecord, into: DecodedPacket, at: number): DecodeProblem | null {
  const data = record.data;
  if (data.length - at < 20) return problem(record, "truncated", "IPv4 header cut short");
  const first = data[at]!;
  if (first >> 4 !== 4) return problem(record, "malformed", `IP version ${first >> 4} in an IPv4 frame`);
  const headerLength = (first & 0x0f) * 4;
  if (headerLength < 20) return problem(record, "malformed", `IPv4 header length ${headerLength} < 20`);
  if (data.length - at < headerLength) return problem(record, "truncated", "IPv4 options cut short");
  const totalLength = data.readUInt16BE(at + 2);
  if (totalLength < headerLength) {
    return problem(record, "malformed", `IPv4 total length ${totalLength} < header length ${headerLength}`);
  }
  // Captured bytes beyond the total length are link padding; fewer means a snap-length cut.
  const end = Math.min(data.length, at + totalLength);
  const fragmentWord = data.readUInt16BE(at + 6);
  into.family = "ipv4";
  into.ipId = data.readUInt16BE(at + 4);
  into.ttl = data[at + 8]!;
  const ipProtocol = data[at + 9]!;
  into.source = ipv4Key(data, at + 12);
  into.destination = ipv4Key(data, at + 16);
  into.capturedLength = end - at;
  into.wireLength = totalLength;
  if ((fragmentWord & 0x1fff) !== 0) {
    into.fragment = true;
    setProtocol(into, ipProtocol);
    into.payload = end > at + headerLength ? data.subarray(at + headerLength, end) : EMPTY;
    return null;
  }
  transport(data, into, ipProtocol, at + headerLength, end);
  return null;
}

function ipv6(record: CaptureRecord, into: DecodedPacket, at: number): DecodeProblem | null {
  const data = record.data;
  if (data.length - at < 40) return problem(record, "truncated", "IPv6 header cut short");
  const version = data[at]! >> 4;
  if (version !== 6) return problem(record, "malformed", `IP version ${version} in an IPv6 frame`);
  const payloadLength = data.readUInt16BE(at + 4);
  into.family = "ipv6";
  into.ipId = null;
  into.ttl = data[at + 7]!;
  into.source = formatIpv6Bytes(data, at + 8);
  into.destination = formatIpv6Bytes(data, at + 24);
  // Payload length 0 is a jumbogram (or junk): trust the captured bytes then.
  const wire = payloadLength === 0 ? record.wireLength - at : 40 + payloadLength;
  const end = Math.min(data.length, at + wire);
  into.capturedLength = end - at;
  into.wireLength = wire;
  let next = data[at + 6]!;
  let offset = at + 40;
  // Extension headers; a bound on their number keeps a crafted chain from looping long.
  for (let hops = 0; hops < 16; hops++) {
    if (next === 0 || next === 43 || next === 60 || next === 51) {
      if (end - offset < 2) break;
      const length = next === 51 ? (data[offset + 1]! + 2) * 4 : (data[offset + 1]! + 1) * 8;
      next = data[offset]!;
      offset += length;
      continue;
    }
    if (next === 44) {
      if (end - offset < 8) break;
      const fragmentOffset = data.readUInt16BE(offset + 2) & 0xfff8;
      next = data[offset]!;
      offset += 8;
      if (fragmentOffset !== 0) {
        into.fragment = true;
        setProtocol(into, next);
        into.payload = offset < end ? data.subarray(offset, end) : EMPTY;
        return null;
      }
      continue;
    }
    break;
  }
  if (offset > end) {
    // The extension chain runs past the captured bytes: the transport header is not there.
    setProtocol(into, next);
    return null;
  }
  transport(data, into, next, offset, end);
  return null;
}

function setProtocol(into: DecodedPacket, ipProtocol: number): void {
  into.ipProtocol = ipProtocol;
  into.protocol =
    ipProtocol === 6
      ? "tcp"
      : ipProtocol === 17
        ? "udp"
        : ipProtocol === 1
          ? "icmp"
          : ipProtocol === 58
            ? "icmpv6"
            : "other";
}

/** Transport header fields as far as the captured bytes go; the rest stays null. */
function transport(data: Buffer, into: DecodedPacket, ipProtocol: number, at: number, end: number): void {
  setProtocol(into, ipProtocol);
  const available = end - at;
  if (ipProtocol === 6 || ipProtocol === 17) {
    if (available < 4) return;
    into.sourcePort = data.readUInt16BE(at);
    into.destinationPort = data.readUInt16BE(at + 2);
    if (ipProtocol === 17) {
      if (available <= 8) return;
      const udpLength = data.readUInt16BE(at + 4);
      const stop = udpLength >= 8 && at + udpLength < end ? at + udpLength : end;
      into.payload = data.subarray(at + 8, stop);
      return;
    }
    if (available < 8) return;
    into.tcpSequence = data.readUInt32BE(at + 4);
    if (available < 14) return;
    into.tcpFlags = data[at + 13]!;
    const headerLength = (data[at + 12]! >> 4) * 4;
    if (headerLength >= 20 && available > headerLength) into.payload = data.subarray(at + headerLength, end);
    return;
  }
  if (ipProtocol === 1 || ipProtocol === 58) {
    if (available < 2) return;
    into.icmpType = data[at]!;
    into.icmpCode = data[at + 1]!;
    if (available > 8) into.payload = data.subarray(at + 8, end);
    return;
  }
  if (available > 0) into.payload = data.subarray(at, end);
}

function problem(record: CaptureRecord, kind: DecodeProblemKind, text: string): DecodeProblem {
  return { index: record.index, offset: record.offset, kind, problem: text };
}
