/**
 * Redis (RESP, redis.io "Redis serialization protocol"): an inline `PING` is answered `+PONG` when no
 * password is needed, `-NOAUTH` when one is, and `-DENIED ...` (about 1 KB, then the server closes)
 * when protected mode (no password set, non-loopback client) refuses us. A pipelined `INFO server`
 * then brings the version to an open server; a locked one answers it with the same error, so it
 * reveals nothing there. TCP cannot reflect, so `abusable` is false; the note says what an open
 * Redis means.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

/** The engine reads 4 KiB; INFO server is about 600 bytes and the DENIED line about 1,100. */
const MAX_READ = 8192;
const MAX_REPLY = 128;
const MAX_VALUE = 128;

/** Error prefixes Redis (and compatible servers) answer PING with. */
const ERROR_KINDS = /^-(NOAUTH|DENIED|NOPERM|WRONGPASS|ERR|LOADING|MASTERDOWN|BUSY)\b/;

const printable = (s: string, max: number) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, max);

/**
 * The `key:value` lines of INFO's bulk string reply starting at `from` ("$<length>\r\n<text>"); what
 * arrived of it when the read was cut short; empty when there is none (an error instead).
 */
function infoLines(text: string, from: number): Map<string, string> {
  const out = new Map<string, string>();
  const header = /^\$(\d{1,6})\r\n/.exec(text.slice(from, from + 9));
  if (!header) return out;
  const start = from + header[0].length;
  for (const line of text.slice(start, start + Number(header[1])).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && !out.has(line.slice(0, colon))) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

export const tcpRedisProbe: TcpProbe = {
  id: "tcp-redis",
  service: "redis",
  transport: "tcp",
  ports: [6379],
  request: Buffer.from("PING\r\nINFO server\r\n", "ascii"),
  parse(data: Buffer): ProbeResult | null {
    const text = data.subarray(0, MAX_READ).toString("latin1");
    const end = text.indexOf("\r\n");
    if (end < 0) return null;
    const line = text.slice(0, end);
    const reply = printable(line, MAX_REPLY);
    if (line === "+PONG") {
      const info = infoLines(text, end + 2);
      const get = (key: string) => {
        const value = info.get(key);
        return value === undefined ? null : printable(value, MAX_VALUE);
      };
      const pid = Number(info.get("process_id"));
      return {
        fields: {
          auth_required: false,
          protected_mode: false,
          reply,
          version: get("redis_version"),
          mode: get("redis_mode"),
          os: get("os"),
          pid: Number.isSafeInteger(pid) && pid > 0 ? pid : null,
        },
        abusable: false,
        note: "Redis answers without a password: anyone can read and write data, and often run code on the host.",
      };
    }
    const kind = ERROR_KINDS.exec(line)?.[1];
    if (kind === undefined) return null;
    const protectedMode = kind === "DENIED";
    const authRequired = kind === "NOAUTH" || kind === "WRONGPASS" || kind === "NOPERM";
    return {
      fields: {
        auth_required: authRequired,
        protected_mode: protectedMode,
        reply,
        version: null,
        mode: null,
        os: null,
        pid: null,
      },
      abusable: false,
      note: protectedMode
        ? "Redis refuses us in protected mode: it has no password and only loopback clients are served."
        : authRequired
          ? "Redis is reachable but requires authentication."
          : `Redis is reachable and answered an error (${kind}).`,
    };
  },
};
