/** Runs a snippet of TypeScript (an ES module) as user nobody, to test what moat does without root. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** stdout of `code` run by node + tsx as uid/gid 65534 (needs root to drop privileges with setpriv). */
export function runAsNobody(code: string): Promise<string> {
  const argv = ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath];
  argv.push("--import", "tsx", "--input-type=module", "-e", code);
  return new Promise((resolve, reject) =>
    execFile("setpriv", argv, { cwd: REPO_ROOT }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}
