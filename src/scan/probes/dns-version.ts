/**
 * DNS server identification: `version.bind` CHAOS TXT (BIND, Unbound, dnsmasq, Knot and PowerDNS
 * answer it unless hidden). The id carries the cookie. Says nothing about recursion.
 */
import {
  DNS_CLASS,
  DNS_TYPE,
  decodeHeader,
  decodeMessage,
  isReplyTo,
  queryTemplate,
  rcodeName,
  readTxt,
} from "./dns-message.js";
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

export const VERSION_NAME = "version.bind";
const MAX_VERSION = 256;

const versionQuery = queryTemplate({ name: VERSION_NAME, type: DNS_TYPE.TXT, class: DNS_CLASS.CH });

export const dnsVersionProbe: UdpProbe = {
  id: "dns-version",
  service: "dns",
  transport: "udp",
  ports: [53],
  request(cookie: Cookie): Buffer {
    return versionQuery(cookie.id);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    return isReplyTo(reply, cookie.id, VERSION_NAME, DNS_TYPE.TXT, DNS_CLASS.CH);
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    for (const reply of replies) {
      const msg = decodeMessage(reply);
      const h = msg?.header ?? decodeHeader(reply);
      if (h === null || !h.qr) continue;
      let version: string | null = null;
      for (const rr of msg?.answers ?? []) {
        if (rr.type !== DNS_TYPE.TXT) continue;
        const parts = readTxt(rr.rdata);
        if (parts === null) continue;
        version = clean(parts.join(""));
        break;
      }
      return {
        fields: { version, rcode: rcodeName(h.rcode) },
        abusable: false,
        note:
          version === null
            ? "A DNS server that does not disclose its version; open recursion is the dns-recursion probe's finding."
            : "A DNS server that discloses its version; open recursion is the dns-recursion probe's finding.",
      };
    }
    return null;
  },
};

function clean(s: string): string {
  return s
    .replace(/[^\x20-\x7e]+/g, " ")
    .trim()
    .slice(0, MAX_VERSION);
}
