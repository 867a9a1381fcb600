/**
 * An HTTP server: python3's http.server (the lab's PYTHON) on listen:port, serving the daemon's own (empty) temp dir.
 * It answers every request with a `Server: SimpleHTTP/<v> Python/<v>` header.
 */
import { type DaemonPlan, oneLine, PYTHON } from "./plan.js";

export interface HttpSpec {
  kind: "http";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default 80. */
  port?: number;
}

export function httpPlan(spec: HttpSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const port = spec.port ?? 80;
  return {
    // -u: unbuffered, so its request log reaches the lab's stderr buffer as it happens.
    argv: [PYTHON, "-u", "-m", "http.server", "--bind", listen, "--directory", dir, String(port)],
    endpoints: [{ protocol: "tcp", address: listen, port }],
  };
}
