/**
 * memcached, the February 2018 reflector: says separately whether UDP is on, whether it listens on
 * all addresses and whether SASL is off, each read from the sockets and the daemon's own options.
 */
import { scopeReason } from "../reasons.js";
import type { Inspector } from "./types.js";

/** memcached's short and long options, as `memcached -h` lists them. */
function hasFlag(argv: string[], short: string, long: string): boolean {
  return argv.some((arg) => arg === short || arg === long || arg.startsWith(`${long}=`));
}

export const memcachedInspector: Inspector = {
  serviceId: "memcached",
  reasons({ socket, scope, exposed, cmdline, siblings }) {
    if (!exposed) return [scopeReason(socket, scope)];
    const reasons =
      scope === "all"
        ? [
            `It listens on all addresses (${socket.address}) instead of 127.0.0.1, so any host that can reach this one can use it.`,
          ]
        : [scopeReason(socket, scope)];
    if (socket.protocol === "udp") {
      reasons.push(
        `UDP is on (${socket.port}/udp): anyone can use this server to reflect DDoS traffic at up to 51,000 times ` +
          "the size of their requests. memcached 1.5.6 and later keep UDP off unless -U is given.",
      );
    } else {
      const udp = siblings.find((s) => s.protocol === "udp");
      if (udp)
        reasons.push(
          `UDP is on too (${udp.port}/udp): see that finding; it makes this server a DDoS reflector.`,
        );
    }
    if (cmdline === null) {
      reasons.push(
        "Its command line is not known here (ss text, or not root), so whether SASL is on cannot be told: look for -S in its options.",
      );
    } else if (!hasFlag(cmdline.split(" "), "-S", "--enable-sasl")) {
      reasons.push(
        "SASL authentication is off (no -S): anyone who reaches it can read, change and flush the cache.",
      );
    }
    return reasons;
  },
};
