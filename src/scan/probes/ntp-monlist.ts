/**
 * ntpd's monlist: an NTPv2 mode 7 (private) request, implementation 3 (XNTPD), request code 42
 * (MON_GETLIST_1). The 8-byte header alone is a complete request (ntpd checks for REQ_LEN_HDR); the
 * reply lists up to 600 recent clients, 6 per datagram — the 556x amplifier of CVE-2013-5211.
 * Mode 7 has no id field: the scanner matches on the source port, and `match` checks the shape only
 * (response bit, mode 7, our implementation and request code).
 */
import type { ProbeResult, UdpProbe } from "./types.js";

const MODE_PRIVATE = 7;
const IMPL_XNTPD = 3;
const REQ_MON_GETLIST_1 = 42;
const HEADER = 8;
/** ntpd sends at most 600 entries in 100 datagrams; more is not a monlist reply. */
const MAX_DATAGRAMS = 128;

/** INFO_ERR_* from ntp_request.h. */
const ERRORS: Record<number, string> = {
  1: "implementation not supported",
  2: "request code not supported",
  3: "format error",
  4: "no data: monlist removed (ntpd 4.2.7p26+) or monitoring off",
  7: "authentication required",
};

interface Mode7 {
  more: boolean;
  seq: number;
  err: number;
  nitems: number;
  itemSize: number;
  data: Buffer;
}

/** A mode 7 response to MON_GETLIST_1 from an XNTPD, or null. */
function readResponse(buf: Buffer): Mode7 | null {
  if (buf.length < HEADER) return null;
  const b0 = buf[0]!;
  const version = (b0 >> 3) & 7;
  if ((b0 & 0x80) === 0 || (b0 & 7) !== MODE_PRIVATE || version < 1 || version > 4) return null;
  if (buf[2] !== IMPL_XNTPD || buf[3] !== REQ_MON_GETLIST_1) return null;
  if ((buf[6]! & 0xf0) !== 0) return null; // MBZ
  return {
    more: (b0 & 0x40) !== 0,
    seq: buf[1]! & 0x7f,
    err: buf[4]! >> 4,
    nitems: ((buf[4]! & 0x0f) << 8) | buf[5]!,
    itemSize: ((buf[6]! & 0x0f) << 8) | buf[7]!,
    data: buf.subarray(HEADER),
  };
}

// 0x17: response 0, more 0, version 2, mode 7; then auth/seq 0, implementation, request code,
// and zero err/nitems and mbz/itemsize. The same bytes every time: one buffer, never written to.
const REQUEST = Buffer.from([0x17, 0x00, IMPL_XNTPD, REQ_MON_GETLIST_1, 0, 0, 0, 0]);

export const ntpMonlistProbe: UdpProbe = {
  id: "ntp-monlist",
  service: "ntp",
  transport: "udp",
  ports: [123],
  request(): Buffer {
    return REQUEST;
  },
  match(reply: Buffer): boolean {
    return readResponse(reply) !== null;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const bySeq = new Map<number, Mode7>();
    for (const reply of replies.slice(0, MAX_DATAGRAMS * 2)) {
      const r = readResponse(reply);
      if (r !== null && !bySeq.has(r.seq)) bySeq.set(r.seq, r);
    }
    if (bySeq.size === 0) return null;
    let entries = 0;
    let itemSize = 0;
    let err = 0;
    for (const r of bySeq.values()) {
      if (r.err !== 0) {
        err = r.err;
        continue;
      }
      // Count only the items the datagram really holds; a claimed count is not evidence.
      const fits = r.itemSize > 0 ? Math.floor(r.data.length / r.itemSize) : 0;
      entries += Math.min(r.nitems, fits);
      itemSize = itemSize || r.itemSize;
    }
    const error = err !== 0 ? (ERRORS[err] ?? `error ${err}`) : null;
    const abusable = err === 0;
    return {
      fields: { entries, datagrams: bySeq.size, item_size: itemSize || null, error },
      abusable,
      note: abusable
        ? `ntpd answers monlist (${entries} entries in ${bySeq.size} datagrams): a reflector with amplification up to ~557x.`
        : `ntpd answers mode 7 but refuses monlist (${error}).`,
    };
  },
};
