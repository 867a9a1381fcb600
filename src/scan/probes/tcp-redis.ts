/**
 * Redis (RESP, redis.io "Redis serialization protocol"): an inline `PING` is answered `+PONG` when no
 * password is needed, `-NOAUTH` when one is, and `-DENIED ...` when protected mode (no password set,
 * non-loopback client) refuses us. TCP cannot reflect, so `abusable` is false; the note says what an
 * open Redis means.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const MAX_LINE = 256;
const MAX_REPLY = 128;

/** Error prefixes Redis (and compatible servers) answer PING with. */
const ERROR_KINDS = /^-(NOAUTH|DENIED|NOPERM|WRONGPASS|ERR|LOADING|MASTERDOWN|BUSY)\b/;

export const tcpRedisProbe: TcpProbe = {
  id: "tcp-redis",
  service: "redis",
  transport: "tcp",
  ports: [6379],
  request: Buffer.from("PING\r\n", "ascii"),
  parse(data: Buffer): ProbeResult | null {
    const head = data.subarray(0, MAX_LINE).toString("latin1");
    const end = head.indexOf("\r\n");
    if (end < 0) return null;
    const line = head.slice(0, end);
    const reply = line.replace(/[^\x20-\x7e]/g, "?").slice(0, MAX_REPLY);
    if (line === "+PONG") {
      return {
        fields: { auth_required: false, protected_mode: false, reply },
        abusable: false,
        note: "Redis answers without a password: anyone can read and write data, and often run code on the host.",
      };
    }
    const kind = ERROR_KINDS.exec(line)?.[1];
    if (kind === undefined) return null;
    const protectedMode = kind === "DENIED";
    const authRequired = kind === "NOAUTH" || kind === "WRONGPASS" || kind === "NOPERM";
    return {
      fields: { auth_required: authRequired, protected_mode: protectedMode, reply },
      abusable: false,
      note: protectedMode
        ? "Redis refuses us in protected mode: it has no password and only loopback clients are served."
        : authRequired
          ? "Redis is reachable but requires authentication."
          : `Redis is reachable and answered an error (${kind}).`,
    };
  },
};
