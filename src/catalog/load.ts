/**
 * Reads catalog/services.yaml into an indexed Catalog, through a cache of the validated data so
 * that the common case loads neither the YAML parser nor the schema library (see parse.ts).
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import { buildCatalog } from "./catalog.js";
import type { Service } from "./schema.js";
import type { Catalog } from "./types.js";

/** src/catalog/load.ts and the bundle dist/cli/main.cjs both sit two levels below the repository root. */
export const DEFAULT_CATALOG_PATH = fileURLToPath(new URL("../../catalog/services.yaml", import.meta.url));

let defaultCatalog: Catalog | undefined;

/** The catalog at `path`, or the bundled one (read once, then cached: every command needs it). */
export async function loadCatalog(path?: string): Promise<Catalog> {
  if (path !== undefined) return readCatalog(path);
  defaultCatalog ??= await readCatalog(DEFAULT_CATALOG_PATH);
  return defaultCatalog;
}

async function readCatalog(path: string): Promise<Catalog> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InputError(`cannot read the service catalog: ${reason}`, { file: path });
  }
  const cacheFile = cachePath(path);
  const cached = cacheFile === undefined ? undefined : readCache(cacheFile, text);
  if (cached) return buildCatalog(cached);
  const { parseServices } = await import("./parse.js");
  const services = parseServices(text, path);
  if (cacheFile !== undefined) writeCache(cacheFile, text, services);
  return buildCatalog(services);
}

/*
 * The validated-data cache. Parsing the YAML and compiling the zod schema cost 100-500 ms in a cold
 * process, every command reads the catalog, and the file changes only with a release: so the
 * validated services are kept as JSON, one file per catalog path (and schema file), with the text
 * they came from and the schema's version (a schema change, e.g. a new default, must not reuse old
 * data); they are used only when both are the same now. Comparing the text instead of hashing it
 * keeps node:crypto (~15 M instructions to load and seed) out of every start. Any cache failure
 * just falls back to parsing.
 */
const CACHE_FORMAT = "moat-catalog-cache-2";

interface CacheFile {
  format: string;
  schema: string;
  text: string;
  services: Service[];
}

function cachePath(path: string): string | undefined {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  if (process.env.MOAT_NO_CACHE || base === "") return undefined;
  // The schema's file in the name as well: the sources (tsx) and the bundle keep files of their own
  // instead of overwriting each other's, and a rebuild reuses the bundle's (the content decides).
  return join(base, "moat", `catalog-${fnv1a(`${path}\0${schemaSource().file}`)}.json`);
}

/** A short name for a text; two texts with one name only take turns in the cache (its content is checked). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, "0");
}

let schema: { file: string; version: string } | undefined;

/**
 * schema.ts next to this module under tsx; in the bundle, the bundle file itself. `version` changes
 * with any edit or rebuild of it.
 */
function schemaSource(): { file: string; version: string } {
  schema ??= findSchema();
  return schema;
}

function findSchema(): { file: string; version: string } {
  for (const url of [new URL("./schema.ts", import.meta.url), new URL(import.meta.url)]) {
    try {
      const { mtimeMs, size } = statSync(url);
      return { file: url.pathname, version: `${url.pathname}:${mtimeMs}:${size}` };
    } catch {
      // not there: try the next
    }
  }
  return { file: "", version: "" };
}

function readCache(file: string, text: string): Service[] | undefined {
  try {
    const data = JSON.parse(readFileSync(file, "utf8")) as Partial<CacheFile> | null;
    // Only this module writes these files, after validation; check the shape loosely.
    if (data?.format !== CACHE_FORMAT || data.text !== text || data.schema !== schemaSource().version)
      return undefined;
    return Array.isArray(data.services) && data.services.length > 0 ? data.services : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, text: string, services: readonly Service[]): void {
  try {
    mkdirSync(join(file, ".."), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    const data: CacheFile = {
      format: CACHE_FORMAT,
      schema: schemaSource().version,
      text,
      services: [...services],
    };
    writeFileSync(temporary, JSON.stringify(data));
    renameSync(temporary, file); // atomic: a concurrent reader sees the old file or the whole new one
  } catch {
    // A read-only or missing home directory only costs speed.
  }
}
