/** What lab.ts needs to start a daemon kind from test/lab/daemons/: everything else stays in the kind's module. */
import { accessSync, constants } from "node:fs";
import type { Endpoint, LabProtocol } from "../lab.js";

export interface DaemonPlan {
  /** Run as `ip netns exec <ns> ...argv`; must stay in the foreground so the lab holds the daemon's pid. */
  argv: string[];
  /** Added to the test process's environment. */
  env?: Record<string, string>;
  /** The sockets whose presence in the namespace means "ready". */
  endpoints: Endpoint[];
  /** How long the sockets may take to appear; default the lab's READY_TIMEOUT_MS (slow starters: MariaDB). */
  readyTimeoutMs?: number;
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

export function existsExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The interpreter Debian ships: a pyenv shim would add a bash parent and change the process name. */
export const PYTHON = existsExecutable("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
