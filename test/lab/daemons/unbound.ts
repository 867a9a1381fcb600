/**
 * unbound as a CLOSED resolver: `access-control: ... refuse` for everyone but `allow` (the host
 * itself by default), so an outside client gets REFUSED without RA. Every zone is local data
 * (`local-zone: "." static`), so even an allowed client never makes unbound send a query out.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_RECORDS } from "./dnsmasq.js";
import { type DaemonPlan, endpoints, isV6, oneLine } from "./plan.js";

export interface UnboundSpec {
  kind: "unbound";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default 53. */
  port?: number;
  /**
   * CIDRs allowed to query; everyone else is refused. Default: loopback and the listen address itself
   * (the source a process on the same host uses when it queries that address).
   */
  allow?: string[];
  /** Local data for allowed clients; default example.com -> 192.0.2.80. */
  records?: Record<string, string>;
}

export function unboundPlan(spec: UnboundSpec, dir: string): DaemonPlan {
  const port = spec.port ?? 53;
  const q = (value: string) => JSON.stringify(oneLine(value, spec.name));
  const server = [
    `interface: ${oneLine(spec.listen, spec.name)}@${port}`,
    `port: ${port}`,
    "do-daemonize: no",
    // Root in its own namespace, no chroot: the temp dir is all it touches.
    'username: ""',
    'chroot: ""',
    `directory: ${q(dir)}`,
    'pidfile: ""',
    "use-syslog: no",
    'logfile: ""',
    "num-threads: 1",
    `do-ip6: ${isV6(spec.listen) ? "yes" : "no"}`,
    'module-config: "iterator"', // no validator: no trust anchor to fetch
    "access-control: 0.0.0.0/0 refuse",
    "access-control: ::/0 refuse",
    ...(spec.allow ?? ["127.0.0.0/8", "::1/128", `${spec.listen}/${isV6(spec.listen) ? 128 : 32}`]).map(
      (cidr) => `access-control: ${oneLine(cidr, spec.name)} allow`,
    ),
    'local-zone: "." static',
  ];
  for (const [name, address] of Object.entries(spec.records ?? DEFAULT_RECORDS)) {
    const type = isV6(address) ? "AAAA" : "A";
    server.push(`local-zone: ${q(`${name}.`)} static`, `local-data: ${q(`${name}. ${type} ${address}`)}`);
  }
  const conf = join(dir, "unbound.conf");
  const text = ["server:", ...server.map((l) => `  ${l}`), "remote-control:", "  control-enable: no", ""];
  writeFileSync(conf, text.join("\n"));
  return { argv: ["unbound", "-d", "-c", conf], endpoints: endpoints(["udp", "tcp"], spec.listen, port) };
}
