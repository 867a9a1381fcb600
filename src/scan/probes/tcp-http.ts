/**
 * HTTP (RFC 9110/9112; the request is HTTP/1.0 so no Host header is needed and the server closes):
 * `HEAD /` gets the status line and headers without a body. The Server header names the software;
 * X-Elastic-Product tells Elasticsearch on 9200 apart from other HTTP APIs.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const MAX_HEAD = 8192;
const MAX_HEADERS = 100;
const MAX_VALUE = 256;

function clean(s: string): string {
  return s
    .replace(/[^\x20-\x7e]/g, "")
    .trim()
    .slice(0, MAX_VALUE);
}

export const tcpHttpProbe: TcpProbe = {
  id: "tcp-http",
  service: "http",
  transport: "tcp",
  ports: [80, 8000, 8008, 8080, 8081, 8888, 9200],
  request: Buffer.from("HEAD / HTTP/1.0\r\n\r\n", "ascii"),
  parse(data: Buffer): ProbeResult | null {
    const head = data.subarray(0, MAX_HEAD).toString("latin1");
    const lines = head.split(/\r?\n/, MAX_HEADERS + 1);
    const status = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
    if (!status) return null;
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      if (line === "") break;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const key = line.slice(0, colon).trim().toLowerCase();
      if (!headers.has(key)) headers.set(key, clean(line.slice(colon + 1)));
    }
    const code = Number(status[3]);
    const get = (k: string): string | null => headers.get(k) || null;
    const auth = get("www-authenticate");
    return {
      fields: {
        http_version: `${status[1]}.${status[2]}`,
        status: code,
        reason: status[4] === undefined ? null : clean(status[4]),
        server: get("server"),
        powered_by: get("x-powered-by"),
        product: get("x-elastic-product"),
        location: get("location"),
        auth_required: code === 401,
        auth_scheme: auth === null ? null : (auth.split(" ", 1)[0] ?? null),
      },
      abusable: false,
      note:
        code === 401
          ? "An HTTP server answers from here and asks for credentials."
          : "An HTTP server answers from here without asking for credentials on /.",
    };
  },
};
