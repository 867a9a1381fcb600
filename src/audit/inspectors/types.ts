import type { Socket } from "../../host/types.js";
import type { BindScope } from "../../net/address.js";

/** What an inspector may look at: the socket, its owner's command line and the owner's other sockets. */
export interface InspectionContext {
  socket: Socket;
  scope: BindScope;
  exposed: boolean;
  /** Command line of the owning process; null when the source cannot tell (ss import, not root). */
  cmdline: string | null;
  /** Every socket of the same process (same pid and namespace), this one included. */
  siblings: Socket[];
}

/**
 * Service-specific care beyond the catalog's facts: reads the daemon's own options to say what
 * exactly is wrong. When a service has one, its reasons replace the generic scope and risk sentences
 * (they say the same things, more precisely). One file per service, one line in the registry.
 */
export interface Inspector {
  serviceId: string;
  reasons(context: InspectionContext): string[];
}
