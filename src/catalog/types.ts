import type { Protocol } from "../host/types.js";
import type { Service } from "./schema.js";

/** A loaded, validated catalog with indexes for the lookups audit, filter and scan need. */
export interface Catalog {
  readonly services: readonly Service[];
  byId(id: string): Service | undefined;
  /** Every service that uses this port and protocol (ranges included), in catalog order. */
  byPort(port: number, protocol: Protocol): readonly Service[];
  /** Every service whose `processes` names this process (exact comm match). */
  byProcess(name: string): readonly Service[];
  /**
   * The one service a socket most likely is: by port and protocol, disambiguated by process name
   * when several share a port (8080: Tomcat vs a Jenkins vs a proxy); when the process names a
   * service that has no entry for this port (redis-server on 7000), that service still wins.
   * Undefined when nothing fits.
   */
  identify(port: number, protocol: Protocol, processName?: string): Service | undefined;
}
