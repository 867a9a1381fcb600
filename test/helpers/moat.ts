/**
 * Runs the moat CLI as a user would, in a child process, so tests see real exit codes and streams.
 * Default is the TypeScript source through tsx; `built: true` runs dist/ (what users install).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI_SOURCE = `${REPO_ROOT}src/cli/main.ts`;
export const CLI_BUILT = `${REPO_ROOT}dist/cli/main.js`;

export interface RunMoatOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed; without it stdin is closed at once. */
  input?: string;
  /** Kills the CLI after this long; the result then has signal "SIGKILL". */
  timeoutMs?: number;
  built?: boolean;
}

export interface MoatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON; throws with both streams in the message when it is not JSON. */
  json<T = unknown>(): T;
}

export function moatArgv(args: string[], built = false): string[] {
  return built ? [CLI_BUILT, ...args] : ["--import", "tsx", CLI_SOURCE, ...args];
}

export function runMoat(args: string[], opts: RunMoatOptions = {}): Promise<MoatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, moatArgv(args, opts.built), {
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
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json<T>(): T {
          try {
            return JSON.parse(stdout) as T;
          } catch (error) {
            throw new Error(
              `moat ${args.join(" ")}: stdout is not JSON (${String(error)}); exit ${code}\n` +
                `--- stdout ---\n${stdout.slice(0, 2000)}\n--- stderr ---\n${stderr.slice(0, 2000)}`,
            );
          }
        },
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}
