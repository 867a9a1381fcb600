/**
 * OpenSSH's sshd on listen:22 with its own config and a host key generated into the lab's temp dir
 * (`-f`, `-h`: nothing of /etc/ssh is read, the host's ssh service is never involved). sshd insists
 * on its privilege-separation directory /run/sshd, which exists only while the host's ssh service
 * runs: a private mount namespace binds the daemon's own dir over /run, so /run/sshd is the lab's
 * (empty, root-owned) and the host's /run is never written.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonPlan, isV6, oneLine } from "./plan.js";

export interface SshdSpec {
  kind: "sshd";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default 22. */
  port?: number;
}

export function sshdPlan(spec: SshdSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const port = spec.port ?? 22;
  mkdirSync(join(dir, "sshd"), { mode: 0o755 });
  const key = join(dir, "ssh_host_ed25519_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", key], {
    stdio: "ignore",
  });
  // Inside the mount namespace the dir is /run: every path sshd opens after that is under it.
  const lines = [
    `ListenAddress ${isV6(listen) ? `[${listen}]` : listen}:${port}`,
    "HostKey /run/ssh_host_ed25519_key",
    "PidFile /run/sshd.pid",
    "UsePAM no",
    "PermitRootLogin no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "MaxStartups 100",
  ];
  writeFileSync(join(dir, "sshd_config"), `${lines.join("\n")}\n`);
  const setup = `mount --bind "$0" /run && exec "$(command -v sshd)" -D -e -f /run/sshd_config`;
  return {
    // unshare and sh exec in place: the pid the lab holds is sshd's. sshd wants an absolute path.
    argv: ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, dir],
    endpoints: [{ protocol: "tcp", address: listen, port }],
  };
}
