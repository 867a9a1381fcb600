/**
 * What a packet arriving at the telescope is: a scan, a UDP probe (recognised from its payload), a
 * ping, or backscatter — a reply to a flood whose forged source was one of our unused addresses,
 * which names the host being attacked (Moore et al., "Inferring Internet Denial-of-Service Activity").
 * Pure and allocation-free: it runs once per packet. The decoded packet is read, never kept.
 */
import type { AddressKey } from "./address.js";
import { probeOf } from "./payloads.js";
import type { DecodedPacket } from "./types.js";

export type PacketKind = "tcp-syn-scan" | "udp-probe" | "icmp-echo" | "backscatter" | "other";

export const PACKET_KINDS: readonly PacketKind[] = [
  "tcp-syn-scan",
  "udp-probe",
  "icmp-echo",
  "backscatter",
  "other",
];

/**
 * What the classifier says of a packet. Shared and immutable: one object per (kind, probe, tags), so
 * the per-packet call allocates nothing. For backscatter the victim is the packet's source (victimOf).
 */
export interface Classification {
  readonly kind: PacketKind;
  /** Position of `kind` in PACKET_KINDS, for counting in arrays. */
  readonly kindIndex: number;
  /** The UDP probe recognised from the payload ("memcached-stats", "ntp-monlist", ...), or null. */
  readonly probe: string | null;
  /** Tools the packet's fields give away: "zmap", "masscan", "mirai". */
  readonly tags: readonly string[];
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

const ZMAP = 1;
const MASSCAN = 2;
const MIRAI = 4;
const TAG_NAMES = ["zmap", "masscan", "mirai"] as const;

/** Interned classifications by kind, then probe (null as ""), then tag bits. */
const interned = new Map<PacketKind, Map<string, Classification[]>>();

function classification(kind: PacketKind, probe: string | null, tagBits: number): Classification {
  let byProbe = interned.get(kind);
  if (byProbe === undefined) {
    byProbe = new Map();
    interned.set(kind, byProbe);
  }
  let byTags = byProbe.get(probe ?? "");
  if (byTags === undefined) {
    byTags = [];
    byProbe.set(probe ?? "", byTags);
  }
  const known = byTags[tagBits];
  if (known !== undefined) return known;
  const made: Classification = Object.freeze({
    kind,
    kindIndex: PACKET_KINDS.indexOf(kind),
    probe,
    tags: Object.freeze(TAG_NAMES.filter((_, i) => (tagBits & (1 << i)) !== 0)),
  });
  byTags[tagBits] = made;
  return made;
}

const OTHER = classification("other", null, 0);
const BACKSCATTER = classification("backscatter", null, 0);
const SYN_SCAN = classification("tcp-syn-scan", null, 0);

/** The host a backscatter packet names as flooded (the source of the reply); null for other kinds. */
export function victimOf(p: DecodedPacket, c: Classification): AddressKey | null {
  return c.kind === "backscatter" ? p.source : null;
}

/** Tool fingerprints of a TCP SYN: Mirai's and masscan's stateless cookies are computable from the packet. */
function synTags(p: DecodedPacket): number {
  if (p.family !== "ipv4" || p.ipId === null || typeof p.destination !== "number") return 0;
  let tags = p.ipId === ZMAP_IP_ID ? ZMAP : 0;
  const dst = p.destination >>> 0;
  const seq = p.tcpSequence;
  if (seq !== null) {
    // masscan writes ip_id = ip_them ^ port_them ^ seqno into a 16-bit field (templ-pkt.c).
    if (p.destinationPort !== null && p.ipId === ((dst ^ p.destinationPort ^ seq) & 0xffff)) tags |= MASSCAN;
    // Mirai's scanner sets the sequence number to the target address.
    if (seq >>> 0 === dst) tags |= MIRAI;
  }
  return tags;
}

function zmapTag(p: DecodedPacket): number {
  return p.family === "ipv4" && p.ipId === ZMAP_IP_ID ? ZMAP : 0;
}

function classifyTcp(p: DecodedPacket): Classification {
  const flags = p.tcpFlags;
  if (flags === null) return OTHER;
  const syn = (flags & SYN) !== 0;
  const ack = (flags & ACK) !== 0;
  if (syn && !ack && (flags & RST) === 0) {
    const tags = synTags(p);
    return tags === 0 ? SYN_SCAN : classification("tcp-syn-scan", null, tags);
  }
  if (syn && ack) return BACKSCATTER;
  if ((flags & RST) !== 0 && !syn) return BACKSCATTER;
  return OTHER;
}

function classifyIcmp(p: DecodedPacket, echo: number, replies: ReadonlySet<number>): Classification {
  if (p.icmpType === null) return OTHER;
  if (p.icmpType === echo) return classification("icmp-echo", null, zmapTag(p));
  if (replies.has(p.icmpType)) return BACKSCATTER;
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
      return classification("udp-probe", probeOf(p.payload, p.destinationPort), zmapTag(p));
    case "icmp":
      return classifyIcmp(p, ICMP4_ECHO, ICMP4_BACKSCATTER);
    case "icmpv6":
      return classifyIcmp(p, ICMP6_ECHO, ICMP6_BACKSCATTER);
    default:
      return OTHER;
  }
}
