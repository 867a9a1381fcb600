/**
 * memcached over TCP (protocol.txt): `version` is the smallest command, answered `VERSION x.y.z`.
 * A server with text-protocol authentication (-Y) answers `CLIENT_ERROR unauthenticated` instead.
 * TCP cannot reflect, so `abusable` is false; the note says what exposure means.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const MAX_LINE = 256;

export const tcpMemcachedProbe: TcpProbe = {
  id: "tcp-memcached",
  service: "memcached",
  transport: "tcp",
  ports: [11211],
  request: Buffer.from("version\r\n", "ascii"),
  parse(data: Buffer): ProbeResult | null {
    const line = data.subarray(0, MAX_LINE).toString("latin1").split("\n", 1)[0]!.replace(/\r$/, "");
    const m = /^VERSION ([\x21-\x7e]{1,64})$/.exec(line);
    if (m) {
      return {
        fields: { version: m[1]!, auth_required: false },
        abusable: false,
        note: "memcached answers over TCP without authentication: anyone can read, change and flush its data.",
      };
    }
    if (/^CLIENT_ERROR unauthenticated/.test(line)) {
      return {
        fields: { version: null, auth_required: true },
        abusable: false,
        note: "memcached is reachable over TCP but requires authentication.",
      };
    }
    return null;
  },
};
