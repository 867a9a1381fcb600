/**
 * Reads catalog/services.yaml into an indexed Catalog, through a cache of the validated data so
 * that the common case loads neither the YAML parser nor the schema library (see parse.ts).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import { buildCatalog } from "./catalog.js";
import type { Service } from "./schema.js";
import type { Catalog } from "./types.js";

/** src/catalog/load.ts and the bundle dist/cli/main.js both sit two levels below the repository root. */
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
  const cacheFile = cachePath(text);
  const cached = cacheFile === undefined ? undefined : readCache(cacheFile);
  if (cached) return buildCatalog(cached);
  const { parseServices } = await import("./parse.js");
  const services = parseServices(text, path);
  if (cacheFile !== undefined) writeCache(cacheFile, services);
  return buildCatalog(services);
}

/*
 * The validated-data cache. Parsing the YAML and compiling the zod schema cost 100-500 ms in a cold
 * process, every command reads the catalog, and the file changes only with a release: so the
 * validated services are kept as JSON, keyed by a hash of the catalog text and of the schema's
 * source (a schema change, e.g. a new default, must not reuse old data). Any cache failure just
 * falls back to parsing.
 */
const CACHE_FORMAT = "moat-catalog-cache-1";

function cachePath(text: string): string | undefined {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  if (process.env.MOAT_NO_CACHE || base === "") return undefined;
  const hash = createHash("sha256").update(CACHE_FORMAT).update(schemaSource()).update(text);
  return join(base, "moat", `catalog-${hash.digest("hex").slice(0, 32)}.json`);
}

/** schema.ts next to this module under tsx; in the bundle, the bundle itself (any rebuild changes it). */
function schemaSource(): string {
  for (const url of [new URL("./schema.ts", import.meta.url), new URL(import.meta.url)]) {
    try {
      const { mtimeMs, size } = statSync(url);
      return `${url.pathname}:${mtimeMs}:${size}`;
    } catch {
      // not there: try the next
    }
  }
  return "";
}

function readCache(file: string): Service[] | undefined {
  try {
    const data: unknown = JSON.parse(readFileSync(file, "utf8"));
    // Only this module writes these files, after validation; check the shape loosely.
    return Array.isArray(data) && data.length > 0 ? (data as Service[]) : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, services: readonly Service[]): void {
  try {
    mkdirSync(join(file, ".."), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(services));
    renameSync(temporary, file); // atomic: a concurrent reader sees the old file or the whole new one
  } catch {
    // A read-only or missing home directory only costs speed.
  }
}
