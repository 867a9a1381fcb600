/**
 * Character Generator (RFC 864): over UDP it answers any datagram with up to 512 characters, so one
 * byte is the smallest request. There is no id field and no fixed reply shape: the scanner matches on
 * the source port and `match` only asks for a non-empty datagram.
 */
import type { ProbeResult, UdpProbe } from "./types.js";

export const chargenProbe: UdpProbe = {
  id: "chargen",
  service: "chargen",
  transport: "udp",
  ports: [19],
  request(): Buffer {
    return Buffer.from("\n", "ascii");
  },
  match(reply: Buffer): boolean {
    return reply.length > 0;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const data = replies.filter((r) => r.length > 0);
    if (data.length === 0) return null;
    const length = data.reduce((sum, r) => sum + r.length, 0);
    // The classic pattern is rotating printable ASCII lines; say whether it looks like one.
    const first = data[0]!.subarray(0, 512);
    const printable = first.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a);
    return {
      fields: { length, datagrams: data.length, printable },
      abusable: true,
      note: "CharGEN answers any UDP datagram with up to 512 characters: a reflector (~359x).",
    };
  },
};
