/**
 * The decoded packet every observe module shares: the capture readers and decoder produce it, the
 * classifier and the aggregator consume it. Numbers and small strings only, so a hot loop can reuse
 * one object per packet instead of allocating (the decoder fills it in place).
 */
import type { Family } from "../host/types.js";
import type { AddressKey } from "./address.js";

export type TransportProtocol = "tcp" | "udp" | "icmp" | "icmpv6" | "other";

export interface DecodedPacket {
  /** 0-based index of the packet in its capture, for error reports. */
  index: number;
  /** Capture time, microseconds since the epoch (pcap gives us, pcapng may give ns: converted). */
  timeMicros: number;
  family: Family;
  /** Source and destination as keys (address.ts): IPv4 a 32-bit integer, IPv6 RFC 5952 text. */
  source: AddressKey;
  destination: AddressKey;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...). */
  ipProtocol: number;
  protocol: TransportProtocol;
  /** IPv4 identification field (zmap sets 54321); null for IPv6. */
  ipId: number | null;
  ttl: number;
  /** A second or later fragment: no transport header. */
  fragment: boolean;
  sourcePort: number | null;
  destinationPort: number | null;
  /** TCP flags byte (SYN 0x02, ACK 0x10, RST 0x04, ...); null for other protocols. */
  tcpFlags: number | null;
  tcpSequence: number | null;
  /** ICMP/ICMPv6 type and code; null otherwise. */
  icmpType: number | null;
  icmpCode: number | null;
  /** Bytes of the IP packet as captured (may be cut by the snap length) and its length on the wire. */
  capturedLength: number;
  wireLength: number;
  /** The transport payload as captured (a view into the capture buffer, not a copy). */
  payload: Buffer;
}
