/** net-snmp's snmpd answering SNMP v1/v2c with a read-only community (`public` by default). */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonPlan, isV6, oneLine } from "./plan.js";

export interface SnmpdSpec {
  kind: "snmpd";
  name: string;
  /** One address of the namespace; port 161/udp. */
  listen: string;
  /** Default "public". */
  community?: string;
  /** Overrides the default sysDescr (the host's uname line). */
  sysDescr?: string;
}

export function snmpdPlan(spec: SnmpdSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const v6 = isV6(listen);
  const community = oneLine(spec.community ?? "public", spec.name);
  const lines = [
    `agentAddress ${v6 ? `udp6:[${listen}]:161` : `udp:${listen}:161`}`,
    `${v6 ? "rocommunity6" : "rocommunity"} ${community} default`,
  ];
  if (spec.sysDescr !== undefined) lines.push(`sysDescr ${oneLine(spec.sysDescr, spec.name)}`);
  const conf = join(dir, "snmpd.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  const persist = join(dir, "persist");
  mkdirSync(persist, { recursive: true });
  return {
    // -f foreground, -Le log to stderr, -C no default config files, -I -smux: no TCP 199 listener.
    argv: ["snmpd", "-f", "-Le", "-C", "-c", conf, "-I", "-smux", "-p", join(dir, "snmpd.pid")],
    // MIBS empty: numeric OIDs only, without hundreds of "Cannot find module" lines on stderr.
    env: { MIBS: "", SNMP_PERSISTENT_DIR: persist },
    endpoints: [{ protocol: "udp", address: listen, port: 161 }],
  };
}
