/**
 * Parses and validates catalog YAML. Every problem with the file becomes an InputError naming the
 * file, the line and the path of the bad value, so whoever edits the catalog is pointed at the exact
 * entry. Kept apart from load.ts because yaml and zod are most of moat's code by size: a command
 * whose catalog comes from the validated cache never loads them.
 */
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { InputError } from "../errors.js";
import { buildCatalog } from "./catalog.js";
import { CatalogSchema, type Service } from "./schema.js";
import type { Catalog } from "./types.js";

/** A catalog this large needs no aliases; the cap stops "billion laughs" expansion. */
const MAX_ALIASES = 100;

type PathKey = string | number;
type Issue = z.core.$ZodIssue;

/** Parses and validates catalog text; `file` only names the source in error messages. */
export function parseCatalog(text: string, file: string): Catalog {
  return buildCatalog(parseServices(text, file));
}

export function parseServices(text: string, file: string): Service[] {
  const lines = new LineCounter();
  const doc = parseYaml(text, file, lines);
  const data = toPlain(doc, file);
  const parsed = CatalogSchema.safeParse(data);
  if (!parsed.success) throw schemaError(parsed.error.issues, data, doc, lines, file);
  checkUniqueIds(parsed.data.services, doc, lines, file);
  return parsed.data.services;
}

function parseYaml(text: string, file: string, lines: LineCounter): Document.Parsed {
  if (text.trim() === "") throw new InputError("the service catalog is empty", { file });
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    // The library appends " at line L, column C:" and a code excerpt; the place already says where.
    const summary = (error.message.split("\n")[0] ?? error.message).replace(
      / at line \d+, column \d+:?$/,
      "",
    );
    throw new InputError(`invalid YAML: ${summary}`, {
      file,
      ...(pos ? { line: pos.line, column: pos.col } : {}),
    });
  }
  return doc;
}

function toPlain(doc: Document.Parsed, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    // Alias loops or excessive alias expansion: the YAML parsed but cannot be turned into data.
    const reason = error instanceof Error ? error.message : String(error);
    throw new InputError(`invalid YAML: ${reason}`, { file });
  }
}

function schemaError(
  issues: readonly Issue[],
  data: unknown,
  doc: Document.Parsed,
  lines: LineCounter,
  file: string,
): InputError {
  const issue = pickIssue(issues);
  const path = issue.path.filter((k): k is PathKey => typeof k === "string" || typeof k === "number");
  const focus = issue.code === "unrecognized_keys" && issue.keys[0] !== undefined ? issue.keys[0] : undefined;
  const more =
    issues.length > 1
      ? ` (${issues.length - 1} more problem${issues.length > 2 ? "s" : ""} after this one)`
      : "";
  const shownPath = focus === undefined ? path : [...path, focus];
  return new InputError(`${describeIssue(issue, valueAt(data, path))}${more}`, {
    file,
    ...lineOf(doc, lines, path, focus),
    path: formatPath(shownPath),
  });
}

/**
 * The issue to show first. A misspelt field ("scoop") also makes the real one look missing; the
 * unknown field is the cause, so it goes first.
 */
function pickIssue(issues: readonly Issue[]): Issue {
  return issues.find((issue) => issue.code === "unrecognized_keys") ?? issues[0]!;
}

/** A sentence for a person editing the file, not zod's internal wording. */
function describeIssue(issue: Issue, value: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return `a required field is missing (expected ${issue.expected})`;
      return `expected ${issue.expected}, found ${kindOf(value)}`;
    case "invalid_value":
      if (value === undefined)
        return `a required field is missing; use one of: ${issue.values.map((v) => String(v)).join(", ")}`;
      return `${JSON.stringify(value) ?? String(value)} is not allowed; use one of: ${issue.values.map((v) => String(v)).join(", ")}`;
    case "too_small":
      if (issue.origin === "array")
        return `needs at least ${issue.minimum} item${issue.minimum === 1 ? "" : "s"}`;
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${issue.minimum}`;
    case "invalid_format":
      if (issue.format === "url") return `${JSON.stringify(value)} is not a valid URL`;
      return `${JSON.stringify(value)}: ${issue.message}`;
    case "custom":
      return typeof value === "string" ? `${JSON.stringify(value)}: ${issue.message}` : issue.message;
    case "unrecognized_keys":
      return `unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")}; check the spelling against src/catalog/schema.ts`;
    default:
      return issue.message;
  }
}

function kindOf(value: unknown): string {
  if (value === null) return "nothing (null)";
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

/** services[12].ports[0] */
export function formatPath(path: readonly PathKey[]): string {
  let text = "";
  for (const key of path) text += typeof key === "number" ? `[${key}]` : text === "" ? key : `.${key}`;
  return text === "" ? "(top level)" : text;
}

/**
 * The line of the YAML node at `path`, or of its closest existing ancestor when the path ends in a
 * missing field; `focus` names a key inside the node to point at (an unknown field).
 */
function lineOf(
  doc: Document.Parsed,
  lines: LineCounter,
  path: readonly PathKey[],
  focus?: string,
): { line?: number; column?: number } {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const key of path) {
    const next = childOf(node, key, false);
    if (next === undefined) return place(lines, offset);
    node = next.node;
    offset = next.offset ?? offset;
  }
  if (focus !== undefined) offset = childOf(node, focus, true)?.offset ?? offset;
  return place(lines, offset);
}

function place(lines: LineCounter, offset: number | undefined): { line?: number; column?: number } {
  // No node to point at (a document of only comments): the problem is the file as a whole.
  if (offset === undefined) return { line: 1 };
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** The child node at `key` and where it starts: the key itself when asked or when the value is empty. */
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

function checkUniqueIds(
  services: readonly Service[],
  doc: Document.Parsed,
  lines: LineCounter,
  file: string,
): void {
  const seen = new Map<string, number>();
  services.forEach((service, index) => {
    const first = seen.get(service.id);
    if (first === undefined) {
      seen.set(service.id, index);
      return;
    }
    const path = ["services", index, "id"];
    const firstLine = lineOf(doc, lines, ["services", first, "id"]).line;
    throw new InputError(
      `duplicate id "${service.id}": services[${first}]${firstLine === undefined ? "" : ` (line ${firstLine})`} already uses it`,
      { file, ...lineOf(doc, lines, path), path: formatPath(path) },
    );
  });
}
