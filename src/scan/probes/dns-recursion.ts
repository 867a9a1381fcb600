/**
 * Open resolver: a recursive query (RD=1) for `example.com A`, a name under IANA's reserved domain
 * that the scanned server is not authoritative for, so an answer means it recursed (or answered from
 * a cache filled by recursion) for a stranger. The id carries the cookie; the question must echo ours.
 */
import {
  DNS_CLASS,
  DNS_TYPE,
  decodeHeader,
  decodeMessage,
  isReplyTo,
  queryTemplate,
  rcodeName,
} from "./dns-message.js";
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

export const RECURSION_NAME = "example.com";

const recursionQuery = queryTemplate({ name: RECURSION_NAME, type: DNS_TYPE.A, rd: true });

export const dnsRecursionProbe: UdpProbe = {
  id: "dns-recursion",
  service: "dns",
  transport: "udp",
  ports: [53],
  request(cookie: Cookie): Buffer {
    return recursionQuery(cookie.id);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    return isReplyTo(reply, cookie.id, RECURSION_NAME, DNS_TYPE.A, DNS_CLASS.IN);
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    for (const reply of replies) {
      const msg = decodeMessage(reply);
      // A truncated (TC) reply may stop mid-record: the header alone still tells RA and rcode.
      const h = msg?.header ?? decodeHeader(reply);
      if (h === null || !h.qr) continue;
      const answers = msg ? msg.answers.filter((a) => a.type === DNS_TYPE.A && a.rdata.length === 4) : [];
      const addresses = answers.slice(0, 16).map((a) => [...a.rdata].join("."));
      const rcode = rcodeName(h.rcode);
      const resolves = h.rcode === 0 || h.rcode === 3; // NOERROR or NXDOMAIN
      const fromCache = !h.ra && !h.aa && h.rcode === 0 && h.ancount > 0;
      const abusable = (h.ra && (resolves || h.rcode === 2)) || fromCache;
      return {
        fields: { rcode, ra: h.ra, aa: h.aa, answers: h.ancount, addresses },
        abusable,
        note: recursionNote(h.ra, rcode, resolves, fromCache),
      };
    }
    return null;
  },
};

function recursionNote(ra: boolean, rcode: string, resolves: boolean, fromCache: boolean): string {
  if (fromCache)
    return "Answers a name it is not authoritative for from its cache, without advertising recursion.";
  if (ra && resolves) return `Open resolver: recursion available to anyone (${rcode}).`;
  if (ra && rcode === "SERVFAIL") {
    return "Offers recursion to anyone (RA set) though this lookup failed upstream (SERVFAIL).";
  }
  if (rcode === "REFUSED") return "Refuses recursive queries from this vantage point.";
  return `No recursion offered (RA ${ra ? "set" : "clear"}, ${rcode}).`;
}
