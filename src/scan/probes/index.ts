/** The probe registry: one import and one entry per probe, sorted by id. The scanner knows no other list. */
import { chargenProbe } from "./chargen.js";
import { cldapProbe } from "./cldap.js";
import { coapProbe } from "./coap.js";
import { dnsRecursionProbe } from "./dns-recursion.js";
import { dnsVersionProbe } from "./dns-version.js";
import { mdnsProbe } from "./mdns.js";
import { memcachedProbe } from "./memcached.js";
import { netbiosProbe } from "./netbios.js";
import { ntpMonlistProbe } from "./ntp-monlist.js";
import { ntpVersionProbe } from "./ntp-version.js";
import { portmapProbe } from "./portmap.js";
import { qotdProbe } from "./qotd.js";
import { ripProbe } from "./rip.js";
import { snmpProbe } from "./snmp.js";
import { ssdpProbe } from "./ssdp.js";
import { tcpHttpProbe } from "./tcp-http.js";
import { tcpMemcachedProbe } from "./tcp-memcached.js";
import { tcpMongodbProbe } from "./tcp-mongodb.js";
import { tcpMysqlProbe } from "./tcp-mysql.js";
import { tcpRedisProbe } from "./tcp-redis.js";
import { tcpSmbProbe } from "./tcp-smb.js";
import { tcpSshProbe } from "./tcp-ssh.js";
import { tcpTelnetProbe } from "./tcp-telnet.js";
import { tftpProbe } from "./tftp.js";
import type { TcpProbe, UdpProbe } from "./types.js";
import { wsdProbe } from "./wsd.js";

export const UDP_PROBES: UdpProbe[] = [
  chargenProbe,
  cldapProbe,
  coapProbe,
  dnsRecursionProbe,
  dnsVersionProbe,
  mdnsProbe,
  memcachedProbe,
  netbiosProbe,
  ntpMonlistProbe,
  ntpVersionProbe,
  portmapProbe,
  qotdProbe,
  ripProbe,
  snmpProbe,
  ssdpProbe,
  tftpProbe,
  wsdProbe,
];

export const TCP_PROBES: TcpProbe[] = [
  tcpHttpProbe,
  tcpMemcachedProbe,
  tcpMongodbProbe,
  tcpMysqlProbe,
  tcpRedisProbe,
  tcpSmbProbe,
  tcpSshProbe,
  tcpTelnetProbe,
];
