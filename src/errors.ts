/**
 * Errors that reach the user. The CLI maps each class to an exit code (see DESIGN.md, output contract):
 * InputError -> 2, EnvironmentError -> 3. Anything else is a bug and is reported as such.
 */

/** Where in an input a problem was found; every part optional because not every input has lines. */
export interface InputPlace {
  file: string;
  line?: number;
  column?: number;
  /** Byte offset, for binary inputs. */
  offset?: number;
  /** JSON path or YAML path, for structured inputs, e.g. "services[3].ports[0]". */
  path?: string;
}

export function formatPlace(place: InputPlace): string {
  let where = place.file;
  if (place.line !== undefined) where += `:${place.line}`;
  if (place.column !== undefined) where += `:${place.column}`;
  if (place.offset !== undefined) where += ` (byte ${place.offset})`;
  if (place.path !== undefined) where += ` at ${place.path}`;
  return where;
}

/** Bad input from the user: a file, a flag, a line of text. Exit code 2. */
export class InputError extends Error {
  readonly place: InputPlace | undefined;
  constructor(message: string, place?: InputPlace) {
    super(place ? `${formatPlace(place)}: ${message}` : message);
    this.name = "InputError";
    this.place = place;
  }
}

/** The machine lacks something: a privilege, a tool, a namespace. Exit code 3. `fix` tells what to do. */
export class EnvironmentError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(message);
    this.name = "EnvironmentError";
    this.fix = fix;
  }
}
