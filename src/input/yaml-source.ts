/**
 * A YAML (or JSON: YAML 1.2 reads it too) document kept together with its line numbers, so that
 * any problem found later in the plain data can be pointed at: `placeOf(["rules", 3, "source"])`.
 * The service catalog, filter files and preset files all go through it.
 */
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { InputError } from "../errors.js";

export type PathKey = string | number;

/** Moat's YAML files need no aliases; the cap stops "billion laughs" alias expansion. */
const MAX_ALIASES = 100;

export interface YamlSource {
  file: string;
  data: unknown;
  /** Line and column of the node at `path`, or of its closest existing ancestor. */
  placeOf(path: readonly PathKey[], focusKey?: string): { line: number; column?: number };
}

export function readYamlSource(text: string, file: string, what: string): YamlSource {
  const lang = /^\s*[[{]/.test(text) ? "JSON" : "YAML";
  if (text.trim() === "") throw new InputError(`the ${what} is empty`, { file, line: 1 });
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    throw new InputError(`invalid ${lang}: ${messageOf(error)}`, { file, line: 1 });
  }
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    // The library appends " at line L, column C:" and an excerpt; the place already says where.
    const summary = (error.message.split("\n")[0] ?? error.message).replace(
      / at line \d+, column \d+:?$/,
      "",
    );
    throw new InputError(`invalid ${lang}: ${summary}`, {
      file,
      line: pos?.line ?? 1,
      ...(pos ? { column: pos.col } : {}),
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    throw new InputError(`invalid ${lang}: ${messageOf(error)}`, { file, line: 1 });
  }
  return {
    file,
    data,
    placeOf: (path, focusKey) => placeOf(doc, lines, path, focusKey),
  };
}

/** Throws an InputError for `path` in `source`. */
export function failAt(source: YamlSource, path: readonly PathKey[], message: string): never {
  throw new InputError(message, { file: source.file, ...source.placeOf(path), path: formatPath(path) });
}

/** rules[3].destinationPort */
export function formatPath(path: readonly PathKey[]): string {
  let text = "";
  for (const key of path) text += typeof key === "number" ? `[${key}]` : text === "" ? key : `.${key}`;
  return text === "" ? "(top level)" : text;
}

/** The first zod issue as an InputError with line and path; an unknown field goes first (it explains the rest). */
export function schemaError(
  source: YamlSource,
  issues: readonly z.core.$ZodIssue[],
  base: PathKey[] = [],
  /** Says which known field an unknown one probably meant: " (did you mean destinationPort?)". */
  suggest: (key: string) => string | undefined = () => undefined,
): InputError {
  const issue = issues.find((i) => i.code === "unrecognized_keys") ?? issues[0]!;
  const path = [...base, ...issue.path.filter((k): k is PathKey => typeof k !== "symbol")];
  const focus = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  const shown = focus === undefined ? path : [...path, focus];
  const more =
    issues.length > 1
      ? ` (${issues.length - 1} more problem${issues.length > 2 ? "s" : ""} after this one)`
      : "";
  return new InputError(`${describeIssue(issue, valueAt(source.data, path), suggest)}${more}`, {
    file: source.file,
    ...source.placeOf(path, focus),
    path: formatPath(shown),
  });
}

function describeIssue(
  issue: z.core.$ZodIssue,
  value: unknown,
  suggest: (key: string) => string | undefined,
): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return `a required field is missing (expected ${issue.expected})`;
      return `expected ${issue.expected}, found ${kindOf(value)}`;
    case "invalid_value": {
      const choices = issue.values.map((v) => String(v)).join(", ");
      if (value === undefined) return `a required field is missing; use one of: ${choices}`;
      return `${JSON.stringify(value) ?? String(value)} is not allowed; use one of: ${choices}`;
    }
    case "too_small":
      if (issue.origin === "array")
        return `needs at least ${issue.minimum} item${issue.minimum === 1 ? "" : "s"}`;
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${issue.minimum}`;
    case "invalid_format":
      if (issue.format === "url") return `${JSON.stringify(value)} is not a valid URL`;
      return `${JSON.stringify(value)}: ${issue.message}`;
    case "unrecognized_keys": {
      const hint = issue.keys[0] === undefined ? undefined : suggest(issue.keys[0]);
      return `unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")}${hint === undefined ? "" : `; did you mean ${hint}?`}`;
    }
    default:
      return typeof value === "string" ? `${JSON.stringify(value)}: ${issue.message}` : issue.message;
  }
}

export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "nothing (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(data: unknown, path: readonly PathKey[]): unknown {
  let here: unknown = data;
  for (const key of path) {
    if (here === null || typeof here !== "object") return undefined;
    here = (here as Record<PathKey, unknown>)[key];
  }
  return here;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.message) : String(error);
}

function placeOf(
  doc: Document.Parsed,
  lines: LineCounter,
  path: readonly PathKey[],
  focusKey?: string,
): { line: number; column?: number } {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const key of path) {
    const next = childOf(node, key, false);
    if (next === undefined) break;
    node = next.node;
    offset = next.offset ?? offset;
  }
  if (focusKey !== undefined) offset = childOf(node, focusKey, true)?.offset ?? offset;
  // No node to point at (a document of only comments): the problem is the file as a whole.
  if (offset === undefined) return { line: 1 };
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** The child at `key` and where it starts: the key itself when asked or when the value is empty. */
function childOf(
  node: unknown,
  key: PathKey,
  atKey: boolean,
): { node: unknown; offset: number | undefined } | undefined {
  if (isSeq(node) && typeof key === "number") {
    const item = node.items[key];
    return item === undefined ? undefined : { node: item, offset: rangeStart(item) };
  }
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    if (!pair) return undefined;
    const keyStart = rangeStart(pair.key);
    return { node: pair.value, offset: atKey ? keyStart : (rangeStart(pair.value) ?? keyStart) };
  }
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== "object" || !("range" in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}

/** The known field an unknown key was probably meant to be: same letters ignoring case and
 * punctuation ("rhel_file" -> rhelFile), or at most two edits away ("scoop" -> scope). */
export function closestField(key: string, known: readonly string[]): string | undefined {
  const plain = key.toLowerCase().replace(/[^a-z0-9]/g, "");
  return (
    known.find((field) => field.toLowerCase() === plain) ??
    known.find((field) => withinTwoEdits(field.toLowerCase(), plain))
  );
}

function withinTwoEdits(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]! <= 2;
}
