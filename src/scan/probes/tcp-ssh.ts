/**
 * SSH (RFC 4253 section 4.2): the server speaks first with "SSH-protoversion-softwareversion
 * [SP comments]" CR LF, possibly after other lines of text, in at most 255 characters.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const MAX_READ = 4096;
/** RFC 4253 allows other lines before the identification; a few suffice. */
const MAX_LINES = 32;
const MAX_LINE = 255;

export const tcpSshProbe: TcpProbe = {
  id: "tcp-ssh",
  service: "ssh",
  transport: "tcp",
  ports: [22],
  request: null,
  parse(data: Buffer): ProbeResult | null {
    const lines = data.subarray(0, MAX_READ).toString("latin1").split("\n", MAX_LINES);
    for (const raw of lines) {
      const line = raw.replace(/\r$/, "");
      if (!line.startsWith("SSH-") || line.length > MAX_LINE) continue;
      const m = /^SSH-(\d+\.\d+)-([\x21-\x7e]+)(?: ([\x20-\x7e]*))?$/.exec(line);
      if (!m) return null;
      const proto = m[1]!;
      return {
        fields: { protocol_version: proto, software: m[2]!, comment: m[3] ?? null, banner: line },
        abusable: false,
        note:
          proto === "1.5"
            ? "SSH protocol 1 only: obsolete and broken cryptography, and the login is exposed."
            : "SSH accepts connections from here: its login is exposed to password guessing.",
      };
    }
    return null;
  },
};
