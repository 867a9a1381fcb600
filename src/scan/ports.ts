/**
 * Which ports to scan: `--ports 11211/udp,22/tcp,1-1024/tcp`, or a profile built from the catalog.
 * Every port names its protocol: a bare "53" would leave the user guessing which one was probed.
 */
import { portSpecPattern } from "../catalog/port-spec.js";
import type { Catalog } from "../catalog/types.js";
import { InputError } from "../errors.js";
import type { PortRange } from "../filter/types.js";
import type { Protocol } from "../host/types.js";
import { normalizePorts } from "../net/ports.js";

export const PROFILES = ["reflectors", "exposure", "all-catalog"] as const;
export type Profile = (typeof PROFILES)[number];

export interface PortSet {
  tcp: PortRange[];
  udp: PortRange[];
}

export const PROFILE_HELP: Record<Profile, string> = {
  reflectors: "UDP ports of every catalog service that can reflect traffic (memcached, NTP, DNS, ...)",
  exposure: "every port of the services meant for a LAN or this host only (databases, caches, admin)",
  "all-catalog": "every port the catalog knows",
};

function add(set: PortSet, spec: string): boolean {
  const m = portSpecPattern.exec(spec);
  if (!m) return false;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 1 || end > 65535 || start > end) return false;
  set[m[3] as Protocol].push({ start, end });
  return true;
}

function normalized(set: PortSet): PortSet {
  return { tcp: normalizePorts(set.tcp), udp: normalizePorts(set.udp) };
}

/** "11211/udp,22/tcp,1-1024/tcp" (spaces allowed after commas). */
export function parsePorts(text: string): PortSet {
  const set: PortSet = { tcp: [], udp: [] };
  const items = text.split(",").map((item) => item.trim());
  for (const item of items) {
    if (add(set, item.toLowerCase())) continue;
    if (/^\d+(-\d+)?$/.test(item))
      throw new InputError(`--ports: "${item}" needs a protocol: write ${item}/udp or ${item}/tcp`);
    throw new InputError(
      `--ports: "${item}" is not a port; write PORT/PROTO or START-END/PROTO with ports 1-65535, e.g. 11211/udp,1-1024/tcp`,
    );
  }
  return normalized(set);
}

/** A profile's ports, from the catalog: adding a service there adds it here. */
export function profilePorts(catalog: Catalog, profile: Profile): PortSet {
  const set: PortSet = { tcp: [], udp: [] };
  for (const service of catalog.services) {
    if (profile === "reflectors") {
      const reflection = service.risks.filter((r) => r.kind === "reflection");
      if (reflection.length === 0) continue;
      // Reflection needs UDP: a spoofed source cannot complete a TCP handshake.
      for (const spec of service.ports) if (spec.endsWith("/udp")) add(set, spec);
      continue;
    }
    if (profile === "exposure" && service.scope === "public") continue;
    for (const spec of service.ports) add(set, spec);
  }
  return normalized(set);
}

export function portCount(set: PortSet): number {
  let n = 0;
  for (const r of [...set.tcp, ...set.udp]) n += r.end - r.start + 1;
  return n;
}

export function* eachPort(ranges: readonly PortRange[]): Generator<number> {
  for (const r of ranges) for (let p = r.start; p <= r.end; p++) yield p;
}
