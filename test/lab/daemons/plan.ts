/** What lab.ts needs to start a daemon kind from test/lab/daemons/: everything else stays in the kind's module. */
import type { Endpoint, LabProtocol } from "../lab.js";

export interface DaemonPlan {
  /** Run as `ip netns exec <ns> ...argv`; must stay in the foreground so the lab holds the daemon's pid. */
  argv: string[];
  /** Added to the test process's environment. */
  env?: Record<string, string>;
  /** The sockets whose presence in the namespace means "ready". */
  endpoints: Endpoint[];
}

export function isV6(address: string): boolean {
  return address.includes(":");
}

export function endpoints(protocols: LabProtocol[], address: string, port: number): Endpoint[] {
  return protocols.map((protocol) => ({ protocol, address, port }));
}

/** A config value on one line: a newline in a spec field would smuggle in a directive. */
export function oneLine(value: string, what: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`${what}: one line expected, got ${JSON.stringify(value)}`);
  return value;
}
