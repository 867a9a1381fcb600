/**
 * The SSH session in use, from SSH_CONNECTION, and what a filter would do to it: both `moat filter
 * check` (a lint finding) and `moat filter apply` (a refusal) ask the same question.
 */
import ipaddr from "ipaddr.js";
import type { Family } from "../host/types.js";
import { parseIpv4Number } from "../net/cidr.js";
import { evaluate } from "./evaluate.js";
import type { Filter, Verdict } from "./types.js";

const MAX_PORT = 65535;

export interface SshSession {
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  family: Family;
}

/** SSH_CONNECTION: "client_ip client_port server_ip server_port"; undefined when malformed. */
export function parseSshConnection(value: string): SshSession | undefined {
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 4) return undefined;
  const client = canonicalAddress(parts[0]!);
  const server = canonicalAddress(parts[2]!);
  const clientPort = port(parts[1]!);
  const serverPort = port(parts[3]!);
  if (client === undefined || server === undefined || clientPort === undefined || serverPort === undefined)
    return undefined;
  if (client.family !== server.family) return undefined;
  return { client: client.text, clientPort, server: server.text, serverPort, family: client.family };
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_PORT ? n : undefined;
}

/** sshd may report "fe80::1%eth0" or an IPv4 client as "::ffff:192.0.2.7"; the filter sees neither. */
function canonicalAddress(text: string): { text: string; family: Family } | undefined {
  const bare = text.replace(/%.*$/, "");
  if (parseIpv4Number(bare) >= 0) return { text: bare, family: "ipv4" };
  if (!bare.includes(":") || !ipaddr.IPv6.isValid(bare)) return undefined;
  const address = ipaddr.IPv6.parse(bare);
  if (address.isIPv4MappedAddress()) return { text: address.toIPv4Address().toString(), family: "ipv4" };
  return { text: address.toString(), family: "ipv6" };
}

/** The verdict on the session's next packet: the client's address and port to the server's SSH port. */
export function sessionVerdict(filter: Filter, session: SshSession): Verdict {
  return evaluate(filter, {
    protocol: "tcp",
    family: session.family,
    source: session.client,
    destination: session.server,
    sourcePort: session.clientPort,
    destinationPort: session.serverPort,
    fragment: false,
  });
}
