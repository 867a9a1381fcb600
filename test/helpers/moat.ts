/**
 * Runs the moat CLI as a user would, in a child process, so tests see real exit codes and streams.
 * Default is the TypeScript source through tsx; `built: true` runs dist/ (what users install).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI_SOURCE = `${REPO_ROOT}src/cli/main.ts`;
export const CLI_BUILT = `${REPO_ROOT}dist/cli/main.cjs`;

export interface RunMoatOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed; without it stdin is closed at once. */
  input?: string;
  /** Kills the CLI after this long; the result then has signal "SIGKILL". */
  timeoutMs?: number;
  built?: boolean;
  /** Run inside this network namespace (`ip netns exec`, which execs in place: the pid is moat's). */
  netns?: string;
}

export interface MoatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON; throws with both streams in the message when it is not JSON. */
  json<T = unknown>(): T;
  /** stdout parsed as JSON lines (`--json` of scan and alerts), the same way. */
  jsonLines<T = unknown>(): T[];
}

export function moatArgv(args: string[], built = false): string[] {
  return built ? [CLI_BUILT, ...args] : ["--import", "tsx", CLI_SOURCE, ...args];
}

export function runMoat(args: string[], opts: RunMoatOptions = {}): Promise<MoatResult> {
  return new Promise((resolve, reject) => {
    const node = [process.execPath, ...moatArgv(args, opts.built)];
    const argv = opts.netns === undefined ? node : ["ip", "netns", "exec", opts.netns, ...node];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? REPO_ROOT,
      // NO_COLOR: assertions read plain text, never escape codes.
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const parsed = <T>(parse: () => T): T => {
        try {
          return parse();
        } catch (error) {
          throw new Error(
            `moat ${args.join(" ")}: stdout is not JSON (${String(error)}); exit ${code}\n` +
              `--- stdout ---\n${stdout.slice(0, 2000)}\n--- stderr ---\n${stderr.slice(0, 2000)}`,
          );
        }
      };
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json<T>(): T {
          return parsed(() => JSON.parse(stdout) as T);
        },
        jsonLines<T>(): T[] {
          return parsed(() =>
            stdout
              .split("\n")
              .filter((line) => line.trim() !== "")
              .map((line) => JSON.parse(line) as T),
          );
        },
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}
