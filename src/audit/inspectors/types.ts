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
 * exactly is wrong. One file per service; adding one is a new file and a line in the registry.
 */
export interface Inspector {
  serviceId: string;
  reasons(context: InspectionContext): string[];
}
