/**
 * SNMPv2c (RFC 3416): a GetRequest for sysDescr.0 with community "public" — one varbind, the smallest
 * request that both proves the community is accepted and identifies the device. The request-id carries
 * the cookie. A v2c agent silently drops a wrong community, so any GetResponse means "public" works,
 * and then GetBulk requests can be reflected (~6x).
 */
import {
  BER,
  descend,
  encodeInteger,
  encodeNull,
  encodeOctetString,
  encodeOid,
  idTemplate,
  readChildren,
  readInteger,
  readOid,
  readTlv,
  type Tlv,
  tlv,
  value,
} from "./ber.js";
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

export const SYS_DESCR = "1.3.6.1.2.1.1.1.0";
const COMMUNITY = "public";
const VERSION_2C = 1;
const GET_REQUEST = 0xa0;
const GET_RESPONSE = 0xa2;
const MAX_DESCR = 512;
const ERROR_NAMES = ["noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr"];
/** Context-tagged varbind values that mean "no value" (RFC 3416 section 3). */
const EXCEPTIONS: Record<number, string> = {
  128: "noSuchObject",
  129: "noSuchInstance",
  130: "endOfMibView",
};

interface Response {
  version: number;
  community: string;
  requestId: number;
  errorStatus: number;
  varbinds: Tlv | null;
}

/** A GetResponse message, or null when the bytes do not have that shape. */
function readResponse(buf: Buffer): Response | null {
  const root = readTlv(buf, 0);
  if (root === null || root.tagByte !== BER.sequence) return null;
  const top = readChildren(buf, root, 8);
  const [ver, comm, pdu] = top ?? [];
  if (ver?.tagByte !== BER.integer || comm?.tagByte !== BER.octetString || pdu?.tagByte !== GET_RESPONSE)
    return null;
  const version = readInteger(buf, ver);
  const fields = readChildren(buf, pdu, 8);
  const [rid, status] = fields ?? [];
  if (version === null || rid?.tagByte !== BER.integer || status?.tagByte !== BER.integer) return null;
  const requestId = readInteger(buf, rid);
  const errorStatus = readInteger(buf, status);
  if (requestId === null || errorStatus === null) return null;
  const vbl = fields?.[3];
  return {
    version,
    community: value(buf, comm).toString("latin1"),
    requestId,
    errorStatus,
    varbinds: vbl?.tagByte === BER.sequence ? vbl : null,
  };
}

/** sysDescr.0 from the varbind list: the text, an exception name, or null when absent. */
function readSysDescr(buf: Buffer, varbinds: Tlv): { descr: string | null; exception: string | null } {
  for (const vb of readChildren(buf, varbinds, 64) ?? []) {
    const name = descend(buf, vb, [{ index: 0, tag: BER.oid }]);
    const val = descend(buf, vb, [{ index: 1 }]);
    if (vb.tagByte !== BER.sequence || name === null || val === null || readOid(buf, name) !== SYS_DESCR)
      continue;
    if (val.tagByte === BER.octetString) {
      const text = value(buf, val)
        .subarray(0, MAX_DESCR * 2)
        .toString("latin1")
        .replace(/[^\x20-\x7e]+/g, " ")
        .trim()
        .slice(0, MAX_DESCR);
      return { descr: text, exception: null };
    }
    return { descr: null, exception: EXCEPTIONS[val.tagByte] ?? null };
  }
  return { descr: null, exception: null };
}

/** The GetRequest for `id`, encoded field by field. */
export function encodeGetRequest(id: number): Buffer {
  const pdu = tlv(GET_REQUEST, [encodeInteger(id), ...REQUEST_AFTER_ID]);
  return tlv(BER.sequence, [encodeInteger(VERSION_2C), encodeOctetString(COMMUNITY), pdu]);
}

/** What follows the request-id: error-status 0, error-index 0, the one varbind. */
const REQUEST_AFTER_ID = [
  encodeInteger(0),
  encodeInteger(0),
  tlv(BER.sequence, [tlv(BER.sequence, [encodeOid(SYS_DESCR), encodeNull()])]),
];
const getRequest = idTemplate(
  encodeGetRequest,
  REQUEST_AFTER_ID.reduce((n, b) => n + b.length, 0),
);

export const snmpProbe: UdpProbe = {
  id: "snmp",
  service: "snmp",
  transport: "udp",
  ports: [161],
  request(cookie: Cookie): Buffer {
    return getRequest(cookie.id);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const r = readResponse(reply);
    return r !== null && r.version === VERSION_2C && r.requestId === (cookie.id & 0xffff);
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    for (const reply of replies) {
      const r = readResponse(reply);
      if (r === null) continue;
      const { descr, exception } = r.varbinds
        ? readSysDescr(reply, r.varbinds)
        : { descr: null, exception: null };
      return {
        fields: {
          sysDescr: descr,
          community:
            r.community === COMMUNITY ? COMMUNITY : r.community.replace(/[^\x20-\x7e]/g, "").slice(0, 64),
          error: r.errorStatus === 0 ? null : (ERROR_NAMES[r.errorStatus] ?? `error ${r.errorStatus}`),
          exception,
        },
        abusable: true,
        note: "Answers SNMPv2c with community public: GetBulk requests through it reflect (~6x) and leak device data.",
      };
    }
    return null;
  },
};
