/**
 * Filter presets: data files in catalog/presets/, one per preset, each declaring its parameters
 * (`${admin}`) at the top and a filter below. Instantiating one substitutes the values the user
 * gave with `--set NAME=VALUE`, expands generated rules (the catalog's reflector ports) and checks
 * the result with the same code that reads filter files.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { loadCatalog } from "../catalog/load.js";
import type { Catalog } from "../catalog/types.js";
import { InputError } from "../errors.js";
import { failAt, type PathKey, readYamlSource, schemaError, type YamlSource } from "../input/yaml-source.js";
import { parseCidrResult } from "../net/cidr.js";
import { buildFilter } from "./load.js";
import { reflectorRules } from "./preset-generators.js";
import type { Filter } from "./types.js";

export const PRESETS_DIR = fileURLToPath(new URL("../../catalog/presets/", import.meta.url));

const ParameterShape = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, "a parameter name is lower-case letters, digits and dashes"),
  description: z.string().min(1),
  required: z.boolean(),
  example: z.string().min(1),
});

const PresetShape = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, "a preset name is lower-case letters, digits and dashes"),
  description: z.string().min(1),
  parameters: z.array(ParameterShape),
  filter: z.record(z.string(), z.unknown()),
});

export type PresetParameter = z.infer<typeof ParameterShape>;

export interface PresetInfo {
  name: string;
  description: string;
  parameters: PresetParameter[];
  file: string;
}

interface PresetFile extends PresetInfo {
  source: YamlSource;
  filterData: Record<string, unknown>;
}

export interface PresetOptions {
  /** For block-reflectors; the bundled catalog when absent. */
  catalog?: Catalog;
  dir?: string;
}

/** Every preset, by name. */
export function listPresets(dir = PRESETS_DIR): PresetInfo[] {
  return presetFiles(dir).map((file) => {
    const { name, description, parameters } = readPreset(file);
    return { name, description, parameters, file };
  });
}

/**
 * The preset's filter with `params` filled in. Unknown presets and parameters, missing required
 * parameters and values that are not addresses are InputErrors that say what to add.
 */
export async function instantiatePreset(
  name: string,
  params: Record<string, string>,
  options: PresetOptions = {},
): Promise<Filter> {
  const dir = options.dir ?? PRESETS_DIR;
  const files = presetFiles(dir);
  const file = files.find((f) => f.endsWith(`/${name}.yaml`));
  if (file === undefined) {
    const known = files.map((f) => f.slice(f.lastIndexOf("/") + 1, -".yaml".length)).join(", ");
    throw new InputError(`there is no preset "${name}"; the presets are: ${known} (see moat filter presets)`);
  }
  const preset = readPreset(file);
  const values = checkParams(preset, params);
  const { rules, origins } = await expandRules(preset, values, options);
  const data = { name: preset.name, ...preset.filterData, rules };
  // Errors in the expanded data point at the preset file's own lines, generated rules at their generator.
  const source: YamlSource = {
    ...preset.source,
    placeOf: (path, focus) => preset.source.placeOf(remapRulePath(path, origins), focus),
  };
  return buildFilter(data, source, ["filter"], false);
}

function presetFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new InputError(`cannot read the presets directory (${(error as NodeJS.ErrnoException).code})`, {
      file: dir,
    });
  }
  return names
    .filter((n) => n.endsWith(".yaml"))
    .sort()
    .map((n) => `${dir.replace(/\/$/, "")}/${n}`);
}

function readPreset(file: string): PresetFile {
  const source = readYamlSource(readFileSync(file, "utf8"), file, "preset file");
  const parsed = PresetShape.safeParse(source.data);
  if (!parsed.success) throw schemaError(source, parsed.error.issues);
  const preset = parsed.data;
  const expected = file.slice(file.lastIndexOf("/") + 1, -".yaml".length);
  if (preset.name !== expected)
    failAt(source, ["name"], `the preset in ${expected}.yaml must be named "${expected}"`);
  preset.parameters.forEach((p, i) => {
    const example = parseValue(p.example);
    if (typeof example === "string") failAt(source, ["parameters", i, "example"], example);
  });
  return { ...preset, file, source, filterData: preset.filter };
}

