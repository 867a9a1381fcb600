/**
 * redis-server on listen:6379 from the command line (no config file, so nothing of /etc/redis is
 * read): no persistence (`save ""`, no AOF), its working directory in the lab's temp dir.
 * `access` picks what a client on another host gets: `open` (no password, protected mode off),
 * `protected` (no password, protected mode on: non-loopback clients get -DENIED) or `password`.
 */
import { type DaemonPlan, oneLine } from "./plan.js";

export type RedisAccess = "open" | "protected" | "password";

export interface RedisSpec {
  kind: "redis";
  name: string;
  /** One address of the namespace. */
  listen: string;
  /** Default 6379. */
  port?: number;
  /** Default "open". */
  access?: RedisAccess;
}

/** The password of `access: "password"`: the test never logs in, it only needs one to be set. */
export const REDIS_PASSWORD = "moat-lab-redis";

export function redisPlan(spec: RedisSpec, dir: string): DaemonPlan {
  const listen = oneLine(spec.listen, spec.name);
  const port = spec.port ?? 6379;
  const access = spec.access ?? "open";
  const argv = ["redis-server", "--bind", listen, "--port", String(port), "--dir", dir];
  argv.push("--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "");
  // Redis 7 applies protected mode to every non-loopback client when the default user has no password.
  argv.push("--protected-mode", access === "protected" ? "yes" : "no");
  if (access === "password") argv.push("--requirepass", REDIS_PASSWORD);
  return { argv, endpoints: [{ protocol: "tcp", address: listen, port }] };
}
