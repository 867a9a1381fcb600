/**
 * dnsmasq as an OPEN resolver: it answers anyone's recursive query with RA set. There is no upstream
 * (`no-resolv`, no `server=`), so "recursion" is answered from local data and nothing leaves the
 * namespace; names it has no data for get REFUSED. version.bind (CHAOS TXT) is built in.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonPlan, endpoints, oneLine } from "./plan.js";

export interface DnsmasqSpec {
  kind: "dnsmasq";
  name: string;
  /** One address of the namespace (not a wildcard): dnsmasq binds exactly it (`bind-interfaces`). */
  listen: string;
  /** Default 53. */
  port?: number;
  /** name -> address answered for the name and every name under it; default example.com -> 192.0.2.80. */
  records?: Record<string, string>;
}

export const DEFAULT_RECORDS: Record<string, string> = { "example.com": "192.0.2.80" };

export function dnsmasqPlan(spec: DnsmasqSpec, dir: string): DaemonPlan {
  const port = spec.port ?? 53;
  const lines = [
    "no-resolv", // no upstream: never forwards a query anywhere
    "no-hosts", // the host's /etc/hosts is not the lab's data
    "no-poll",
    "bind-interfaces",
    `listen-address=${oneLine(spec.listen, spec.name)}`,
    `port=${port}`,
    "pid-file=",
    "log-facility=-",
  ];
  for (const [name, address] of Object.entries(spec.records ?? DEFAULT_RECORDS)) {
    lines.push(`address=/${oneLine(name, spec.name)}/${oneLine(address, spec.name)}`);
  }
  const conf = join(dir, "dnsmasq.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  // -k: foreground; --conf-file replaces /etc/dnsmasq.conf and its conf-dir.
  return {
    argv: ["dnsmasq", "-k", `--conf-file=${conf}`, "--user=nobody"],
    endpoints: endpoints(["udp", "tcp"], spec.listen, port),
  };
}
