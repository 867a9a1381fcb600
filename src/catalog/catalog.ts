/**
 * The indexed catalog: port and process lookups are Map hits, because audit asks once per socket and
 * scan once per reply. Ranges are expanded at build time; the widest (X11, 64 ports) costs little.
 */
import type { Protocol } from "../host/types.js";
import { portSpecPattern } from "./port-spec.js";
import type { Service } from "./schema.js";
import type { Catalog } from "./types.js";

export interface PortRange {
  start: number;
  end: number;
  protocol: Protocol;
}

/** "6000-6063/tcp" -> {6000, 6063, tcp}. The schema has already checked the spec. */
export function parsePortSpec(spec: string): PortRange {
  const m = portSpecPattern.exec(spec);
  if (!m) throw new Error(`not a port spec: ${spec}`);
  const start = Number(m[1]);
  return { start, end: m[2] === undefined ? start : Number(m[2]), protocol: m[3] as Protocol };
}

/** One number per (protocol, port): cheaper to hash than a "tcp/80" string. */
function portKey(port: number, protocol: Protocol): number {
  return protocol === "tcp" ? port : 65536 + port;
}

/** What a lookup that finds nothing returns: one shared empty list, not a new one per socket. */
const NONE: readonly Service[] = [];

function push<K, V>(index: Map<K, V[]>, key: K, value: V): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

class IndexedCatalog implements Catalog {
  readonly services: readonly Service[];
  private readonly ids = new Map<string, Service>();
  private readonly ports = new Map<number, Service[]>();
  private readonly processes = new Map<string, Service[]>();

  constructor(services: readonly Service[]) {
    this.services = services;
    for (const service of services) {
      this.ids.set(service.id, service);
      for (const spec of service.ports) {
        const { start, end, protocol } = parsePortSpec(spec);
        for (let port = start; port <= end; port++) push(this.ports, portKey(port, protocol), service);
      }
      for (const name of service.processes) push(this.processes, name, service);
    }
  }

  byId(id: string): Service | undefined {
    return this.ids.get(id);
  }

  byPort(port: number, protocol: Protocol): readonly Service[] {
    return this.ports.get(portKey(port, protocol)) ?? NONE;
  }

  byProcess(name: string): readonly Service[] {
    return this.processes.get(name) ?? NONE;
  }

  identify(port: number, protocol: Protocol, processName?: string): Service | undefined {
    const onPort = this.byPort(port, protocol);
    if (processName !== undefined && processName !== "") {
      const named = onPort.find((service) => service.processes.includes(processName));
      if (named) return named;
      // A daemon moved to another port (redis-server on 7000) is still that daemon, as long as its
      // name is specific: "java" or "python3" serve many services and say nothing by themselves.
      const byName = this.byProcess(processName);
      if (byName.length === 1) return byName[0];
    }
    // Unknown owner, or one the catalog does not know: the port's first entry is the best guess.
    return onPort[0];
  }
}

export function buildCatalog(services: readonly Service[]): Catalog {
  return new IndexedCatalog(services);
}
