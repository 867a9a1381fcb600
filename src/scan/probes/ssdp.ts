/**
 * SSDP (UPnP Device Architecture 1.1, section 1.3): a unicast M-SEARCH with `ST: ssdp:all`, the
 * discovery request scanners send; each device service answers with an HTTP/1.1 200 carrying ST, USN,
 * SERVER and LOCATION. No id field: the scanner matches on the source port, and `match` checks that
 * the datagram is an HTTP 200 response with SSDP headers.
 */
import type { ProbeResult, UdpProbe } from "./types.js";

const REQUEST =
  "M-SEARCH * HTTP/1.1\r\n" +
  "HOST: 239.255.255.250:1900\r\n" +
  'MAN: "ssdp:discover"\r\n' +
  "MX: 1\r\n" +
  "ST: ssdp:all\r\n" +
  "\r\n";
/** The same bytes every time: one buffer, never written to. */
const REQUEST_BYTES = Buffer.from(REQUEST, "ascii");
/** Headers past this are not read; an SSDP response is a few hundred bytes. */
const MAX_HEAD = 4096;
const MAX_VALUE = 256;
const MAX_REPLIES = 256;

/** Status code and lower-cased headers of an HTTP response head; null when it is not one. */
function readHead(buf: Buffer): { status: number; headers: Map<string, string> } | null {
  const lines = buf.subarray(0, MAX_HEAD).toString("latin1").split(/\r?\n/);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) return null;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1, 64)) {
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const val = line
      .slice(colon + 1)
      .replace(/[^\x20-\x7e]/g, "")
      .trim()
      .slice(0, MAX_VALUE);
    if (!headers.has(key)) headers.set(key, val);
  }
  return { status: Number(m[1]), headers };
}

export const ssdpProbe: UdpProbe = {
  id: "ssdp",
  service: "ssdp",
  transport: "udp",
  ports: [1900],
  request(): Buffer {
    return REQUEST_BYTES;
  },
  match(reply: Buffer): boolean {
    const head = readHead(reply);
    return head !== null && head.status === 200 && (head.headers.has("st") || head.headers.has("usn"));
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const heads = replies
      .slice(0, MAX_REPLIES)
      .map(readHead)
      .filter((h) => h !== null && h.status === 200);
    if (heads.length === 0) return null;
    const pick = (k: string): string | null => {
      for (const h of heads) {
        const v = h?.headers.get(k);
        if (v) return v;
      }
      return null;
    };
    const sts = [...new Set(heads.map((h) => h?.headers.get("st")).filter((s): s is string => !!s))];
    return {
      fields: {
        server: pick("server"),
        location: pick("location"),
        st: pick("st"),
        usn: pick("usn"),
        services: sts.slice(0, 32),
        responses: heads.length,
      },
      abusable: true,
      note: "SSDP answers M-SEARCH from anywhere: a reflector (~31x), one reply per advertised service.",
    };
  },
};
