/**
 * Samba's smbd on listen:445 with its own smb.conf in the lab's temp dir (`--configfile`: nothing of
 * /etc/samba is read) and every state, lock, cache, pid and log dir there too. Bound to the lab
 * address only (`bind interfaces only`), no NetBIOS (no 139, no nmbd), one read-only share.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonPlan, oneLine } from "./plan.js";

export interface SmbdSpec {
  kind: "smbd";
  name: string;
  /** One address of the namespace; port 445. */
  listen: string;
  /** `server max protocol`, e.g. "SMB2_10"; default Samba's own (SMB3_11). */
  maxProtocol?: string;
  /** `server signing`; default Samba's own ("default": enabled, not required, for a standalone server). */
  signing?: "mandatory" | "auto" | "disabled";
}

const DIRS = ["state", "lock", "cache", "pid", "private", "ncalrpc", "binddns", "log", "share"] as const;

export function smbdPlan(spec: SmbdSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const at = (sub: (typeof DIRS)[number]) => join(dir, sub);
  for (const sub of DIRS) mkdirSync(at(sub), { recursive: true });
  const global: Array<[string, string]> = [
    ["interfaces", listen],
    ["bind interfaces only", "yes"],
    ["smb ports", "445"],
    ["disable netbios", "yes"],
    ["server role", "standalone server"],
    ["state directory", at("state")],
    ["lock directory", at("lock")],
    ["cache directory", at("cache")],
    ["pid directory", at("pid")],
    ["private dir", at("private")],
    ["ncalrpc dir", at("ncalrpc")],
    ["binddns dir", at("binddns")],
    ["log file", join(at("log"), "smbd.log")],
    ["usershare path", ""],
    ["load printers", "no"],
    ["printcap name", "/dev/null"],
    ["disable spoolss", "yes"],
  ];
  if (spec.maxProtocol !== undefined)
    global.push(["server max protocol", oneLine(spec.maxProtocol, spec.name)]);
  if (spec.signing !== undefined) global.push(["server signing", spec.signing]);
  const text = [
    "[global]",
    ...global.map(([k, v]) => `  ${k} = ${v}`),
    "[lab]",
    `  path = ${at("share")}`,
    "  read only = yes",
    "",
  ];
  const conf = join(dir, "smb.conf");
  writeFileSync(conf, text.join("\n"));
  return {
    argv: ["smbd", "--foreground", "--no-process-group", "--debug-stdout", `--configfile=${conf}`],
    endpoints: [{ protocol: "tcp", address: listen, port: 445 }],
  };
}
