/** The scan lab's daemon kinds: lab.ts dispatches here for every kind but memcached and listener. */
import { type DnsmasqSpec, dnsmasqPlan } from "./dnsmasq.js";
import { type HttpSpec, httpPlan } from "./http.js";
import { type MariadbSpec, mariadbPlan } from "./mariadb.js";
import { type NtpdSpec, ntpdPlan } from "./ntpd.js";
import type { DaemonPlan } from "./plan.js";
import { type RedisSpec, redisPlan } from "./redis.js";
import { type RpcbindSpec, rpcbindPlan } from "./rpcbind.js";
import { type SmbdSpec, smbdPlan } from "./smbd.js";
import { type SnmpdSpec, snmpdPlan } from "./snmpd.js";
import { type SshdSpec, sshdPlan } from "./sshd.js";
import { type UnboundSpec, unboundPlan } from "./unbound.js";
import { type XinetdSpec, xinetdPlan } from "./xinetd.js";

export type { DaemonPlan } from "./plan.js";
export type {
  DnsmasqSpec,
  HttpSpec,
  MariadbSpec,
  NtpdSpec,
  RedisSpec,
  RpcbindSpec,
  SmbdSpec,
  SnmpdSpec,
  SshdSpec,
  UnboundSpec,
  XinetdSpec,
};

export type ScanDaemonSpec =
  | DnsmasqSpec
  | UnboundSpec
  | NtpdSpec
  | XinetdSpec
  | RpcbindSpec
  | SnmpdSpec
  | RedisSpec
  | MariadbSpec
  | SshdSpec
  | SmbdSpec
  | HttpSpec;
export type ScanDaemonKind = ScanDaemonSpec["kind"];

/** The executables each kind needs, besides ip and python3 (for the skip line). */
export const TOOLS: Record<ScanDaemonKind, string[]> = {
  dnsmasq: ["dnsmasq"],
  unbound: ["unbound"],
  ntpd: ["ntpd", "setpriv"],
  xinetd: ["xinetd"],
  rpcbind: ["rpcbind", "unshare"],
  snmpd: ["snmpd"],
  redis: ["redis-server"],
  mariadb: ["mariadb-install-db", "mariadbd"],
  sshd: ["sshd", "ssh-keygen", "unshare"],
  smbd: ["smbd"],
  http: [],
};

export function isScanDaemon(spec: { kind: string }): spec is ScanDaemonSpec {
  return Object.hasOwn(TOOLS, spec.kind);
}

/** Writes the kind's config files into `dir` (private to this daemon) and returns how to run it. */
export function planDaemon(spec: ScanDaemonSpec, dir: string): DaemonPlan {
  switch (spec.kind) {
    case "dnsmasq":
      return dnsmasqPlan(spec, dir);
    case "unbound":
      return unboundPlan(spec, dir);
    case "ntpd":
      return ntpdPlan(spec, dir);
    case "xinetd":
      return xinetdPlan(spec, dir);
    case "rpcbind":
      return rpcbindPlan(spec);
    case "snmpd":
      return snmpdPlan(spec, dir);
    case "redis":
      return redisPlan(spec, dir);
    case "mariadb":
      return mariadbPlan(spec, dir);
    case "sshd":
      return sshdPlan(spec, dir);
    case "smbd":
      return smbdPlan(spec, dir);
    case "http":
      return httpPlan(spec, dir);
  }
}
