/**
 * MySQL / MariaDB (MySQL client/server protocol, "Connection Phase"): the server speaks first with an
 * Initial Handshake packet, protocol version 10 — server version, connection id, capabilities, auth
 * plugin. A server that refuses our address sends an ERR packet first instead (1130 "Host ... is not
 * allowed to connect"), which still identifies MySQL. Nothing is sent.
 * MariaDB before 11.0 puts "5.5.5-" before its real version in the handshake, so that old MySQL
 * replication clients accept it (a real 10.11 server sends "5.5.5-10.11.19-MariaDB-0+deb12u1"):
 * `version` drops that prefix, `server_version` keeps the bytes as sent.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const HANDSHAKE_V10 = 0x0a;
const ERR = 0xff;
const CLIENT_SSL = 0x0000_0800;
const CLIENT_PLUGIN_AUTH = 0x0008_0000;
const MAX_TEXT = 128;
const MARIADB_RPL_HACK = /^5\.5\.5-(?=\d+\.\d+\.\d+.*mariadb)/i;

/** A NUL-terminated string within [start, end), or null when there is no NUL. */
function cstring(buf: Buffer, start: number, end: number): { text: string; next: number } | null {
  const nul = buf.indexOf(0, start);
  if (nul < 0 || nul >= end) return null;
  return { text: printable(buf.subarray(start, nul)), next: nul + 1 };
}

function printable(b: Buffer): string {
  return b
    .subarray(0, MAX_TEXT)
    .toString("latin1")
    .replace(/[^\x20-\x7e]/g, "?");
}

function handshake(p: Buffer): ProbeResult | null {
  const version = cstring(p, 1, p.length);
  if (version === null || version.text === "" || version.next + 4 > p.length) return null;
  const connectionId = p.readUInt32LE(version.next);
  let pos = version.next + 4 + 8; // auth-plugin-data part 1
  if (pos + 1 + 2 > p.length || p[pos] !== 0) return null; // filler
  let caps = p.readUInt16LE(pos + 1);
  pos += 3;
  let authPlugin: string | null = null;
  if (pos + 16 <= p.length) {
    caps |= p.readUInt16LE(pos + 3) << 16; // after charset (1) and status (2)
    const authDataLen = p[pos + 5]!;
    pos += 16; // + auth data length (1) + reserved (10)
    pos += Math.max(13, authDataLen - 8); // auth-plugin-data part 2
    if (caps & CLIENT_PLUGIN_AUTH && pos < p.length) {
      // Some servers omit the final NUL (a known MySQL 5.5 quirk): take the rest of the packet.
      authPlugin = cstring(p, pos, p.length)?.text ?? printable(p.subarray(pos));
    }
  }
  const mariadb = /mariadb/i.test(version.text);
  return {
    fields: {
      protocol_version: HANDSHAKE_V10,
      server_version: version.text,
      version: version.text.replace(MARIADB_RPL_HACK, ""),
      connection_id: connectionId,
      auth_plugin: authPlugin,
      ssl: (caps & CLIENT_SSL) !== 0,
      mariadb,
      error_code: null,
      error_message: null,
    },
    abusable: false,
    note: `${mariadb ? "MariaDB" : "MySQL"} accepts connections from here: its login is exposed to password guessing.`,
  };
}

function errorPacket(p: Buffer): ProbeResult | null {
  if (p.length < 4) return null;
  const code = p.readUInt16LE(1);
  // Pre-handshake errors carry no SQL state; later ones start the message with '#' and 5 characters.
  const message = printable(p[3] === 0x23 ? p.subarray(9) : p.subarray(3));
  if (code < 1000 || code > 9999) return null;
  return {
    fields: {
      protocol_version: null,
      server_version: null,
      version: null,
      connection_id: null,
      auth_plugin: null,
      ssl: null,
      mariadb: null,
      error_code: code,
      error_message: message,
    },
    abusable: false,
    note:
      code === 1130
        ? "MySQL answers but refuses this client address (host not allowed)."
        : `MySQL answers with error ${code} before the handshake.`,
  };
}

export const tcpMysqlProbe: TcpProbe = {
  id: "tcp-mysql",
  service: "mysql",
  transport: "tcp",
  ports: [3306],
  request: null,
  parse(data: Buffer): ProbeResult | null {
    if (data.length < 5 || data[3] !== 0) return null; // sequence id 0: the server's first packet
    const length = data.readUIntLE(0, 3);
    if (length < 2) return null;
    const payload = data.subarray(4, 4 + length); // may be cut short by the read limit
    if (payload[0] === HANDSHAKE_V10) return handshake(payload);
    if (payload[0] === ERR) return errorPacket(payload);
    return null;
  },
};
