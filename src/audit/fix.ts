/** The fix steps of a finding: config changes from the catalog, then the commands that apply them. */
import type { ConfigChange, Service } from "../catalog/schema.js";

/** Fix steps that are shell commands start with one of these; renderers show them as commands. */
const COMMAND_PREFIXES = ["systemctl ", "sudo ", "ls ", "cat ", "ss "];

export function isCommand(step: string): boolean {
  return COMMAND_PREFIXES.some((prefix) => step.startsWith(prefix));
}

function configStep(change: ConfigChange): string {
  const where = change.rhelFile ? `${change.file} (RHEL: ${change.rhelFile})` : change.file;
  const value = change.value === "" ? "" : ` ${change.value}`;
  const note = change.note ? ` (${change.note})` : "";
  return `In ${where} set ${change.key}${value}${note}`;
}

function unitNames(service: Service | undefined, ownerUnit: string | null): string | null {
  // The unit the process really runs under beats the catalog's guess.
  if (ownerUnit?.endsWith(".service")) return ownerUnit;
  if (!service?.fix.unit) return null;
  return service.fix.rhelUnit ? `${service.fix.unit}   # RHEL: ${service.fix.rhelUnit}` : service.fix.unit;
}

export interface FixInput {
  service: Service | undefined;
  ownerUnit: string | null;
  ownerPid: number | null;
  /** The socket, for commands that find its owner: "11211/udp". */
  socket: { port: number; protocol: string };
  /** The service is meant to be public: offer no "disable it" step. */
  meantPublic: boolean;
}

export function fixSteps({ service, ownerUnit, ownerPid, socket, meantPublic }: FixInput): string[] {
  const steps: string[] = [];
  const unit = unitNames(service, ownerUnit);
  if (service) {
    steps.push(service.fix.summary);
    for (const change of service.fix.config) steps.push(configStep(change));
    if (unit) steps.push(`systemctl restart ${unit}`);
  } else if (ownerPid !== null) {
    steps.push("Find out what this program is and whether it must be reachable from other hosts.");
    steps.push(`ls -l /proc/${ownerPid}/exe`);
    steps.push(`cat /proc/${ownerPid}/cmdline | tr '\\0' ' '`);
  } else {
    steps.push("Find out which program owns it and whether it must be reachable from other hosts.");
    steps.push(`ss -${socket.protocol === "udp" ? "u" : "t"}lpn 'sport = :${socket.port}'`);
  }
  if (!meantPublic && unit) {
    steps.push("If nothing needs it, stop it and keep it from starting at boot:");
    steps.push(`systemctl disable --now ${unit}`);
  }
  return steps;
}
