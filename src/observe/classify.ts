/**
 * What a packet arriving at the telescope is: a scan, a UDP probe (recognised from its payload), a
 * ping, or backscatter — a reply to a flood whose forged source was one of our unused addresses,
 * which names the host being attacked (Moore et al., "Inferring Internet Denial-of-Service Activity").
 * Pure and allocation-light: it runs once per packet. The decoded packet is read, never kept.
 */
import { probeOf } from "./payloads.js";
import type { DecodedPacket } from "./types.js";

export type PacketKind = "tcp-syn-scan" | "udp-probe" | "icmp-echo" | "backscatter" | "other";

export interface Classification {
  kind: PacketKind;
  /** The UDP probe recognised from the payload ("memcached-stats", "ntp-monlist", ...), or null. */
  probe: string | null;
  /** For backscatter: the source of the reply, i.e. the host that was flooded. */
  victim: string | null;
  /** Tools the packet's fields give away: "zmap", "masscan", "mirai". */
  tags: readonly string[];
}

const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** zmap's probe modules all send IPv4 id 54321 (GreyNoise and others tag on it). */
const ZMAP_IP_ID = 54321;

/** ICMP types that only ever answer something: replies and errors (RFC 792, RFC 4443). */
const ICMP4_BACKSCATTER = new Set([0, 3, 4, 11, 12]);
const ICMP6_BACKSCATTER = new Set([1, 2, 3, 4, 129]);
const ICMP4_ECHO = 8;
const ICMP6_ECHO = 128;

const NO_TAGS: readonly string[] = Object.freeze([]);
const OTHER: Classification = Object.freeze({ kind: "other", probe: null, victim: null, tags: NO_TAGS });

/** Dotted-quad text to its unsigned 32-bit value; -1 if it is not one. Hand-rolled: hot path. */
export function ipv4ToUint32(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Tool fingerprints of a TCP SYN: Mirai's and masscan's stateless cookies are computable from the packet. */
function synTags(p: DecodedPacket): readonly string[] {
  if (p.family !== "ipv4" || p.ipId === null) return NO_TAGS;
  const tags: string[] = [];
  if (p.ipId === ZMAP_IP_ID) tags.push("zmap");
  const dst = ipv4ToUint32(p.destination);
  const seq = p.tcpSequence;
  if (dst >= 0 && seq !== null) {
    // masscan writes ip_id = ip_them ^ port_them ^ seqno into a 16-bit field (templ-pkt.c).
    if (p.destinationPort !== null && p.ipId === ((dst ^ p.destinationPort ^ seq) & 0xffff))
      tags.push("masscan");
    // Mirai's scanner sets the sequence number to the target address.
    if (seq >>> 0 === dst) tags.push("mirai");
  }
  return tags.length === 0 ? NO_TAGS : tags;
}

function zmapTag(p: DecodedPacket): readonly string[] {
  return p.family === "ipv4" && p.ipId === ZMAP_IP_ID ? ["zmap"] : NO_TAGS;
}

function backscatter(p: DecodedPacket): Classification {
  return { kind: "backscatter", probe: null, victim: p.source, tags: NO_TAGS };
}

function classifyTcp(p: DecodedPacket): Classification {
  const flags = p.tcpFlags;
  if (flags === null) return OTHER;
  const syn = (flags & SYN) !== 0;
  const ack = (flags & ACK) !== 0;
  if (syn && !ack && (flags & RST) === 0)
    return { kind: "tcp-syn-scan", probe: null, victim: null, tags: synTags(p) };
  if (syn && ack) return backscatter(p);
  if ((flags & RST) !== 0 && !syn) return backscatter(p);
  return OTHER;
}

function classifyIcmp(p: DecodedPacket, echo: number, replies: ReadonlySet<number>): Classification {
  if (p.icmpType === null) return OTHER;
  if (p.icmpType === echo) return { kind: "icmp-echo", probe: null, victim: null, tags: zmapTag(p) };
  if (replies.has(p.icmpType)) return backscatter(p);
  return OTHER;
}

export function classifyPacket(p: DecodedPacket): Classification {
  // A later fragment has no transport header: nothing to classify on.
  if (p.fragment) return OTHER;
  switch (p.protocol) {
    case "tcp":
      return classifyTcp(p);
    case "udp":
      if (p.destinationPort === null) return OTHER;
      return {
        kind: "udp-probe",
        probe: probeOf(p.payload, p.destinationPort),
        victim: null,
        tags: zmapTag(p),
      };
    case "icmp":
      return classifyIcmp(p, ICMP4_ECHO, ICMP4_BACKSCATTER);
    case "icmpv6":
      return classifyIcmp(p, ICMP6_ECHO, ICMP6_BACKSCATTER);
    default:
      return OTHER;
  }
}
