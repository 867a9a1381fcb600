/**
 * xinetd with chargen (its built-in service) and qotd (a small script: neither xinetd nor the
 * other inetds have a built-in qotd), on UDP and TCP, bound to one address; and, when asked for,
 * telnet (inetutils' telnetd, TCP only, as Debian's inetutils-telnetd runs it under an inetd).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabProtocol } from "../lab.js";
import { type DaemonPlan, isV6, oneLine } from "./plan.js";

export type InetdService = "chargen" | "qotd" | "telnet";

export interface XinetdSpec {
  kind: "xinetd";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default chargen and qotd. */
  services?: InetdService[];
  /** Default both. */
  protocols?: LabProtocol[];
}

export const PORTS: Record<InetdService, number> = { chargen: 19, qotd: 17, telnet: 23 };
export const QUOTE = "Nothing in the lab leaves the machine. (moat lab qotd)";

/** UDP (wait = yes): xinetd hands over the socket as fd 0; TCP (wait = no): stdout is the connection. */
const qotdPy = (quote: string) => `import os, socket, sys
quote = ${JSON.stringify(quote)}.encode() + b"\\r\\n"
if os.environ.get("QOTD_UDP"):
    s = socket.socket(fileno=0)
    _, peer = s.recvfrom(512)
    s.sendto(quote, peer)
else:
    sys.stdout.buffer.write(quote)
`;

function block(name: string, fields: Array<[string, string]>): string {
  return `service ${name}\n{\n${fields.map(([k, v]) => `  ${k} = ${v}\n`).join("")}}\n`;
}

export function xinetdPlan(spec: XinetdSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const script = join(dir, "qotd.py");
  writeFileSync(script, qotdPy(QUOTE));
  const blocks: string[] = [];
  const plan: DaemonPlan = { argv: [], endpoints: [] };
  for (const service of spec.services ?? ["chargen", "qotd"]) {
    for (const protocol of spec.protocols ?? ["udp", "tcp"]) {
      if (service === "telnet" && protocol === "udp") continue; // telnet is a TCP service only
      const port = PORTS[service];
      const udp = protocol === "udp";
      const fields: Array<[string, string]> = [
        ["socket_type", udp ? "dgram" : "stream"],
        ["protocol", protocol],
        ["port", String(port)],
        ["wait", udp ? "yes" : "no"],
        ["bind", listen],
        ["flags", isV6(listen) ? "IPv6" : "IPv4"],
      ];
      if (service === "chargen") {
        // A built-in is found by service name and id; two "chargen" blocks differ by id.
        fields.unshift(["type", "INTERNAL"], ["id", `chargen-${udp ? "dgram" : "stream"}`], ["user", "root"]);
      } else if (service === "telnet") {
        // telnetd runs login(1) itself, so as root; the lab never logs in.
        fields.unshift(["type", "UNLISTED"], ["id", "telnet-stream"], ["user", "root"]);
        fields.push(["server", "/usr/sbin/telnetd"]);
      } else {
        fields.unshift(["type", "UNLISTED"], ["id", `qotd-${protocol}`], ["user", "nobody"]);
        fields.push(["server", "/usr/bin/python3"], ["server_args", `-I ${script}`]);
        if (udp) fields.push(["env", "QOTD_UDP=1"]);
      }
      blocks.push(block(service, fields));
      plan.endpoints.push({ protocol, address: listen, port });
    }
  }
  const conf = join(dir, "xinetd.conf");
  writeFileSync(conf, `defaults\n{\n  instances = 20\n}\n${blocks.join("")}`);
  plan.argv = [
    "xinetd",
    "-dontfork",
    "-f",
    conf,
    "-pidfile",
    join(dir, "xinetd.pid"),
    "-filelog",
    join(dir, "xinetd.log"),
  ];
  return plan;
}
