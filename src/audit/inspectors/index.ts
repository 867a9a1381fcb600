import { memcachedInspector } from "./memcached.js";
import type { Inspector } from "./types.js";

const INSPECTORS: readonly Inspector[] = [memcachedInspector];

export function inspectorFor(serviceId: string): Inspector | undefined {
  return INSPECTORS.find((inspector) => inspector.serviceId === serviceId);
}
