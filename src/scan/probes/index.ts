/** The probe registry: one import and one entry per probe, sorted by id. The scanner knows no other list. */
import { chargenProbe } from "./chargen.js";
import { dnsRecursionProbe } from "./dns-recursion.js";
import { dnsVersionProbe } from "./dns-version.js";
import { memcachedProbe } from "./memcached.js";
import { ntpMonlistProbe } from "./ntp-monlist.js";
import { ntpVersionProbe } from "./ntp-version.js";
import { qotdProbe } from "./qotd.js";
import { snmpProbe } from "./snmp.js";
import { ssdpProbe } from "./ssdp.js";
import type { TcpProbe, UdpProbe } from "./types.js";

export const UDP_PROBES: UdpProbe[] = [
  chargenProbe,
  dnsRecursionProbe,
  dnsVersionProbe,
  memcachedProbe,
  ntpMonlistProbe,
  ntpVersionProbe,
  qotdProbe,
  snmpProbe,
  ssdpProbe,
];

export const TCP_PROBES: TcpProbe[] = [];
