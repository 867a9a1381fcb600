/**
 * The scan engine's two socket kinds, for tests that must pass on both: the native socket
 * (native/udp.c, built here when dist/ lacks it) and Node's dgram sockets (the fallback). A machine
 * that cannot build the addon fails loudly: a silent skip would leave native/udp.c untested.
 */
import { existsSync } from "node:fs";
import { ADDON, buildNative } from "../../../native/build.mjs";
import { loadAddon } from "../../../src/host/native.js";
import { type UdpAddon, udpAddon } from "../../../src/scan/udp-native.js";

export function testUdpAddon(): UdpAddon {
  const stale =
    existsSync(ADDON) && typeof (loadAddon(ADDON) as Partial<UdpAddon> | null)?.udpOpen !== "function";
  if (!existsSync(ADDON) || stale) {
    // A stale addon already loaded in this process stays loaded: build, then fail on it below.
    const failure = buildNative();
    if (failure !== null) throw new Error(`cannot build the native addon: ${failure}`);
  }
  const addon = udpAddon();
  if (addon === null)
    throw new Error(`${ADDON} has no UDP socket (MOAT_NATIVE=0, or built from older sources: npm run build)`);
  return addon;
}

/** Engine options for each socket kind, with a name for the test titles. */
export const SOCKET_KINDS = [
  { name: "native socket", native: true },
  { name: "dgram sockets", native: false },
] as const;
