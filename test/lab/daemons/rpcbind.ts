/**
 * rpcbind (portmap, program 100000) on 111. It keeps its lock file and unix socket at fixed paths in
 * /run (/run/rpcbind.lock, /run/rpcbind.sock, /run/rpcbind/), so two labs, or a lab and the host's
 * own rpcbind, would collide: each copy gets a private mount namespace with a tmpfs over /run.
 */
import { type DaemonPlan, isV6 } from "./plan.js";

export interface RpcbindSpec {
  kind: "rpcbind";
  name: string;
  /** UDP is bound to this address (`-h`, plus loopback); rpcbind binds TCP to the wildcard regardless. */
  listen: string;
}

const SETUP = [
  "mount -t tmpfs -o mode=755 moat-rpcbind /run",
  "mkdir /run/rpcbind",
  // Debian's rpcbind drops to _rpc after binding and then writes its state there.
  "chown _rpc /run/rpcbind",
  'exec rpcbind -f -h "$0"',
].join(" && ");

export function rpcbindPlan(spec: RpcbindSpec): DaemonPlan {
  return {
    // unshare execs in place (no --fork), then sh execs rpcbind: the pid the lab holds is rpcbind's.
    argv: ["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP, spec.listen],
    endpoints: [
      { protocol: "udp", address: spec.listen, port: 111 },
      { protocol: "tcp", address: isV6(spec.listen) ? "::" : "0.0.0.0", port: 111 },
    ],
  };
}
