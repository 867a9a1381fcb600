/**
 * WS-Discovery (OASIS / Microsoft, April 2005 namespace, which Windows and ONVIF devices speak): a SOAP
 * Probe with no Types matches every target service, and each answers with a ProbeMatches whose
 * RelatesTo repeats our MessageID — a urn:uuid carrying the cookie. Replies are XML from strangers:
 * they are scanned with linear-time patterns, never parsed into a tree.
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const MAX_ITEMS = 32;
const MAX_ITEM = 256;
/** SOAP over UDP fits one datagram; text past this is not read. */
const MAX_XML = 65_536;

function hex4(n: number): string {
  return (n & 0xffff).toString(16).padStart(4, "0");
}

/** A version-4-shaped UUID: a fixed prefix ("moatsc"), then the source port and the cookie id. */
function messageId(cookie: Cookie): string {
  return `urn:uuid:6d6f6174-7363-4000-8000-${hex4(cookie.sourcePort)}0000${hex4(cookie.id)}`;
}

function probeXml(cookie: Cookie): string {
  return (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">' +
    "<s:Header>" +
    "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>" +
    `<a:MessageID>${messageId(cookie)}</a:MessageID>` +
    "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>" +
    "</s:Header>" +
    "<s:Body><d:Probe/></s:Body>" +
    "</s:Envelope>"
  );
}

/**
 * Text content of every `<prefix:local ...>text</` element. The character classes stop at the next
 * `<`, so each match attempt is bounded by the distance to the next tag: linear overall.
 */
function elementTexts(xml: string, local: string): string[] {
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]{0,63}:)?${local}(?:\\s[^<>]*)?>([^<]*)<`, "g");
  const out: string[] = [];
  for (const m of xml.matchAll(re)) {
    out.push(m[1]!.trim());
    if (out.length >= MAX_ITEMS) break;
  }
  return out;
}

/** Whitespace-separated lists (Types, XAddrs) from every match, de-duplicated and capped. */
function listItems(xml: string, local: string): string[] {
  const items = new Set<string>();
  for (const text of elementTexts(xml, local)) {
    for (const item of text.split(/\s+/)) {
      if (item !== "" && items.size < MAX_ITEMS)
        items.add(item.slice(0, MAX_ITEM).replace(/[^\x21-\x7e]/g, "?"));
    }
  }
  return [...items];
}

function xmlOf(reply: Buffer): string {
  return reply.subarray(0, MAX_XML).toString("utf8");
}

export const wsdProbe: UdpProbe = {
  id: "ws-discovery",
  service: "ws-discovery",
  transport: "udp",
  ports: [3702],
  request(cookie: Cookie): Buffer {
    return Buffer.from(probeXml(cookie), "utf8");
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const want = messageId(cookie);
    return elementTexts(xmlOf(reply), "RelatesTo").some((t) => t.toLowerCase() === want);
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const matches = replies.map(xmlOf).filter((x) => /<(?:[\w.-]{1,64}:)?ProbeMatch(?:es)?[\s/>]/.test(x));
    if (matches.length === 0) return null;
    const all = matches.join("\n");
    return {
      fields: {
        types: listItems(all, "Types"),
        xaddrs: listItems(all, "XAddrs"),
        matches: matches.length,
      },
      abusable: true,
      note: "WS-Discovery answers unicast Probes from anywhere: a reflector (large SOAP replies, up to ~15,000x reported).",
    };
  },
};
