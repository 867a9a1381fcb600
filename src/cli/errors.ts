/** Turns what a command threw into a message on stderr and the exit code of the output contract. */
import { CommanderError } from "commander";
import { EnvironmentError, InputError } from "../errors.js";

export const EXIT = { ok: 0, findings: 1, input: 2, environment: 3, bug: 70 } as const;

export function reportError(error: unknown, write: (text: string) => void): number {
  if (error instanceof CommanderError) {
    // Commander already printed the usage problem; --help and --version end up here too.
    return error.exitCode === 0 ? EXIT.ok : EXIT.input;
  }
  if (error instanceof InputError) {
    write(`moat: ${error.message}\n`);
    return EXIT.input;
  }
  if (error instanceof EnvironmentError) {
    write(`moat: ${error.message}\n  fix: ${error.fix}\n`);
    return EXIT.environment;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  write(`moat: internal error (a bug in moat; please report it with this text):\n${detail}\n`);
  return EXIT.bug;
}
