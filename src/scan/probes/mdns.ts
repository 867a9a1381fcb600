/**
 * Multicast DNS (RFC 6762) and DNS-SD service enumeration (RFC 6763 section 9): a unicast PTR query for
 * `_services._dns-sd._udp.local` with the unicast-response bit set lists the service types a host
 * advertises. Sent from a port other than 5353 it is a "legacy unicast" query (RFC 6762 section 6.7):
 * the responder must answer to our port and echo the query id, which carries the cookie. From port
 * 5353 responders set the id to 0 (section 18.1), so only then is id 0 accepted.
 */
import { DNS_TYPE, decodeHeader, decodeMessage, queryTemplate, readName, sameName } from "./dns-message.js";
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const SERVICES = "_services._dns-sd._udp.local";
/** QU bit (RFC 6762 section 5.4) on class IN: ask for a unicast answer. */
const CLASS_IN_QU = 0x8001;
const MDNS_PORT = 5353;
const MAX_TYPES = 64;

function idMatches(replyId: number, cookie: Cookie): boolean {
  return replyId === (cookie.id & 0xffff) || (replyId === 0 && cookie.sourcePort === MDNS_PORT);
}

const servicesQuery = queryTemplate({ name: SERVICES, type: DNS_TYPE.PTR, class: CLASS_IN_QU });

export const mdnsProbe: UdpProbe = {
  id: "mdns",
  service: "mdns",
  transport: "udp",
  ports: [MDNS_PORT],
  request(cookie: Cookie): Buffer {
    return servicesQuery(cookie.id);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const h = decodeHeader(reply);
    if (h === null || !h.qr || h.opcode !== 0 || !idMatches(h.id, cookie)) return false;
    if (h.qdcount === 0) return h.ancount > 0;
    // Legacy unicast answers echo the question; when there is one it must be ours.
    const q = readName(reply, 12);
    if (q === null || q.next + 4 > reply.length) return false;
    return sameName(q.name, SERVICES) && reply.readUInt16BE(q.next) === DNS_TYPE.PTR;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const types = new Set<string>();
    let answered = false;
    for (const reply of replies) {
      const msg = decodeMessage(reply);
      if (msg === null || !msg.header.qr) continue;
      answered = true;
      for (const rr of [...msg.answers, ...msg.additionals]) {
        if (rr.type !== DNS_TYPE.PTR || !sameName(rr.name, SERVICES)) continue;
        const target = readName(reply, rr.rdataOffset);
        if (target !== null && types.size < MAX_TYPES) types.add(target.name);
      }
    }
    if (!answered) return null;
    return {
      fields: { service_types: [...types], service_count: types.size },
      abusable: true,
      note:
        "mDNS answered a unicast query: a reflector (2-10x) when the scanner is off-link, since RFC 6762 " +
        "responders should ignore queries from outside the local link; on the same link answering is normal.",
    };
  },
};
