/**
 * RIP (RFC 1058; RIPv2 RFC 2453): a version-1 request with a single entry of address family 0 and
 * metric 16 asks for the whole routing table (RFC 1058 section 3.4.1); the router answers to our port
 * with responses of up to 25 routes each (~131x). RIP has no id: the scanner matches on the source
 * port and `match` checks the response shape.
 */
import type { ProbeResult, UdpProbe } from "./types.js";

const REQUEST = 1;
const RESPONSE = 2;
const ENTRY = 20;
const MAX_ENTRIES = 25;
const AF_INET = 2;
const AUTH = 0xffff;
const INFINITY = 16;
const MAX_LISTED = 32;
/** A routing table bigger than this is not worth reading entry by entry. */
const MAX_DATAGRAMS = 256;

interface Route {
  prefix: string;
  metric: number;
}

function ipv4(buf: Buffer, at: number): string {
  return [...buf.subarray(at, at + 4)].join(".");
}

function prefixLength(mask: number): number | null {
  let n = 0;
  while (n < 32 && mask & (0x80000000 >>> n)) n++;
  return (mask << n) >>> 0 === 0 ? n : null; // contiguous masks only
}

/** Routes in one response datagram; null when it is not a well-formed RIP response. */
function readResponse(buf: Buffer): { version: number; routes: Route[] } | null {
  if (buf.length < 4 + ENTRY || (buf.length - 4) % ENTRY !== 0) return null;
  const version = buf[1]!;
  if (buf[0] !== RESPONSE || (version !== 1 && version !== 2) || buf.readUInt16BE(2) !== 0) return null;
  const count = (buf.length - 4) / ENTRY;
  if (count > MAX_ENTRIES) return null;
  const routes: Route[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * ENTRY;
    const afi = buf.readUInt16BE(at);
    if (afi === AUTH && version === 2 && i === 0) continue; // RIPv2 authentication entry
    if (afi !== AF_INET) return null;
    const metric = buf.readUInt32BE(at + 16);
    if (metric < 1 || metric > INFINITY) return null;
    if (
      version === 1 &&
      (buf.readUInt16BE(at + 2) !== 0 || buf.readUInt32BE(at + 8) !== 0 || buf.readUInt32BE(at + 12) !== 0)
    )
      return null; // RIPv1 must-be-zero fields
    const len = version === 2 ? prefixLength(buf.readUInt32BE(at + 8)) : null;
    routes.push({ prefix: `${ipv4(buf, at + 4)}${len === null || len === 0 ? "" : `/${len}`}`, metric });
  }
  return { version, routes };
}

export const ripProbe: UdpProbe = {
  id: "rip",
  service: "rip",
  transport: "udp",
  ports: [520],
  request(): Buffer {
    const req = Buffer.alloc(4 + ENTRY); // address family 0 and all other fields zero ...
    req[0] = REQUEST;
    req[1] = 1;
    req.writeUInt32BE(INFINITY, 4 + 16); // ... and metric infinity: "send me everything"
    return req;
  },
  match(reply: Buffer): boolean {
    return readResponse(reply) !== null;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const responses = replies
      .slice(0, MAX_DATAGRAMS)
      .map(readResponse)
      .filter((r) => r !== null);
    if (responses.length === 0) return null;
    const routes = responses.flatMap((r) => r?.routes ?? []);
    return {
      fields: {
        version: responses[0]?.version ?? null,
        route_count: routes.length,
        routes: routes.slice(0, MAX_LISTED).map((r) => `${r.prefix} metric ${r.metric}`),
        datagrams: responses.length,
      },
      abusable: true,
      note: "RIP answers whole-table requests from anywhere: it leaks the routing table and is a reflector (~131x).",
    };
  },
};
