/**
 * memcached over UDP (protocol.txt, "UDP protocol"): every datagram starts with an 8-byte frame
 * header — request id, sequence number, total datagrams, reserved 0 — and the server echoes the
 * request id, which carries the cookie. `stats` is the smallest request that identifies the server and
 * returns the Shadowserver "Open Memcached" columns; the reply spans datagrams of up to 1400 bytes.
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const FRAME = 8;
const COMMAND = "stats\r\n";
/** A `stats` reply is ~1.5 KB; far more datagrams than that are not worth reassembling. */
const MAX_DATAGRAMS = 64;
const MAX_VALUE = 128;

interface Frame {
  id: number;
  seq: number;
  total: number;
  payload: Buffer;
}

function readFrame(buf: Buffer): Frame | null {
  if (buf.length < FRAME) return null;
  const frame = {
    id: buf.readUInt16BE(0),
    seq: buf.readUInt16BE(2),
    total: buf.readUInt16BE(4),
    payload: buf.subarray(FRAME),
  };
  if (buf.readUInt16BE(6) !== 0 || frame.total === 0 || frame.seq >= frame.total) return null;
  return frame;
}

/** Replies the text protocol can start with (STAT lines, or an error for a disabled command). */
const FIRST_WORDS = /^(STAT |END\r\n|ERROR|CLIENT_ERROR |SERVER_ERROR )/;

/** The reassembled text: datagrams in sequence order, first copy of a duplicate wins, gaps noted. */
function reassemble(replies: readonly Buffer[]): { text: string; datagrams: number; missing: number } | null {
  const bySeq = new Map<number, Buffer>();
  let total = 0;
  for (const reply of replies.slice(0, MAX_DATAGRAMS * 4)) {
    const f = readFrame(reply);
    if (f === null || f.seq >= MAX_DATAGRAMS) continue;
    total = Math.max(total, f.total);
    if (!bySeq.has(f.seq)) bySeq.set(f.seq, f.payload);
  }
  if (bySeq.size === 0) return null;
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  const text = Buffer.concat(seqs.map((s) => bySeq.get(s)!)).toString("latin1");
  return { text, datagrams: bySeq.size, missing: Math.max(0, Math.min(total, MAX_DATAGRAMS) - bySeq.size) };
}

/** The request with request id 0: sequence 0 of 1, reserved 0, then the command. */
const TEMPLATE = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), Buffer.from(COMMAND, "ascii")]);

/** A `STAT <key> <value>` line anywhere in the reply (lines end with CRLF). */
const STAT_LINE = /(?:^|\r\n)STAT \S+ [^\r\n]*(?=\r\n|$)/;

/**
 * The value of the first `STAT <key> <value>` line (at most MAX_VALUE characters), or null. Looked up
 * by key rather than by splitting the ~2 KB reply into lines: a reply is parsed as soon as it is
 * complete, while the scan is still sending.
 */
function statValue(text: string, key: string): string | null {
  const prefix = `STAT ${key} `;
  for (let at = text.indexOf(prefix); at >= 0; at = text.indexOf(prefix, at + 1)) {
    if (at > 0 && !(text[at - 1] === "\n" && text[at - 2] === "\r")) continue; // not a line start
    const start = at + prefix.length;
    let end = text.indexOf("\r\n", start);
    if (end < 0) end = text.length;
    const value = text.slice(start, end);
    if (/[\r\n]/.test(value)) continue; // a bare CR or LF inside: not a STAT line
    return value.slice(0, MAX_VALUE);
  }
  return null;
}

export const memcachedProbe: UdpProbe = {
  id: "memcached",
  service: "memcached",
  transport: "udp",
  ports: [11211],
  request(cookie: Cookie): Buffer {
    const request = Buffer.from(TEMPLATE);
    request.writeUInt16BE(cookie.id & 0xffff, 0);
    return request;
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const f = readFrame(reply);
    if (f === null || f.id !== (cookie.id & 0xffff) || f.payload.length === 0) return false;
    // Only the first datagram starts at a line boundary; later ones can start mid-line.
    return f.seq !== 0 || FIRST_WORDS.test(f.payload.subarray(0, 16).toString("latin1"));
  },
  complete(replies: readonly Buffer[]): boolean {
    // Every sequence number of the announced total is here (the frame header says how many).
    let total = 0;
    const seen = new Set<number>();
    for (const reply of replies) {
      const f = readFrame(reply);
      if (f === null) continue;
      total = Math.max(total, f.total);
      seen.add(f.seq);
    }
    return total > 0 && total <= MAX_DATAGRAMS && seen.size >= total;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const r = reassemble(replies);
    if (r === null) return null;
    const text = r.text;
    const hasStats = STAT_LINE.test(text);
    if (!hasStats && !FIRST_WORDS.test(text)) return null;
    const stat = (k: string) => statValue(text, k);
    const num = (k: string): number | null => {
      const v = stat(k);
      return v !== null && /^\d{1,15}$/.test(v) ? Number(v) : null;
    };
    const version = stat("version")?.replace(/[^\x20-\x7e]/g, "") ?? null;
    return {
      fields: {
        version,
        uptime: num("uptime"),
        curr_connections: num("curr_connections"),
        total_connections: num("total_connections"),
        pid: num("pid"),
        pointer_size: num("pointer_size"),
        time: num("time"),
        datagrams: r.datagrams,
        missing_datagrams: r.missing,
      },
      abusable: true,
      note: hasStats
        ? "memcached answers stats over UDP: a reflector with amplification up to 51,000x."
        : "memcached answers over UDP (stats refused): still a reflector.",
    };
  },
};