/** Each given value parsed into the list of networks it names; checks names against the declaration. */
function checkParams(preset: PresetFile, params: Record<string, string>): Map<string, string[]> {
  const declared = new Map(preset.parameters.map((p) => [p.name, p]));
  for (const key of Object.keys(params)) {
    if (!declared.has(key)) {
      const names = preset.parameters.map((p) => p.name);
      const known = names.length === 0 ? "it takes no parameters" : `its parameters are: ${names.join(", ")}`;
      throw new InputError(`preset "${preset.name}" has no parameter "${key}"; ${known}`);
    }
  }
  const values = new Map<string, string[]>();
  for (const p of preset.parameters) {
    const given = params[p.name];
    if (given === undefined) {
      if (p.required)
        throw new InputError(
          `preset "${preset.name}" needs the parameter "${p.name}", ${p.description}; add --set ${p.name}=${p.example}`,
        );
      continue;
    }
    const parsed = parseValue(given);
    if (typeof parsed === "string") throw new InputError(`--set ${p.name}=${given}: ${parsed}`);
    values.set(p.name, parsed);
  }
  return values;
}

/** "203.0.113.0/24,198.51.100.7" -> canonical texts, or the error message. */
function parseValue(text: string): string[] | string {
  const items = text.split(",").map((s) => s.trim());
  const out: string[] = [];
  for (const item of items) {
    const cidr = parseCidrResult(item);
    if (!cidr.ok) return cidr.message;
    out.push(item);
  }
  return out;
}

/**
 * The preset's rules with parameters substituted and generators expanded. A rule that uses an
 * optional parameter the user did not set is left out. `origins[i]` is the preset-file index that
 * produced rule i.
 */
async function expandRules(
  preset: PresetFile,
  values: Map<string, string[]>,
  options: PresetOptions,
): Promise<{ rules: unknown[]; origins: number[] }> {
  const raw = preset.filterData.rules;
  if (!Array.isArray(raw)) return { rules: raw === undefined ? [] : [raw], origins: [0] };
  const rules: unknown[] = [];
  const origins: number[] = [];
  const declared = new Set(preset.parameters.map((p) => p.name));
  for (const [index, rule] of raw.entries()) {
    const path: PathKey[] = ["filter", "rules", index];
    if (isRecord(rule) && "generate" in rule) {
      for (const generated of await generate(rule, preset, path, options)) {
        rules.push(generated);
        origins.push(index);
      }
      continue;
    }
    const substituted = substitute(rule, values, declared, preset.source, path);
    if (substituted === SKIP) continue;
    rules.push(substituted);
    origins.push(index);
  }
  return { rules, origins };
}

const SKIP = Symbol("skip");

/** Replaces `${name}` in every string of a rule; a whole-string reference becomes the value list. */
function substitute(
  value: unknown,
  values: Map<string, string[]>,
  declared: Set<string>,
  source: YamlSource,
  path: PathKey[],
): unknown {
  if (typeof value === "string") {
    let missing = false;
    const refs = [...value.matchAll(/\$\{([^}]*)\}/g)];
    for (const ref of refs) {
      const name = ref[1]!;
      if (!declared.has(name))
        failAt(source, path, `"\${${name}}" is not a declared parameter of this preset`);
      if (!values.has(name)) missing = true;
    }
    if (missing) return SKIP;
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole) {
      const list = values.get(whole[1]!)!;
      return list.length === 1 ? list[0] : list;
    }
    return value.replace(/\$\{([^}]*)\}/g, (_, name: string) => values.get(name)!.join(", "));
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const [i, item] of value.entries()) {
      const s = substitute(item, values, declared, source, [...path, i]);
      if (s === SKIP) return SKIP;
      out.push(s);
    }
    return out;
  }
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const s = substitute(item, values, declared, source, [...path, key]);
      if (s === SKIP) return SKIP;
      out[key] = s;
    }
    return out;
  }
  return value;
}

const GeneratorShape = z.strictObject({
  generate: z.enum(["catalog-reflectors"]),
  action: z.enum(["allow", "deny"]),
});

async function generate(
  rule: Record<string, unknown>,
  preset: PresetFile,
  path: PathKey[],
  options: PresetOptions,
): Promise<unknown[]> {
  const parsed = GeneratorShape.safeParse(rule);
  if (!parsed.success) throw schemaError(preset.source, parsed.error.issues, path);
  // `await` copes with a catalog loader that is synchronous or asynchronous.
  const catalog = options.catalog ?? (await loadCatalog());
  return reflectorRules(catalog, parsed.data.action);
}

/** ["filter", "rules", 7, ...] in the expanded list -> the index of the preset rule it came from. */
function remapRulePath(path: readonly PathKey[], origins: readonly number[]): PathKey[] {
  if (path[0] !== "filter" || path[1] !== "rules" || typeof path[2] !== "number") return [...path];
  const origin = origins[path[2]];
  return origin === undefined ? ["filter", "rules"] : ["filter", "rules", origin, ...path.slice(3)];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
