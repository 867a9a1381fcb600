/**
 * Parses and validates catalog YAML. Every problem with the file becomes an InputError naming the
 * file, the line and the path of the bad value, so whoever edits the catalog is pointed at the exact
 * entry. Kept apart from load.ts because yaml and zod are most of moat's code by size: a command
 * whose catalog comes from the validated cache never loads them.
 */
import { closestField, failAt, readYamlSource, schemaError, type YamlSource } from "../input/yaml-source.js";
import { buildCatalog } from "./catalog.js";
import {
  CatalogSchema,
  ConfigChangeSchema,
  FixSchema,
  RiskSchema,
  type Service,
  ServiceSchema,
} from "./schema.js";
import type { Catalog } from "./types.js";

/** Parses and validates catalog text; `file` only names the source in error messages. */
export function parseCatalog(text: string, file: string): Catalog {
  return buildCatalog(parseServices(text, file));
}

export function parseServices(text: string, file: string): Service[] {
  const source = readYamlSource(text, file, "service catalog");
  const parsed = CatalogSchema.safeParse(source.data);
  if (!parsed.success) throw schemaError(source, parsed.error.issues, [], knownFieldLike);
  checkUniqueIds(parsed.data.services, source);
  return parsed.data.services;
}

const FIELDS = [ServiceSchema, RiskSchema, ConfigChangeSchema, FixSchema, CatalogSchema].flatMap((schema) =>
  Object.keys(schema.shape),
);

function knownFieldLike(key: string): string | undefined {
  return closestField(key, FIELDS);
}

function checkUniqueIds(services: readonly Service[], source: YamlSource): void {
  const seen = new Map<string, number>();
  services.forEach((service, index) => {
    const first = seen.get(service.id);
    if (first === undefined) {
      seen.set(service.id, index);
      return;
    }
    const firstLine = source.placeOf(["services", first, "id"]).line;
    failAt(
      source,
      ["services", index, "id"],
      `duplicate id "${service.id}": services[${first}] (line ${firstLine}) already uses it`,
    );
  });
}
