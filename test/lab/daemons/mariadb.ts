/**
 * MariaDB on listen:3306 from a throwaway datadir that mariadb-install-db creates in the lab's temp
 * dir just before the server starts (`--no-defaults`: nothing of /etc/mysql is read). Socket, pid
 * and temp files (the install's included) stay in that dir too. `grantTables: false` (default) runs it with
 * --skip-grant-tables, so any client gets the handshake; with the grant tables a client from another
 * host matches no account (only root@localhost exists) and gets ERR 1130 before any handshake.
 */
import { join } from "node:path";
import { type DaemonPlan, oneLine } from "./plan.js";

export interface MariadbSpec {
  kind: "mariadb";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default 3306. */
  port?: number;
  /** Default false: --skip-grant-tables. */
  grantTables?: boolean;
}

/** Small InnoDB files: the default 100 MiB redo log would land in /run, a tmpfs on most machines. */
const SMALL = [
  "--innodb-log-file-size=4M",
  "--innodb-buffer-pool-size=16M",
  "--innodb-data-file-path=ibdata1:4M:autoextend",
];

export function mariadbPlan(spec: MariadbSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const port = spec.port ?? 3306;
  const datadir = join(dir, "data");
  // Its own temp dir for the install too: the bootstrap server's temp tables went to /tmp, where a
  // run in CI once lost one ("Could not remove temporary table", install aborted).
  const install = [
    "mariadb-install-db",
    "--no-defaults",
    `--datadir=${datadir}`,
    `--tmpdir=${dir}`,
    "--user=root",
  ];
  install.push("--skip-test-db", "--auth-root-authentication-method=normal", ...SMALL);
  const server = ["mariadbd", "--no-defaults", "--user=root", `--datadir=${datadir}`, `--tmpdir=${dir}`];
  server.push(`--socket=${join(dir, "mysqld.sock")}`, `--pid-file=${join(dir, "mysqld.pid")}`);
  server.push(`--bind-address=${listen}`, `--port=${port}`, "--skip-name-resolve", ...SMALL);
  if (!spec.grantTables) server.push("--skip-grant-tables");
  // The install's chatter goes to a file; its failure (non-zero exit) still ends the start with stderr.
  const script = `"$0" "$@" > ${JSON.stringify(join(dir, "install.log"))} 2>&1 || { cat ${JSON.stringify(join(dir, "install.log"))} >&2; exit 1; }; exec ${server.map((a) => JSON.stringify(a)).join(" ")}`;
  return {
    // sh execs mariadbd in place once the datadir exists: the pid the lab holds is the server's.
    argv: ["sh", "-c", script, ...install],
    endpoints: [{ protocol: "tcp", address: listen, port }],
    readyTimeoutMs: 30_000,
  };
}
