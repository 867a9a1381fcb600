/**
 * Portmapper / rpcbind (ONC RPC, RFC 5531; portmap, RFC 1833): a CALL to program 100000 version 2
 * procedure 4 (PMAPPROC_DUMP) with AUTH_NULL returns every registered (program, version, protocol,
 * port) — a 40-byte request drawing hundreds of bytes (7-28x). The xid carries the cookie: a fixed
 * tag in the high 16 bits, cookie.id in the low 16, so stray RPC replies do not match.
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const PMAP_PROG = 100000;
const PMAP_VERS = 2;
const PMAPPROC_DUMP = 4;
const CALL = 0;
const REPLY = 1;
const MSG_ACCEPTED = 0;
const MSG_DENIED = 1;
const SUCCESS = 0;
/** "mo" in the xid's high half: our replies carry it back. */
const XID_TAG = 0x6d6f;
/** A busy NFS server registers ~30 mappings; the list is capped to keep the report readable. */
const MAX_PROGRAMS = 64;
/** RFC 5531 limits opaque auth bodies to 400 bytes. */
const MAX_AUTH = 400;

const ACCEPT_STAT = [
  "SUCCESS",
  "PROG_UNAVAIL",
  "PROG_MISMATCH",
  "PROC_UNAVAIL",
  "GARBAGE_ARGS",
  "SYSTEM_ERR",
];

/** Well-known program numbers (RFC 1833 and the rpc(5) database) so the list reads like rpcinfo -p. */
const PROGRAM_NAMES: Record<number, string> = {
  100000: "portmapper",
  100003: "nfs",
  100004: "ypserv",
  100005: "mountd",
  100007: "ypbind",
  100011: "rquotad",
  100021: "nlockmgr",
  100024: "status",
  100227: "nfs_acl",
};

function xidFor(cookie: Cookie): number {
  return ((XID_TAG << 16) | (cookie.id & 0xffff)) >>> 0;
}

function protoName(p: number): string {
  return p === 6 ? "tcp" : p === 17 ? "udp" : `proto${p}`;
}

interface Dump {
  acceptStat: number;
  programs: string[];
  total: number;
  ended: boolean;
}

/** The accepted reply body; null when the datagram is not an accepted RPC reply. */
function readReply(buf: Buffer): Dump | null {
  if (buf.length < 24 || buf.readUInt32BE(4) !== REPLY || buf.readUInt32BE(8) !== MSG_ACCEPTED) return null;
  // Verifier: flavor, length, opaque body padded to 4 bytes.
  const verfLen = buf.readUInt32BE(16);
  if (verfLen > MAX_AUTH) return null;
  let pos = 20 + Math.ceil(verfLen / 4) * 4;
  if (pos + 4 > buf.length) return null;
  const acceptStat = buf.readUInt32BE(pos);
  pos += 4;
  const programs: string[] = [];
  let total = 0;
  let ended = false;
  if (acceptStat === SUCCESS) {
    // pmaplist: (value-follows TRUE, prog, vers, prot, port)* then FALSE; each step advances.
    while (pos + 4 <= buf.length) {
      const follows = buf.readUInt32BE(pos);
      if (follows === 0) {
        ended = true;
        break;
      }
      if (follows !== 1 || pos + 20 > buf.length) return null;
      const [prog, vers, prot, port] = [4, 8, 12, 16].map((o) => buf.readUInt32BE(pos + o)) as [
        number,
        number,
        number,
        number,
      ];
      total++;
      if (programs.length < MAX_PROGRAMS) {
        const name = PROGRAM_NAMES[prog];
        programs.push(`${prog}${name ? ` ${name}` : ""} v${vers} ${protoName(prot)} ${port}`);
      }
      pos += 20;
    }
  }
  return { acceptStat, programs, total, ended };
}

export const portmapProbe: UdpProbe = {
  id: "portmap",
  service: "rpcbind",
  transport: "udp",
  ports: [111],
  request(cookie: Cookie): Buffer {
    const call = Buffer.alloc(40); // cred and verf: AUTH_NULL, zero length (all zero bytes)
    call.writeUInt32BE(xidFor(cookie), 0);
    call.writeUInt32BE(CALL, 4);
    call.writeUInt32BE(2, 8); // RPC version
    call.writeUInt32BE(PMAP_PROG, 12);
    call.writeUInt32BE(PMAP_VERS, 16);
    call.writeUInt32BE(PMAPPROC_DUMP, 20);
    return call;
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    // A denied reply (MSG_DENIED) is ours too: xid, REPLY and a reply_stat of 0 or 1.
    return (
      reply.length >= 12 &&
      reply.readUInt32BE(0) === xidFor(cookie) &&
      reply.readUInt32BE(4) === REPLY &&
      reply.readUInt32BE(8) <= 1
    );
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    for (const reply of replies) {
      if (reply.length >= 16 && reply.readUInt32BE(4) === REPLY && reply.readUInt32BE(8) === MSG_DENIED) {
        const why = reply.readUInt32BE(12) === 0 ? "RPC_MISMATCH" : "AUTH_ERROR";
        return {
          fields: { accept_stat: `MSG_DENIED ${why}`, programs: [], program_count: 0, truncated: false },
          abusable: false,
          note: `An RPC service answers on this port but denied the call (${why}).`,
        };
      }
      const dump = readReply(reply);
      if (dump === null) continue;
      if (dump.acceptStat !== SUCCESS) {
        const stat = ACCEPT_STAT[dump.acceptStat] ?? `accept_stat ${dump.acceptStat}`;
        return {
          fields: { accept_stat: stat, programs: [], program_count: 0, truncated: false },
          abusable: false,
          note: `An RPC service answers on this port but refused the portmap DUMP (${stat}).`,
        };
      }
      return {
        fields: {
          accept_stat: "SUCCESS",
          programs: dump.programs,
          program_count: dump.total,
          truncated: !dump.ended,
        },
        abusable: true,
        note: "rpcbind answers DUMP over UDP from anywhere: it lists the RPC services and is a reflector (7-28x).",
      };
    }
    return null;
  },
};
