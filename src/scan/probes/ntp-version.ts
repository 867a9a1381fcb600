/**
 * NTP identification: a mode 6 (control) READVAR for the system association with no variable names,
 * which is what `ntpq -c rv` sends; ntpd answers with "version=..., processor=..., system=...,
 * stratum=..." text, in fragments (M bit, offset field) when long. The 16-bit sequence carries the
 * cookie. Mode 6 itself is a small amplifier; the serious one is monlist (the ntp-monlist probe).
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const HEADER = 12;
const OP_READVAR = 2;
const MAX_FRAGMENTS = 64;
const MAX_TEXT = 16384;
const MAX_VALUE = 256;

interface Fragment {
  error: boolean;
  offset: number;
  data: Buffer;
}

function readResponse(buf: Buffer, seq?: number): Fragment | null {
  if (buf.length < HEADER) return null;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const version = (b0 >> 3) & 7;
  if ((b0 & 7) !== 6 || version < 1 || version > 4) return null;
  if ((b1 & 0x80) === 0 || (b1 & 0x1f) !== OP_READVAR) return null;
  if (seq !== undefined && buf.readUInt16BE(2) !== (seq & 0xffff)) return null;
  const count = buf.readUInt16BE(10);
  // A fragment claiming more data than it carries is truncated: keep what is there.
  return {
    error: (b1 & 0x40) !== 0,
    offset: buf.readUInt16BE(8),
    data: buf.subarray(HEADER, HEADER + count),
  };
}

/** key=value pairs separated by commas; values may be quoted (and hold commas). Linear, capped. */
export function parseVariables(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  let i = 0;
  const n = Math.min(text.length, MAX_TEXT);
  while (i < n && vars.size < 256) {
    let j = i;
    let quoted = false;
    while (j < n && (quoted || text[j] !== ",")) {
      if (text[j] === '"') quoted = !quoted;
      j++;
    }
    const item = text.slice(i, j);
    const eq = item.indexOf("=");
    const key = (eq === -1 ? item : item.slice(0, eq)).trim();
    let val = eq === -1 ? "" : item.slice(eq + 1).trim();
    if (val.startsWith('"')) val = val.slice(1, val.endsWith('"') && val.length > 1 ? -1 : undefined);
    if (key !== "" && !vars.has(key)) vars.set(key, val.replace(/[^\x20-\x7e]+/g, " ").slice(0, MAX_VALUE));
    i = j + 1;
  }
  return vars;
}

export const ntpVersionProbe: UdpProbe = {
  id: "ntp-version",
  service: "ntp",
  transport: "udp",
  ports: [123],
  request(cookie: Cookie): Buffer {
    const pkt = Buffer.alloc(HEADER);
    pkt[0] = 0x16; // leap 0, version 2, mode 6 (as ntpq sends)
    pkt[1] = OP_READVAR;
    pkt.writeUInt16BE(cookie.id & 0xffff, 2); // status, association 0 (system), offset, count all 0
    return pkt;
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    return readResponse(reply, cookie.id) !== null;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const byOffset = new Map<number, Fragment>();
    let refused = false;
    for (const reply of replies.slice(0, MAX_FRAGMENTS * 2)) {
      const f = readResponse(reply);
      if (f === null) continue;
      if (f.error) refused = true;
      else if (!byOffset.has(f.offset) && byOffset.size < MAX_FRAGMENTS) byOffset.set(f.offset, f);
    }
    if (byOffset.size === 0 && !refused) return null;
    const text = [...byOffset.values()]
      .sort((a, b) => a.offset - b.offset)
      .map((f) => f.data.toString("latin1"))
      .join("");
    const vars = parseVariables(text);
    const stratum = vars.get("stratum");
    return {
      fields: {
        version: vars.get("version") ?? null,
        system: vars.get("system") ?? null,
        processor: vars.get("processor") ?? null,
        stratum: stratum !== undefined && /^\d{1,3}$/.test(stratum) ? Number(stratum) : null,
      },
      abusable: false,
      note: refused
        ? "ntpd answers mode 6 control queries with an error; reflection abuse comes through monlist (see ntp-monlist)."
        : "ntpd answers mode 6 READVAR; reflection abuse comes through monlist (see ntp-monlist).",
    };
  },
};
