/**
 * ntpd with monitoring queries allowed (no `noquery`, `enable monitor`). Debian 12 ships only NTPsec
 * (the `ntp` package is a transitional package to `ntpsec`), and NTPsec removed mode 7 entirely:
 * monlist gets no answer. Mode 6 (readvar, ntpq's protocol) does answer.
 *
 * It serves no time and syncs to nothing (no `server`, `disable ntp`, `disable kernel`), and runs
 * without CAP_SYS_TIME, so it cannot touch the host's clock, which no namespace isolates.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonPlan, endpoints, oneLine } from "./plan.js";

export interface NtpdSpec {
  kind: "ntpd";
  name: string;
  /** One address of the namespace; ntpd also always opens 127.0.0.1 and ::1. Port 123. */
  listen: string;
}

export function ntpdPlan(spec: NtpdSpec, dir: string): DaemonPlan {
  const lines = [
    // NTPsec 1.2.2 never answers mode 6 to a source that only the default (mask 0) entry matches,
    // whatever its flags; two /1 entries per family cover every source, i.e. an open ntpd.
    "restrict default",
    "restrict 0.0.0.0 mask 128.0.0.0 nomodify",
    "restrict 128.0.0.0 mask 128.0.0.0 nomodify",
    "restrict :: mask 8000:: nomodify",
    "restrict 8000:: mask 8000:: nomodify",
    "interface ignore wildcard",
    `interface listen ${oneLine(spec.listen, spec.name)}`,
    "enable monitor",
    "disable ntp",
    "disable kernel",
    `statsdir ${dir}/`,
  ];
  const conf = join(dir, "ntp.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  // setpriv drops CAP_SYS_TIME before exec: any clock adjustment fails with EPERM instead of acting.
  const drop = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"];
  return {
    argv: [...drop, "ntpd", "-n", "-c", conf, "-p", join(dir, "ntpd.pid")],
    endpoints: endpoints(["udp"], spec.listen, 123),
  };
}
