/**
 * CLDAP, LDAP over UDP (RFC 4511 messages; connectionless as Active Directory serves it): a
 * searchRequest for the rootDSE — base "", scope baseObject, filter (objectClass=*) — asking for three
 * attributes only, so the answer identifies the directory without being the big one (56-70x) that
 * attackers get by asking for everything. The messageID carries the cookie. A datagram may hold the
 * searchResEntry and the searchResDone back to back.
 */
import {
  BER,
  encodeInteger,
  encodeOctetString,
  idTemplate,
  readChildren,
  readInteger,
  readTlv,
  type Tlv,
  tlv,
  value,
} from "./ber.js";
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const SEARCH_REQUEST = 0x63; // [APPLICATION 3], constructed
const SEARCH_RES_ENTRY = 0x64;
const SEARCH_RES_DONE = 0x65;
const SEARCH_RES_REF = 0x73;
const FILTER_PRESENT = 0x87; // [7] primitive: AttributeDescription
const ATTRIBUTES = ["dnsHostName", "defaultNamingContext", "supportedLDAPVersion"];
/** Messages per datagram, values per attribute and characters per value worth keeping. */
const MAX_MESSAGES = 16;
const MAX_VALUES = 16;
const MAX_TEXT = 256;

const SEARCH_ROOT_DSE = tlv(SEARCH_REQUEST, [
  encodeOctetString(""), // baseObject: the rootDSE
  encodeInteger(0, BER.enumerated), // scope baseObject
  encodeInteger(0, BER.enumerated), // derefAliases never
  encodeInteger(0), // sizeLimit
  encodeInteger(0), // timeLimit
  tlv(BER.boolean, Buffer.from([0])), // typesOnly FALSE
  encodeOctetString("objectClass", FILTER_PRESENT),
  tlv(
    BER.sequence,
    ATTRIBUTES.map((a) => encodeOctetString(a)),
  ),
]);

/** The LDAPMessage searching the rootDSE, encoded field by field. */
export function searchRootDse(messageId: number): Buffer {
  return tlv(BER.sequence, [encodeInteger(messageId), SEARCH_ROOT_DSE]);
}

const searchRequest = idTemplate(searchRootDse, SEARCH_ROOT_DSE.length);

interface Message {
  id: number;
  op: Tlv;
}

/** Top-level LDAPMessages in the datagram; stops at the first malformed one. */
function readMessages(buf: Buffer): Message[] {
  const out: Message[] = [];
  let pos = 0;
  while (pos < buf.length && out.length < MAX_MESSAGES) {
    const msg = readTlv(buf, pos);
    if (msg === null || msg.tagByte !== BER.sequence) break;
    const kids = readChildren(buf, msg, 4);
    const idTlv = kids?.[0];
    const op = kids?.[1];
    if (idTlv === undefined || op === undefined || idTlv.tagByte !== BER.integer) break;
    const id = readInteger(buf, idTlv);
    if (id === null) break;
    out.push({ id, op });
    pos = msg.end;
  }
  return out;
}

function text(buf: Buffer, t: Tlv): string {
  return value(buf, t)
    .subarray(0, MAX_TEXT)
    .toString("utf8")
    .replace(/[^\x20-\x7e\u00a0-\uffff]/g, "?");
}

/** Attribute name (lower-cased) → values, from a searchResEntry; malformed parts are skipped. */
function readEntry(buf: Buffer, entry: Tlv): Map<string, string[]> {
  const attrs = new Map<string, string[]>();
  const kids = readChildren(buf, entry, 4);
  const list = kids?.[1];
  if (list === undefined || list.tagByte !== BER.sequence) return attrs;
  for (const attr of readChildren(buf, list, 64) ?? []) {
    const [type, vals] = readChildren(buf, attr, 2) ?? [];
    if (type?.tagByte !== BER.octetString || vals?.tagByte !== BER.set) continue;
    const values = (readChildren(buf, vals, MAX_VALUES) ?? [])
      .filter((v) => v.tagByte === BER.octetString)
      .map((v) => text(buf, v));
    attrs.set(text(buf, type).toLowerCase(), values);
  }
  return attrs;
}

/** resultCode of a searchResDone (LDAPResult), or null. */
function readResultCode(buf: Buffer, done: Tlv): number | null {
  const code = readChildren(buf, done, 8)?.[0];
  return code?.tagByte === BER.enumerated ? readInteger(buf, code) : null;
}

export const cldapProbe: UdpProbe = {
  id: "cldap",
  service: "cldap",
  transport: "udp",
  ports: [389],
  request(cookie: Cookie): Buffer {
    return searchRequest(cookie.id);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const first = readMessages(reply)[0];
    return (
      first !== undefined &&
      first.id === (cookie.id & 0xffff) &&
      [SEARCH_RES_ENTRY, SEARCH_RES_DONE, SEARCH_RES_REF].includes(first.op.tagByte)
    );
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    let attrs: Map<string, string[]> | null = null;
    let resultCode: number | null = null;
    for (const reply of replies) {
      for (const m of readMessages(reply)) {
        if (m.op.tagByte === SEARCH_RES_ENTRY && attrs === null) attrs = readEntry(reply, m.op);
        if (m.op.tagByte === SEARCH_RES_DONE && resultCode === null) resultCode = readResultCode(reply, m.op);
      }
    }
    if (attrs === null && resultCode === null) return null;
    const one = (k: string): string | null => attrs?.get(k.toLowerCase())?.[0] ?? null;
    const versions = attrs?.get("supportedldapversion") ?? [];
    const fields = {
      dns_host_name: one("dnsHostName"),
      default_naming_context: one("defaultNamingContext"),
      supported_ldap_version: versions,
      result_code: resultCode,
    };
    if (attrs === null) {
      return {
        fields,
        abusable: false,
        note: `An LDAP server answers over UDP but returned no rootDSE entry (resultCode ${resultCode}).`,
      };
    }
    return {
      fields,
      abusable: true,
      note: "CLDAP answers rootDSE searches over UDP from anywhere: a reflector (56-70x) that names the domain.",
    };
  },
};
