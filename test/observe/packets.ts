/** Hand-built decoded packets for the observe tests: defaults of a TCP SYN to the telescope, overridden per test. */
import { keyOfText } from "../../src/observe/address.js";
import type { DecodedPacket } from "../../src/observe/types.js";

/** Addresses may be given as text, as the decoder's keys would be: IPv4 text becomes its integer key. */
export function packet(fields: Partial<DecodedPacket> = {}): DecodedPacket {
  const p: DecodedPacket = {
    index: 0,
    timeMicros: 1_700_000_000_000_000,
    family: "ipv4",
    source: keyOfText("198.51.100.7"),
    destination: keyOfText("192.0.2.10"),
    ipProtocol: 6,
    protocol: "tcp",
    ipId: 1234,
    ttl: 52,
    fragment: false,
    sourcePort: 40000,
    destinationPort: 23,
    tcpFlags: 0x02,
    tcpSequence: 0x01020304,
    icmpType: null,
    icmpCode: null,
    capturedLength: 40,
    wireLength: 40,
    payload: Buffer.alloc(0),
    ...fields,
  };
  if (typeof p.source === "string") p.source = keyOfText(p.source);
  if (typeof p.destination === "string") p.destination = keyOfText(p.destination);
  return p;
}

export function udp(port: number, payload: Buffer, fields: Partial<DecodedPacket> = {}): DecodedPacket {
  return packet({
    ipProtocol: 17,
    protocol: "udp",
    destinationPort: port,
    tcpFlags: null,
    tcpSequence: null,
    payload,
    wireLength: 28 + payload.length,
    capturedLength: 28 + payload.length,
    ...fields,
  });
}

export function icmp(type: number, fields: Partial<DecodedPacket> = {}): DecodedPacket {
  return packet({
    ipProtocol: 1,
    protocol: "icmp",
    sourcePort: null,
    destinationPort: null,
    tcpFlags: null,
    tcpSequence: null,
    icmpType: type,
    icmpCode: 0,
    ...fields,
  });
}
