/**
 * Quote of the Day (RFC 865): over UDP any datagram gets a quote of up to 512 characters back, so
 * `\r\n` is enough. No id field: the scanner matches on the source port and `match` only asks for a
 * non-empty datagram.
 */
import type { ProbeResult, UdpProbe } from "./types.js";

const MAX_QUOTE = 512;

export const qotdProbe: UdpProbe = {
  id: "qotd",
  service: "qotd",
  transport: "udp",
  ports: [17],
  request(): Buffer {
    return Buffer.from("\r\n", "ascii");
  },
  match(reply: Buffer): boolean {
    return reply.length > 0;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const first = replies.find((r) => r.length > 0);
    if (first === undefined) return null;
    const quote = first
      .subarray(0, MAX_QUOTE * 2)
      .toString("latin1")
      .replace(/\s+/g, " ")
      .replace(/[^\x20-\x7e]/g, "")
      .trim()
      .slice(0, MAX_QUOTE);
    return {
      fields: { quote, length: first.length },
      abusable: true,
      note: "QOTD answers any UDP datagram with a quote: a reflector (~140x).",
    };
  },
};
