/** The sentences that explain a finding: where it listens, what its service is for, what it risks. */
import type { Service } from "../catalog/schema.js";
import type { Socket } from "../host/types.js";
import type { BindScope } from "../net/address.js";
import type { FindingRisk } from "./types.js";

export function scopeReason(socket: Socket, scope: BindScope): string {
  const at = socket.device ? `${socket.address} on ${socket.device}` : socket.address;
  switch (scope) {
    case "all":
      return socket.family === "ipv6"
        ? `It listens on all IPv6 addresses (${socket.address}), and on Linux on all IPv4 addresses too unless the program sets IPV6_V6ONLY.`
        : `It listens on all IPv4 addresses (${socket.address}), so every network this host is on can reach it.`;
    case "public":
      return `It is bound to the public address ${at}.`;
    case "private":
      return `It is bound to the private address ${at}: only that private network can reach it.`;
    case "loopback":
      return `It is bound to loopback (${at}): only this host can reach it.`;
    case "link-local":
      return `It is bound to the link-local address ${at}: only hosts on that link can reach it.`;
  }
}

const SCOPE_WORDS: Record<Service["scope"], string> = {
  public: "meant to be reachable from the internet",
  lan: "meant for a private network, not the internet",
  local: "meant for this host only",
};

export function intentReason(service: Service, exposed: boolean): string | null {
  if (!exposed || service.scope === "public") return null;
  return `${service.name} is ${SCOPE_WORDS[service.scope]}, but other networks can reach this socket.`;
}

function formatFactor(factor: number): string {
  return factor >= 100 ? Math.round(factor).toLocaleString("en-US") : String(factor);
}

export function riskReason(risk: FindingRisk): string {
  const factor =
    risk.amplification === undefined ? "" : ` (amplification up to ${formatFactor(risk.amplification)}x)`;
  return `${risk.summary}${factor}`;
}

export function unknownServiceReason(socket: Socket): string {
  return `No service Moat knows uses ${socket.port}/${socket.protocol}; check what it is and close it if it need not be public.`;
}
